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
    /// The reply was longer than the daemon's cap (`--max-metric-reply-bytes`); reading stopped there.
    #[error(
        "{target}: reply larger than {}\nhint: make the query return one number, or raise the cap with gscale run --max-metric-reply-bytes",
        bytes(*limit)
    )]
    TooLarge {
        /// What was read where.
        target: Target,
        /// The cap in force, in bytes.
        limit: u64,
    },
    /// Redirects went in a circle, too far, or somewhere gscale does not follow.
    #[error("{target}: {detail}\nhint: point the URL at where the backend answers")]
    Redirect {
        /// What was read where.
        target: Target,
        /// What the redirects did.
        detail: String,
    },
    /// The daemon's host policy does not let metric URLs reach this host.
    #[error("{target}: {detail}")]
    Denied {
        /// What was read where.
        target: Target,
        /// Which host, why, and the flag that allows it.
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
            Self::TooLarge { .. } => "ReplyTooLarge",
            Self::Redirect { .. } => "BadRedirect",
            Self::Denied { .. } => "HostDenied",
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
            | Self::InvalidValue { target, .. }
            | Self::TooLarge { target, .. }
            | Self::Redirect { target, .. }
            | Self::Denied { target, .. } => Some(target),
            _ => None,
        }
    }

    /// Replace every occurrence of each secret, and the value of every query-string token
    /// (`token=`, `api_key=`, `sig=`...), in the free-text detail with `***`.
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
            | Self::InvalidValue { detail, .. }
            | Self::Redirect { detail, .. }
            | Self::Denied { detail, .. } => detail,
            Self::Timeout { .. } | Self::Unsupported { .. } | Self::TooLarge { .. } => return self,
        };
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            if detail.contains(secret) {
                *detail = detail.replace(secret, "***");
            }
        }
        *detail = scrub_tokens(detail);
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

/// A byte count as people read caps: `1 MiB`, `512 KiB`, `100 bytes`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if n >= size && n.is_multiple_of(size) {
            return format!("{} {unit}", n / size);
        }
    }
    match UNITS.iter().find(|(size, _)| n >= *size) {
        Some((size, unit)) => format!("{:.1} {unit}", n as f64 / *size as f64),
        None => format!("{n} bytes"),
    }
}

/// Whether a query parameter or header-like key names a credential.
fn is_token_key(key: &str) -> bool {
    const EXACT: [&str; 10] = [
        "token",
        "access_token",
        "api_key",
        "apikey",
        "key",
        "password",
        "secret",
        "sig",
        "signature",
        "auth",
    ];
    const SUFFIXES: [&str; 8] =
        ["_token", "-token", "_key", "-key", "_secret", "-secret", "password", "apikey"];
    let key = key.to_ascii_lowercase();
    EXACT.contains(&key.as_str()) || SUFFIXES.iter().any(|suffix| key.ends_with(suffix))
}

/// `text` with the value of every `token=...` (and the other credential keys) replaced by `***`:
/// backends echo the URL they were asked, query string and all.
pub(crate) fn scrub_tokens(text: &str) -> String {
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let (before, after) = rest.split_at(eq);
        let key_start = before.rfind(|c: char| !is_key_char(c)).map_or(0, |at| at + 1);
        out.push_str(before);
        out.push('=');
        let after = &after[1..];
        if !is_token_key(&before[key_start..]) {
            rest = after;
            continue;
        }
        let (quote, value) = match after.chars().next() {
            Some(q @ ('"' | '\'' | '`')) => (Some(q), &after[1..]),
            _ => (None, after),
        };
        let end = match quote {
            Some(q) => value.find(q).unwrap_or(value.len()),
            None => {
                value.find(|c: char| c.is_whitespace() || "&#\"'`),;<>".contains(c)).unwrap_or(value.len())
            }
        };
        if let Some(q) = quote {
            out.push(q);
        }
        if end > 0 {
            out.push_str("***");
        }
        rest = &value[end..];
    }
    out.push_str(rest);
    out
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
    fn redact_hides_query_string_tokens() {
        let cases = [
            ("GET /q?token=abc&x=1 failed", "GET /q?token=***&x=1 failed"),
            ("url http://h/?api_key=K1&apikey=K2#f", "url http://h/?api_key=***&apikey=***#f"),
            ("sig=zz; Signature=yy, X-Api-Key=\"v v\"", "sig=***; Signature=***, X-Api-Key=\"***\""),
            ("a password='p w' and client_secret=s", "a password='***' and client_secret=***"),
            ("monkey=1 keyboard=2 key=3 token=", "monkey=1 keyboard=2 key=*** token="),
            ("query `sum(x{job=\"a\"})` ok == fine", "query `sum(x{job=\"a\"})` ok == fine"),
        ];
        for (text, want) in cases {
            assert_eq!(scrub_tokens(text), want, "{text}");
        }
        let err = MetricError::Backend { target: target(), detail: "echo: /m?access_token=s3cr3t".into() };
        assert!(!err.redact(&[]).to_string().contains("s3cr3t"));
    }

    #[test]
    fn byte_counts_read_as_people_write_caps() {
        assert_eq!(bytes(1 << 20), "1 MiB");
        assert_eq!(bytes(512 * 1024), "512 KiB");
        assert_eq!(bytes(1_500_000), "1.4 MiB");
        assert_eq!(bytes(100), "100 bytes");
    }

    #[test]
    fn snippet_cuts_long_text() {
        assert_eq!(snippet("  abc  ", 5), "abc");
        assert_eq!(snippet("abcdefgh", 3), "abc...");
    }
}
