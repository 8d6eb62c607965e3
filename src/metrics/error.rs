//! Why a metric could not be read: [`MetricError`], with a stable [`MetricError::reason`].
//!
//! Every variant names the source and the query ([`Target`]) and says what came back. Details are
//! plain strings, not wrapped errors, because one result is shared by every scaler that asked the same
//! query in the same interval (the error must be `Clone`), and because a backend's own error text is
//! scrubbed of secrets ([`MetricError::redact`]) before anyone sees it.

use std::fmt;

use crate::api::MetricType;

/// What is read where: the source type, the backend and the query, all safe to print.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// The source type.
    pub kind: MetricType,
    /// The backend, such as `http://prometheus:9090` or `redis:6379/0` (no credentials).
    pub backend: String,
    /// The query, such as ``query `sum(rate(x[1m]))` `` or ``key `jobs` ``.
    pub query: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}, {}", self.kind.as_str(), self.backend, self.query)
    }
}

/// Why one metric has no value this time.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum MetricError {
    /// The spec lacks something the source needs, or holds something it cannot use.
    #[error("{kind} metric: invalid source: {detail}")]
    InvalidSource {
        /// The source type.
        kind: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A Secret the spec refers to could not be read.
    #[error("secret {namespace}/{name} key `{key}`: {detail}")]
    Secret {
        /// The scaler's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The key inside the Secret.
        key: String,
        /// What went wrong (never the value).
        detail: String,
    },
    /// The backend could not be reached.
    #[error("{target}: backend unreachable: {detail}")]
    Unreachable {
        /// What was read where.
        target: Target,
        /// The transport error.
        detail: String,
    },
    /// The backend refused the credentials.
    #[error("{target}: authentication failed: {detail}")]
    Auth {
        /// What was read where.
        target: Target,
        /// What the backend said.
        detail: String,
    },
    /// No answer within `timeoutSeconds`.
    #[error("{target}: no answer within {seconds}s (timeoutSeconds)")]
    Timeout {
        /// What was read where.
        target: Target,
        /// The timeout in force.
        seconds: u32,
    },
    /// The backend answered with an error of its own.
    #[error("{target}: backend error: {detail}")]
    Backend {
        /// What was read where.
        target: Target,
        /// What the backend said.
        detail: String,
    },
    /// The reply could not be understood.
    #[error("{target}: unreadable reply: {detail}")]
    BadReply {
        /// What was read where.
        target: Target,
        /// What came back.
        detail: String,
    },
    /// The reply held no value (no data is not zero).
    #[error("{target}: no data: {detail}")]
    NoData {
        /// What was read where.
        target: Target,
        /// What came back.
        detail: String,
    },
    /// The reply held several values where one is expected.
    #[error("{target}: ambiguous reply: {detail}")]
    Ambiguous {
        /// What was read where.
        target: Target,
        /// What came back.
        detail: String,
    },
    /// The value is NaN, infinite, negative or not a number.
    #[error("{target}: invalid value: {detail}")]
    InvalidValue {
        /// What was read where.
        target: Target,
        /// What came back.
        detail: String,
    },
    /// This build of gscale lacks the source.
    #[error("{kind} metric: not supported by this build\nhint: build gscale with the `{feature}` feature")]
    Unsupported {
        /// The source type.
        kind: &'static str,
        /// The cargo feature that brings it.
        feature: &'static str,
    },
}

impl MetricError {
    /// A stable, CamelCase reason for Events, conditions and metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidSource { .. } => "InvalidSource",
            Self::Secret { .. } => "SecretUnavailable",
            Self::Unreachable { .. } => "BackendUnreachable",
            Self::Auth { .. } => "AuthFailed",
            Self::Timeout { .. } => "Timeout",
            Self::Backend { .. } => "BackendError",
            Self::BadReply { .. } => "BadReply",
            Self::NoData { .. } => "NoData",
            Self::Ambiguous { .. } => "AmbiguousReply",
            Self::InvalidValue { .. } => "InvalidValue",
            Self::Unsupported { .. } => "Unsupported",
        }
    }

    /// The target, where the error has one.
    pub fn target(&self) -> Option<&Target> {
        match self {
            Self::Unreachable { target, .. }
            | Self::Auth { target, .. }
            | Self::Timeout { target, .. }
            | Self::Backend { target, .. }
            | Self::BadReply { target, .. }
            | Self::NoData { target, .. }
            | Self::Ambiguous { target, .. }
            | Self::InvalidValue { target, .. } => Some(target),
            _ => None,
        }
    }

    /// Replace every occurrence of each secret in the free-text detail with `***`.
    pub fn redact(mut self, secrets: &[&str]) -> Self {
        let detail = match &mut self {
            Self::InvalidSource { detail, .. }
            | Self::Secret { detail, .. }
            | Self::Unreachable { detail, .. }
            | Self::Auth { detail, .. }
            | Self::Backend { detail, .. }
            | Self::BadReply { detail, .. }
            | Self::NoData { detail, .. }
            | Self::Ambiguous { detail, .. }
            | Self::InvalidValue { detail, .. } => detail,
            Self::Timeout { .. } | Self::Unsupported { .. } => return self,
        };
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            if detail.contains(secret) {
                *detail = detail.replace(secret, "***");
            }
        }
        self
    }
}

/// What a pure reply parser found wrong, before the caller attaches the [`Target`].
#[derive(Clone, Debug, PartialEq)]
pub enum Problem {
    /// The backend reported an error.
    Backend(String),
    /// The reply could not be understood.
    BadReply(String),
    /// The reply held no value.
    NoData(String),
    /// The reply held several values.
    Ambiguous(String),
    /// The value is NaN, infinite, negative or not a number.
    InvalidValue(String),
}

impl Problem {
    /// The error for this problem at `target`.
    pub fn at(self, target: &Target) -> MetricError {
        let target = target.clone();
        match self {
            Self::Backend(detail) => MetricError::Backend { target, detail },
            Self::BadReply(detail) => MetricError::BadReply { target, detail },
            Self::NoData(detail) => MetricError::NoData { target, detail },
            Self::Ambiguous(detail) => MetricError::Ambiguous { target, detail },
            Self::InvalidValue(detail) => MetricError::InvalidValue { target, detail },
        }
    }
}

/// At most `max` characters of a reply, for error messages.
pub(crate) fn snippet(text: &str, max: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target { kind: MetricType::Redis, backend: "127.0.0.1:6379/0".into(), query: "key `jobs`".into() }
    }

    #[test]
    fn messages_name_source_and_query() {
        let err = Problem::NoData("empty result".into()).at(&target());
        assert_eq!(err.to_string(), "redis 127.0.0.1:6379/0, key `jobs`: no data: empty result");
        assert_eq!(err.reason(), "NoData");
    }

    #[test]
    fn redact_hides_secrets() {
        let err = MetricError::Auth { target: target(), detail: "bad password hunter2 for hunter2".into() };
        let err = err.redact(&["hunter2", ""]);
        assert!(!err.to_string().contains("hunter2"));
        assert!(err.to_string().contains("***"));
    }

    #[test]
    fn snippet_cuts_long_text() {
        assert_eq!(snippet("  abc  ", 5), "abc");
        assert_eq!(snippet("abcdefgh", 3), "abc...");
    }
}
