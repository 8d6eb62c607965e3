//! Which hosts metric URLs may reach: [`HostPolicy`], its rules from `gscale run --allow-metric-host`
//! and `--deny-metric-host`, and the DNS resolver that enforces it after resolution.
//!
//! A scaler's author picks the URL, but the daemon sends the request from inside the cluster: without
//! a policy, any namespace could make gscale read cloud metadata or other internal endpoints. Link-local
//! networks and the cloud metadata addresses and names are denied by default; loopback and everything
//! else are allowed (an out-of-cluster daemon and the tests read metrics on 127.0.0.1). A name rule
//! decides for that name whatever it resolves to; otherwise the most specific network rule decides for
//! each address the name resolves to, and one denied address refuses the whole name. Addresses are
//! checked by [`Resolver`] when reqwest connects, so a host name cannot dodge a network rule; literal
//! addresses in URLs are checked before sending by [`HostPolicy::check_url`]. Redis connections are
//! checked the same way ([`resolve_checked`]). Nothing here sends a request.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The flag that allows a denied host, named in every refusal.
pub const ALLOW_FLAG: &str = "--allow-metric-host";
/// The flag that denies a host.
pub const DENY_FLAG: &str = "--deny-metric-host";

/// Networks denied unless a flag allows them: link-local (where the metadata services of AWS, GCP,
/// Azure and OpenStack answer), AWS's IPv6 metadata address and Alibaba Cloud's metadata address.
const DEFAULT_DENIED_NETWORKS: [(&str, &str); 4] = [
    ("169.254.0.0/16", "link-local addresses (cloud metadata services) are denied by default"),
    ("fe80::/10", "link-local addresses are denied by default"),
    ("fd00:ec2::254/128", "the AWS metadata address is denied by default"),
    ("100.100.100.200/32", "the Alibaba Cloud metadata address is denied by default"),
];

/// Host names denied unless a flag allows them (they reach a metadata service through any proxy).
const DEFAULT_DENIED_NAMES: [&str; 2] = ["metadata.google.internal", "metadata.goog"];

/// An IP network in CIDR notation; a bare address is a /32 (or /128).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// Parse `10.0.0.0/8`, `fe80::/10` or a bare address.
    pub fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr.trim_start_matches('[').trim_end_matches(']').parse().ok()?;
        let addr = canonical(addr);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Self { addr, prefix })
    }

    /// Whether `addr` is inside this network.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.addr, canonical(addr)) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(addr) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(addr)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(addr) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:169.254.169.254`) is the IPv4 address it maps.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// What a rule matches.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Matcher {
    Name(String),
    Network(Network),
}

/// One allow or deny rule.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    matcher: Matcher,
    allow: bool,
    /// Why a default rule exists; `None` for a rule from a flag.
    default: Option<&'static str>,
}

/// Which hosts metric URLs may reach; the default denies link-local and metadata addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPolicy {
    rules: Vec<Rule>,
}

impl Default for HostPolicy {
    fn default() -> Self {
        let mut rules: Vec<Rule> = DEFAULT_DENIED_NETWORKS
            .iter()
            .map(|(net, why)| Rule {
                matcher: Matcher::Network(Network::parse(net).expect("a valid default network")),
                allow: false,
                default: Some(why),
            })
            .collect();
        rules.extend(DEFAULT_DENIED_NAMES.iter().map(|name| Rule {
            matcher: Matcher::Name((*name).to_owned()),
            allow: false,
            default: Some("cloud metadata host names are denied by default"),
        }));
        Self { rules }
    }
}

/// Why a host may not be reached; its `Display` is the whole message with the hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied {
    /// The host as written in the URL.
    pub host: String,
    /// The address that is denied, when the host is a name that resolved to it.
    pub addr: Option<IpAddr>,
    /// Which rule refused it.
    pub why: String,
    /// What to allow to reach it.
    pub allow: String,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            Some(addr) if addr.to_string() != self.host => {
                write!(f, "host {} ({addr}) may not be reached: {}", self.host, self.why)?
            }
            _ => write!(f, "host {} may not be reached: {}", self.host, self.why)?,
        }
        write!(
            f,
            "\nhint: if gscale should read it, run the daemon with {ALLOW_FLAG} {} (the operator decides, not the scaler)",
            self.allow
        )
    }
}

impl std::error::Error for Denied {}

impl HostPolicy {
    /// The defaults plus the flags' rules: each entry an address, a network (`10.0.0.0/8`) or a host
    /// name. An error names the entry that is none of those.
    pub fn with_rules(allow: &[String], deny: &[String]) -> Result<Self, String> {
        let mut policy = Self::default();
        for (entries, allow, flag) in [(allow, true, ALLOW_FLAG), (deny, false, DENY_FLAG)] {
            for entry in entries.iter().flat_map(|e| e.split(',')).map(str::trim).filter(|e| !e.is_empty()) {
                let matcher = match Network::parse(entry) {
                    Some(network) => Matcher::Network(network),
                    None if is_host_name(entry) => Matcher::Name(normal_name(entry)),
                    None => {
                        return Err(format!(
                            "{flag} {entry}: not an address, a network or a host name\n\
                             hint: write 10.0.0.0/8, 169.254.169.254 or prometheus.example.com"
                        ));
                    }
                };
                policy.rules.push(Rule { matcher, allow, default: None });
            }
        }
        Ok(policy)
    }

    /// The most specific rule for a host name, if any.
    fn name_rule(&self, name: &str) -> Option<&Rule> {
        let name = normal_name(name);
        // A flag's rule beats a default one; among flags, deny beats allow.
        self.rules
            .iter()
            .filter(|rule| rule.matcher == Matcher::Name(name.clone()))
            .min_by_key(|rule| (rule.default.is_some(), rule.allow))
    }

    /// The most specific rule for an address, if any.
    fn network_rule(&self, addr: IpAddr) -> Option<(&Rule, u8)> {
        self.rules
            .iter()
            .filter_map(|rule| match &rule.matcher {
                Matcher::Network(network) if network.contains(addr) => Some((rule, network.prefix)),
                _ => None,
            })
            .min_by_key(|(rule, prefix)| (std::cmp::Reverse(*prefix), rule.default.is_some(), rule.allow))
    }

    /// Whether the name itself is decided: `Some(Ok)` allowed whatever it resolves to, `Some(Err)`
    /// denied, `None` decided by its addresses.
    pub fn check_name(&self, name: &str) -> Option<Result<(), Denied>> {
        let rule = self.name_rule(name)?;
        Some(if rule.allow {
            Ok(())
        } else {
            Err(Denied {
                host: name.to_owned(),
                addr: None,
                why: rule.default.unwrap_or("denied by --deny-metric-host").to_owned(),
                allow: normal_name(name),
            })
        })
    }

    /// Whether `addr` (which `host` names or resolved to) may be reached.
    pub fn check_addr(&self, host: &str, addr: IpAddr) -> Result<(), Denied> {
        let addr = canonical(addr);
        match self.network_rule(addr) {
            Some((rule, _)) if !rule.allow => Err(Denied {
                host: host.to_owned(),
                addr: Some(addr),
                why: rule.default.unwrap_or("denied by --deny-metric-host").to_owned(),
                allow: addr.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Check a URL's host before sending: a name by its name rules (its addresses are checked by
    /// [`Resolver`] when connecting), a literal address by the network rules.
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), Denied> {
        let Some(host) = url.host_str() else { return Ok(()) };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(addr) => self.check_addr(bare, addr),
            Err(_) => self.check_name(host).unwrap_or(Ok(())),
        }
    }
}

/// Lowercase, without the trailing dot of a fully qualified name.
fn normal_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Letters, digits, '-' and '.', as DNS names are written.
fn is_host_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && text.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Why a host cannot be reached: the policy denies it, or its name does not resolve.
#[derive(Debug)]
pub enum Refused {
    /// The host policy denies the name or one of its addresses.
    Denied(Denied),
    /// The name did not resolve.
    Lookup(std::io::Error),
}

/// The addresses of `host` (a name or a literal address) on `port`, each allowed by `policy`: a
/// name rule decides for the name; otherwise one denied address refuses the whole name.
pub async fn resolve_checked(policy: &HostPolicy, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refused> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(addr) = bare.parse::<IpAddr>() {
        policy.check_addr(bare, addr).map_err(Refused::Denied)?;
        return Ok(vec![SocketAddr::new(addr, port)]);
    }
    let decided = policy.check_name(bare);
    if let Some(Err(denied)) = decided {
        return Err(Refused::Denied(denied));
    }
    let addrs: Vec<SocketAddr> =
        tokio::net::lookup_host((bare, port)).await.map_err(Refused::Lookup)?.collect();
    if decided.is_none() {
        for addr in &addrs {
            policy.check_addr(bare, addr.ip()).map_err(Refused::Denied)?;
        }
    }
    Ok(addrs)
}

/// reqwest's DNS resolver for metric clients: the system resolver, then the policy on every address.
pub struct Resolver {
    policy: Arc<HostPolicy>,
}

impl Resolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: Arc<HostPolicy>) -> Self {
        Self { policy }
    }
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let name = name.as_str().to_owned();
        Box::pin(async move {
            match resolve_checked(&policy, &name, 0).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs),
                Err(Refused::Denied(denied)) => {
                    Err(Box::new(denied) as Box<dyn std::error::Error + Send + Sync>)
                }
                Err(Refused::Lookup(e)) => Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
            }
        })
    }
}

/// The first [`Denied`] in an error's cause chain (the resolver's refusal, wrapped by reqwest).
pub fn denied_in<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a Denied> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(denied) = err.downcast_ref::<Denied>() {
            return Some(denied);
        }
        current = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_match() {
        let net = Network::parse("10.1.0.0/16").unwrap();
        assert!(net.contains(ip("10.1.200.3")) && !net.contains(ip("10.2.0.1")));
        assert!(Network::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Network::parse("::/0").unwrap().contains(ip("2001:db8::1")));
        assert!(Network::parse("::/0").unwrap().contains(ip("::1")));
        assert_eq!(Network::parse("169.254.169.254").unwrap().to_string(), "169.254.169.254/32");
        assert!(Network::parse("fe80::/10").unwrap().contains(ip("fe80::1")));
        for bad in ["10.0.0.0/33", "example.com", "10.0.0/8", "::/129", ""] {
            assert_eq!(Network::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn defaults_deny_link_local_and_metadata_and_allow_the_rest() {
        let policy = HostPolicy::default();
        let denied = ["169.254.169.254", "169.254.1.1", "fe80::1", "fd00:ec2::254", "::ffff:169.254.169.254"];
        for addr in denied {
            let err = policy.check_addr("h", ip(addr)).unwrap_err();
            assert!(err.to_string().contains("--allow-metric-host"), "{err}");
        }
        for addr in ["127.0.0.1", "::1", "10.0.0.1", "8.8.8.8", "fd00:ec2::253"] {
            assert_eq!(policy.check_addr("h", ip(addr)), Ok(()), "{addr}");
        }
        assert!(matches!(policy.check_name("Metadata.Google.Internal."), Some(Err(_))));
        assert_eq!(policy.check_name("prometheus.monitoring"), None);
    }

    #[test]
    fn the_most_specific_rule_wins_and_flags_beat_defaults() {
        let policy = HostPolicy::with_rules(
            &["169.254.169.254".into(), "10.1.0.0/16".into(), "metadata.goog".into()],
            &["10.0.0.0/8,0.0.0.0/0".into(), "api.internal".into()],
        )
        .unwrap();
        assert_eq!(policy.check_addr("h", ip("169.254.169.254")), Ok(()));
        assert!(policy.check_addr("h", ip("169.254.169.253")).is_err());
        assert_eq!(policy.check_addr("h", ip("10.1.2.3")), Ok(()));
        assert!(policy.check_addr("h", ip("10.2.0.1")).is_err());
        assert!(policy.check_addr("h", ip("8.8.8.8")).is_err());
        assert_eq!(policy.check_addr("h", ip("::1")), Ok(()));
        assert_eq!(policy.check_name("metadata.goog"), Some(Ok(())));
        let err = policy.check_name("API.internal").unwrap().unwrap_err();
        assert_eq!(
            err.to_string(),
            "host API.internal may not be reached: denied by --deny-metric-host\n\
             hint: if gscale should read it, run the daemon with --allow-metric-host api.internal \
             (the operator decides, not the scaler)"
        );
        // Allow and deny of the same network: deny wins.
        let both = HostPolicy::with_rules(&["10.0.0.0/8".into()], &["10.0.0.0/8".into()]).unwrap();
        assert!(both.check_addr("h", ip("10.0.0.1")).is_err());
        let err = HostPolicy::with_rules(&["10.0.0.0/40".into()], &[]).unwrap_err();
        assert!(err.starts_with("--allow-metric-host 10.0.0.0/40: not an address"), "{err}");
    }

    #[test]
    fn literal_addresses_in_urls_are_checked() {
        let policy = HostPolicy::default();
        let url = |text: &str| reqwest::Url::parse(text).unwrap();
        assert!(policy.check_url(&url("http://169.254.169.254/latest/meta-data")).is_err());
        assert!(policy.check_url(&url("http://[fd00:ec2::254]/")).is_err());
        assert!(policy.check_url(&url("http://metadata.google.internal/computeMetadata/v1/")).is_err());
        assert_eq!(policy.check_url(&url("http://127.0.0.1:9090/")), Ok(()));
        assert_eq!(policy.check_url(&url("http://prometheus:9090/")), Ok(()));
    }
}
