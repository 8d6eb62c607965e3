//! Test controls over the sandbox's behaviour: fault rules (error responses, 429 with Retry-After as a
//! Status or as the API server's overload filters send it, added latency, a reply lost after the
//! request was applied; matched by verb and path pattern), dropping every open watch, and the request
//! log.
//!
//! Nothing here changes stored objects; the router consults the rules before serving a request.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;

/// Which requests a fault applies to. Empty fields match anything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultMatch {
    /// Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: Option<String>,
    /// Path pattern: a substring of the path, where `*` matches any run of characters.
    pub path: Option<String>,
    /// Apply this many times, then the rule retires itself; `None` is until removed.
    pub times: Option<u32>,
}

impl FaultMatch {
    /// Every request.
    pub fn any() -> Self {
        Self::default()
    }

    /// Only this verb.
    pub fn verb(mut self, verb: &str) -> Self {
        self.verb = Some(verb.to_string());
        self
    }

    /// Only paths matching this pattern (`/scale`, `/namespaces/*/deployments/web`).
    pub fn path(mut self, pattern: &str) -> Self {
        self.path = Some(pattern.to_string());
        self
    }

    /// Only the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    fn matches(&self, verb: &str, path: &str) -> bool {
        self.verb.as_deref().is_none_or(|v| v.eq_ignore_ascii_case(verb))
            && self.path.as_deref().is_none_or(|p| glob_contains(p, path))
    }
}

/// Whether `pattern` (with `*` wildcards) occurs somewhere in `text`.
fn glob_contains(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut at = 0;
    for part in parts {
        match text[at..].find(part) {
            Some(i) => at += i + part.len(),
            None => return false,
        }
    }
    true
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Answer with this HTTP code and a matching `Status` (403, 500, 503, ...).
    Error(u16),
    /// Answer 429 TooManyRequests with `Retry-After: seconds`.
    Throttle {
        /// The Retry-After value.
        retry_after_secs: u64,
    },
    /// Answer 429 as the API server's max-in-flight and priority-and-fairness filters do: a
    /// `Retry-After` header and a plain-text body, no `Status` (so no `retryAfterSeconds`).
    Overloaded {
        /// The Retry-After value.
        retry_after_secs: u64,
    },
    /// Serve normally after this delay.
    Latency(Duration),
    /// Apply the request, then lose its reply: the client never learns the outcome.
    LoseReply(Lost),
}

/// How a reply is lost after the request was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// The connection stays open and no reply ever comes (a hung API server or proxy).
    Hang,
    /// The connection closes before the reply (a proxy or load balancer cutting it).
    Drop,
}

/// A handle on one rule, to remove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultId(u64);

#[derive(Debug)]
struct Rule {
    id: u64,
    matcher: FaultMatch,
    action: FaultAction,
}

#[derive(Debug, Default)]
struct Rules {
    next: u64,
    list: Vec<Rule>,
    forbidden: Vec<Permission>,
}

/// A permission, as RBAC names one: verb, API group ("" for core) and resource (`deployments/scale`
/// for a subresource); `*` matches anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// Verb.
    pub verb: String,
    /// API group.
    pub group: String,
    /// Resource, or `resource/subresource`.
    pub resource: String,
}

impl Permission {
    fn covers(&self, verb: &str, group: &str, resource: &str) -> bool {
        let one = |rule: &str, value: &str| rule == "*" || rule == value;
        one(&self.verb, verb) && one(&self.group, group) && one(&self.resource, resource)
    }
}

/// The fault switches of one sandbox. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Faults {
    rules: Arc<Mutex<Rules>>,
    drops: Arc<watch::Sender<u64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Faults {
    pub(crate) fn new() -> Self {
        Faults { rules: Arc::default(), drops: Arc::new(watch::channel(0).0) }
    }

    /// Add a rule.
    pub fn add(&self, matcher: FaultMatch, action: FaultAction) -> FaultId {
        let mut rules = lock(&self.rules);
        rules.next += 1;
        let id = rules.next;
        rules.list.push(Rule { id, matcher, action });
        FaultId(id)
    }

    /// Answer matching requests with `code` (e.g. 500, 403).
    pub fn error(&self, matcher: FaultMatch, code: u16) -> FaultId {
        self.add(matcher, FaultAction::Error(code))
    }

    /// Answer matching requests with 429 and `Retry-After`.
    pub fn throttle(&self, matcher: FaultMatch, retry_after_secs: u64) -> FaultId {
        self.add(matcher, FaultAction::Throttle { retry_after_secs })
    }

    /// Answer matching requests with 429 and a `Retry-After` header only, as an overloaded API
    /// server does.
    pub fn overload(&self, matcher: FaultMatch, retry_after_secs: u64) -> FaultId {
        self.add(matcher, FaultAction::Overloaded { retry_after_secs })
    }

    /// Apply matching requests, then lose their replies.
    pub fn lose_reply(&self, matcher: FaultMatch, how: Lost) -> FaultId {
        self.add(matcher, FaultAction::LoseReply(how))
    }

    /// Delay matching requests.
    pub fn latency(&self, matcher: FaultMatch, delay: Duration) -> FaultId {
        self.add(matcher, FaultAction::Latency(delay))
    }

    /// Remove one rule.
    pub fn remove(&self, id: FaultId) {
        lock(&self.rules).list.retain(|r| r.id != id.0);
    }

    /// Remove every rule, including denied permissions.
    pub fn clear(&self) {
        let mut rules = lock(&self.rules);
        rules.list.clear();
        rules.forbidden.clear();
    }

    /// Deny a permission as RBAC would: matching requests get 403 Forbidden with the API server's
    /// wording, and SelfSubjectAccessReviews answer `allowed: false`. `*` matches anything.
    pub fn forbid(&self, verb: &str, group: &str, resource: &str) {
        let permission =
            Permission { verb: verb.to_string(), group: group.to_string(), resource: resource.to_string() };
        lock(&self.rules).forbidden.push(permission);
    }

    /// Allow again everything `forbid` denied.
    pub fn allow_all(&self) {
        lock(&self.rules).forbidden.clear();
    }

    /// Whether RBAC-style rules allow a verb on a group's resource (`resource/subresource`).
    pub fn allows(&self, verb: &str, group: &str, resource: &str) -> bool {
        !lock(&self.rules).forbidden.iter().any(|p| p.covers(verb, group, resource))
    }

    /// Cut every open watch now (the connection breaks mid-stream, as when an API server restarts).
    pub fn drop_watches(&self) {
        self.drops.send_modify(|n| *n += 1);
    }

    pub(crate) fn drop_signal(&self) -> watch::Receiver<u64> {
        self.drops.subscribe()
    }

    /// The actions that apply to a request: total latency and the first error, if any.
    pub(crate) fn check(&self, verb: &str, path: &str) -> (Duration, Option<FaultAction>) {
        let mut rules = lock(&self.rules);
        let mut delay = Duration::ZERO;
        let mut error = None;
        for rule in rules.list.iter_mut() {
            if !rule.matcher.matches(verb, path) {
                continue;
            }
            match &rule.action {
                FaultAction::Latency(d) => delay += *d,
                action if error.is_none() => error = Some(action.clone()),
                _ => continue,
            }
            if let Some(n) = rule.matcher.times.as_mut() {
                *n = n.saturating_sub(1);
            }
        }
        rules.list.retain(|r| r.matcher.times != Some(0));
        (delay, error)
    }
}

/// One request as the sandbox saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    /// When it arrived.
    pub at: Timestamp,
    /// When its answer was ready (after any injected latency); for a watch, when it started.
    pub answered: Timestamp,
    /// HTTP method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// Kubernetes verb (get, list, watch, create, update, patch, delete, deletecollection), or the
    /// lowercase method for non-resource paths.
    pub verb: String,
    /// Resource plural ("" for discovery and other non-resource paths).
    pub resource: String,
    /// Subresource ("status", "scale" or "").
    pub subresource: String,
    /// Namespace, if any.
    pub namespace: String,
    /// Object name, if any.
    pub name: String,
    /// The HTTP status answered (for a watch, the status it started with).
    pub status: u16,
    /// The client's User-Agent.
    pub user_agent: String,
    /// Whether the request was applied and its reply then lost (a `LoseReply` fault).
    pub reply_lost: bool,
}

/// The request log, shared by the server and the test handle; `pushed` counts records ever logged
/// so waiters wake on each new one.
#[derive(Debug, Clone)]
pub(crate) struct RequestLog {
    records: Arc<Mutex<Vec<RequestRecord>>>,
    pushed: Arc<watch::Sender<u64>>,
}

impl Default for RequestLog {
    fn default() -> Self {
        RequestLog { records: Arc::default(), pushed: Arc::new(watch::channel(0).0) }
    }
}

/// Most records kept; older ones are dropped first.
const LOG_LIMIT: usize = 500_000;

impl RequestLog {
    pub(crate) fn push(&self, record: RequestRecord) {
        {
            let mut log = lock(&self.records);
            if log.len() >= LOG_LIMIT {
                log.drain(..LOG_LIMIT / 10);
            }
            log.push(record);
        }
        self.pushed.send_modify(|n| *n += 1);
    }

    pub(crate) fn snapshot(&self) -> Vec<RequestRecord> {
        lock(&self.records).clone()
    }

    pub(crate) fn clear(&self) {
        lock(&self.records).clear();
    }

    pub(crate) fn first(&self, pred: &dyn Fn(&RequestRecord) -> bool) -> Option<RequestRecord> {
        lock(&self.records).iter().find(|r| pred(r)).cloned()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.pushed.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_substrings_with_wildcards() {
        assert!(glob_contains("/scale", "/apis/apps/v1/namespaces/a/deployments/w/scale"));
        assert!(glob_contains(
            "/namespaces/*/deployments/w",
            "/apis/apps/v1/namespaces/a/deployments/w/scale"
        ));
        assert!(!glob_contains("/leases", "/apis/apps/v1/namespaces/a/deployments/w"));
    }

    #[test]
    fn a_lost_reply_and_an_error_are_both_actions_and_the_first_wins() {
        let faults = Faults::new();
        faults.lose_reply(FaultMatch::any().verb("patch").path("/scale"), Lost::Hang);
        faults.error(FaultMatch::any().verb("patch"), 500);
        assert_eq!(faults.check("patch", "/a/scale").1, Some(FaultAction::LoseReply(Lost::Hang)));
        assert_eq!(faults.check("patch", "/a/status").1, Some(FaultAction::Error(500)));
    }

    #[test]
    fn counted_rules_retire_themselves() {
        let faults = Faults::new();
        faults.error(FaultMatch::any().verb("get").times(1), 500);
        assert_eq!(faults.check("get", "/x").1, Some(FaultAction::Error(500)));
        assert_eq!(faults.check("get", "/x").1, None);
    }
}
