//! Automatic shards (`gscale run --shards auto`): every replica holds a Lease of its own, the live
//! Leases are the membership, and each scaler belongs to one member by rendezvous hashing of its
//! uid, so a join or a leave moves about 1/N of the scalers. Nothing is shared but the Kubernetes
//! API: no central sharder, no label or write on the scalers.
//!
//! Handover without overlap. A member may write only under the membership it listed last: its
//! fence closes two thirds of a lease after that listing started (or after its last renewal, if
//! older), so a view that lacks a newer member stops writing within 2/3 of a lease of that member's
//! arrival. Two members whose views both hold each other never both own a scaler (rendezvous), so
//! an overlap needs a member the other does not see: one that joined since (it waits, below) or
//! one judged gone (no renewal seen for a lease duration by this member's clock, so its own fence
//! closed first, or its Lease deleted when it shut down after draining). A member that joined acts
//! once every other member's Lease acknowledges it (each lists, at each renewal, the members its
//! view holds), or once a lease duration passed since it joined; one that is alone acts at once.
//! Once acting it stays so while its membership is unbroken: a later joiner waits for the others'
//! acknowledgement, the others never wait for the joiner's (what moves to the joiner leaves their
//! views before they acknowledge it, and nothing moves to them on a join).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, DeleteParams, ListParams, PostParams, Preconditions};
use tokio::sync::watch;
use tokio::time::Instant;

use super::leader::Until;

/// The label every member Lease carries (its value: the daemon group, `gscale`).
pub const MEMBER_LABEL: &str = "autoscaling.generalscaler.io/shards";
/// The label's value.
pub const GROUP: &str = "gscale";
/// The annotation where a member lists the members its view holds (`identity/incarnation`, comma
/// separated): a joining member acts once every other one acknowledges it.
pub const SEEN_ANNOTATION: &str = "autoscaling.generalscaler.io/members-seen";
/// Member Leases are named this and the member's identity.
pub const LEASE_PREFIX: &str = "gscale-member-";

/// A member's Lease settings.
#[derive(Clone, Debug)]
pub struct MemberSettings {
    /// The namespace of the member Leases.
    pub namespace: String,
    /// This daemon's identity (pod name and process id).
    pub identity: String,
    /// How long a member is trusted after its last renewal.
    pub duration: Duration,
    /// How often a member renews and lists the others.
    pub renew: Duration,
}

impl MemberSettings {
    /// The name of this member's Lease: the prefix and the identity as a DNS name.
    pub fn lease_name(&self) -> String {
        let mut name: String = self
            .identity
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '-' })
            .collect();
        name.truncate(253 - LEASE_PREFIX.len());
        let name = name.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        format!("{LEASE_PREFIX}{name}")
    }
}

/// A stable 64-bit hash (FNV-1a, then a SplitMix64 finish): the same in every build, so the CLI and
/// every replica rank members alike.
fn hash(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Members ranked for each scaler by rendezvous hashing: the highest score of (member, uid) owns it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ring {
    /// (identity, its hash), sorted by identity.
    members: Vec<(String, u64)>,
}

impl Ring {
    /// A ring of these identities.
    pub fn new<'a>(identities: impl IntoIterator<Item = &'a str>) -> Self {
        let mut members: Vec<(String, u64)> =
            identities.into_iter().map(|i| (i.to_string(), hash(i))).collect();
        members.sort();
        members.dedup();
        Self { members }
    }

    /// The owner of the scaler with this uid; `None` without members.
    pub fn owner(&self, uid: &str) -> Option<&str> {
        let key = hash(uid);
        self.members.iter().max_by_key(|(_, h)| mix(h ^ key)).map(|(identity, _)| identity.as_str())
    }

    /// The identities, sorted.
    pub fn identities(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|(i, _)| i.as_str())
    }

    /// How many members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there is no member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// The membership one member acts under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    /// This member's identity.
    pub me: String,
    /// Whether this member is in the ring (its Lease renewed in time); if not, it owns nothing.
    pub member: bool,
    /// The live members, this one included while it is a member.
    pub ring: Ring,
    /// Whether this member may act on what it owns: alone when it joined, every other member
    /// acknowledged it, or a lease duration passed since it joined.
    pub acting: bool,
    /// When a lease duration will have passed since this member joined.
    pub settles_at: Option<Instant>,
}

impl View {
    /// The view of a member that holds no Lease yet.
    pub fn outside(me: &str) -> Self {
        Self { me: me.to_string(), member: false, ring: Ring::default(), acting: false, settles_at: None }
    }

    /// Whether this member owns the scaler with this uid (whether or not it may act on it yet).
    pub fn owns(&self, uid: &str) -> bool {
        self.member && self.ring.owner(uid) == Some(self.me.as_str())
    }

    /// Whether this member may decide and write for the scaler with this uid now.
    pub fn acts_on(&self, uid: &str) -> bool {
        self.owns(uid) && (self.acting || self.settles_at.is_some_and(|t| Instant::now() >= t))
    }

    /// How long until an owned scaler may be acted on, if it may not yet.
    pub fn wait(&self) -> Option<Duration> {
        if !self.member || self.acting {
            return None;
        }
        let at = self.settles_at?;
        let now = Instant::now();
        (at > now).then(|| at - now)
    }
}

/// Membership as the rest of the daemon sees it.
pub type Membership = watch::Receiver<Arc<View>>;

/// A member as its Lease shows it.
#[derive(Clone, Debug)]
struct Seen {
    identity: String,
    incarnation: i32,
    acknowledged: Vec<String>,
    /// The Lease's resourceVersion (every renewal changes it) and when this member first saw it.
    version: String,
    at: Instant,
    /// The Lease's own duration.
    duration: Duration,
}

/// This member's own state across rounds.
struct Own {
    /// The sending time of the last renewal that went through, while the membership is unbroken.
    renewed: Option<Instant>,
    /// When this member (re)joined, and with which incarnation.
    joined: Option<Instant>,
    incarnation: i32,
    /// The resourceVersion and uid of our Lease as last written.
    version: Option<String>,
    uid: Option<String>,
    /// The incarnation in which this member began to act: it acts on for that incarnation.
    acted_in: Option<i32>,
    /// The acknowledgements our Lease carries as last written.
    seen_written: Option<String>,
}

fn tag(identity: &str, incarnation: i32) -> String {
    format!("{identity}/{incarnation}")
}

/// Hold this member's Lease and follow the others until `shutdown` fires; then delete the Lease.
/// `view` gets each membership as it changes, `fence` the deadline writes must end by, `leading`
/// whether this member may write at all.
pub async fn campaign(
    client: kube::Client,
    settings: MemberSettings,
    view: watch::Sender<Arc<View>>,
    fence: watch::Sender<Until>,
    leading: watch::Sender<bool>,
    term: Arc<std::sync::atomic::AtomicU64>,
    mut shutdown: watch::Receiver<bool>,
) {
    let api: Api<Lease> = Api::namespaced(client, &settings.namespace);
    let name = settings.lease_name();
    let renew_deadline = settings.duration.mul_f64(2.0 / 3.0);
    let mut own = Own {
        renewed: None,
        joined: None,
        incarnation: 0,
        version: None,
        uid: None,
        acted_in: None,
        seen_written: None,
    };
    let mut seen: HashMap<String, Seen> = HashMap::new();
    // When the list the current view came from was sent.
    let mut listed: Option<Instant> = None;
    loop {
        let round = Instant::now();
        let unbroken = own.renewed.is_some_and(|t| t.elapsed() < renew_deadline);
        if !unbroken {
            own.renewed = None;
            own.joined = None;
            listed = None;
        }
        let acknowledged: Vec<String> =
            seen.values().map(|s| tag(&s.identity, s.incarnation)).chain(own_tag(&settings, &own)).collect();
        let current = view.borrow().clone();
        let renewal = tokio::time::timeout(
            settings.renew,
            renew(&api, &name, &settings, &mut own, unbroken, &current, &acknowledged),
        )
        .await;
        match renewal {
            Ok(Ok(())) => {
                own.renewed = Some(round);
                if own.joined.is_none() {
                    own.joined = Some(Instant::now());
                    tracing::info!(lease = %name, identity = %settings.identity, incarnation = own.incarnation, "joined the shards");
                }
            }
            Ok(Err(e)) => tracing::warn!(lease = %name, error = %e, "member lease not renewed"),
            Err(_) => {
                tracing::warn!(lease = %name, after = ?settings.renew, "member lease renewal timed out")
            }
        }
        // The others, listed after our own renewal: a view never lacks a member older than ours.
        let list_sent = Instant::now();
        let selector = format!("{MEMBER_LABEL}={GROUP}");
        match tokio::time::timeout(settings.renew, api.list(&ListParams::default().labels(&selector))).await {
            Ok(Ok(leases)) => {
                observe(&mut seen, &leases.items, &name, &settings);
                if own.renewed.is_some() {
                    listed = Some(list_sent);
                }
                collect_garbage(&api, &leases.items, &seen, &name, &settings).await;
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "member leases not listed"),
            Err(_) => tracing::warn!(after = ?settings.renew, "listing member leases timed out"),
        }
        // Writes end 2/3 of a lease after the older of the renewal and the list the view came from.
        let deadline = match (own.renewed, listed) {
            (Some(r), Some(l)) => Some(r.min(l) + renew_deadline),
            _ => None,
        };
        let member = deadline.is_some_and(|d| Instant::now() < d);
        let next = build_view(&settings, &own, &seen, member);
        if next.acting {
            own.acted_in = Some(own.incarnation);
        }
        // A handshake under way goes at a tenth of the renewal period: a joiner waiting for the
        // others' acknowledgement looks again soon, and a member whose view gained a member
        // acknowledges it at once rather than a renewal later (a join takes about a second).
        let acknowledging = {
            let tags: Vec<String> = seen
                .values()
                .map(|s| tag(&s.identity, s.incarnation))
                .chain(own_tag(&settings, &own))
                .collect();
            own.seen_written.as_deref() != Some(acknowledgements(&next, &tags).as_str())
        };
        let hurry = member && (!next.acting || acknowledging);
        // The view before the deadline: a write that sees the new deadline sees the new view too.
        view.send_if_modified(|current| {
            if **current == next {
                return false;
            }
            *current = Arc::new(next);
            true
        });
        fence.send_replace(match deadline {
            Some(d) if member => Until::Before(d),
            _ => Until::Never,
        });
        if *leading.borrow() != member {
            tracing::info!(identity = %settings.identity, member, "shard membership changed");
            term.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            leading.send_replace(member);
        }
        // Wake at the deadline if renewals keep failing, to stop acting on time.
        let period = if hurry { settings.renew / 10 } else { settings.renew };
        let pause = match deadline {
            Some(d) if member => {
                period.saturating_sub(round.elapsed()).min(d.saturating_duration_since(Instant::now()))
            }
            _ => period.saturating_sub(round.elapsed()),
        };
        tokio::select! {
            () = tokio::time::sleep(pause.max(Duration::from_millis(10))) => {}
            _ = shutdown.wait_for(|s| *s) => break,
        }
    }
    fence.send_replace(Until::Never);
    view.send_replace(Arc::new(View::outside(&settings.identity)));
    if *leading.borrow() {
        term.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        leading.send_replace(false);
    }
    // Released after the reconciles drained: the others take over at once.
    let params = DeleteParams {
        preconditions: own.uid.clone().map(|uid| Preconditions { uid: Some(uid), resource_version: None }),
        ..DeleteParams::default()
    };
    match tokio::time::timeout(settings.renew, api.delete(&name, &params)).await {
        Ok(Ok(_)) => tracing::info!(lease = %name, "member lease released"),
        Ok(Err(e)) => tracing::warn!(lease = %name, error = %e, "could not release the member lease"),
        Err(_) => tracing::warn!(lease = %name, "releasing the member lease timed out"),
    }
}

fn own_tag(settings: &MemberSettings, own: &Own) -> Option<String> {
    own.joined.map(|_| tag(&settings.identity, own.incarnation))
}

/// Renew our Lease (or create it), listing the members our view holds.
async fn renew(
    api: &Api<Lease>,
    name: &str,
    s: &MemberSettings,
    own: &mut Own,
    unbroken: bool,
    view: &View,
    acknowledged: &[String],
) -> Result<(), kube::Error> {
    let seen = acknowledgements(view, acknowledged);
    // A new incarnation whenever the membership broke: acknowledgements of the old one do not count.
    let incarnation = if unbroken { own.incarnation } else { own.incarnation + 1 };
    let now = Timestamp::now();
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some([(MEMBER_LABEL.to_string(), GROUP.to_string())].into()),
            annotations: Some([(SEEN_ANNOTATION.to_string(), seen)].into()),
            resource_version: own.version.clone(),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(s.identity.clone()),
            lease_duration_seconds: Some(s.duration.as_secs().max(1) as i32),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(incarnation),
            ..LeaseSpec::default()
        }),
    };
    let mut incarnation = incarnation;
    let written = match &own.version {
        Some(_) => match api.replace(name, &PostParams::default(), &lease).await {
            // Gone or changed behind us (judged dead and collected): start a new incarnation.
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {
                own.version = None;
                own.renewed = None;
                own.joined = None;
                return Err(kube::Error::Api(e));
            }
            other => other?,
        },
        None => {
            let mut fresh = lease.clone();
            fresh.metadata.resource_version = None;
            match api.create(&PostParams::default(), &fresh).await {
                Ok(created) => created,
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    // Ours from an earlier incarnation (a restarted container of the same pod): take
                    // it over as a newer incarnation, so its acknowledgements do not count for us.
                    let current = api.get(name).await?;
                    let before = current.spec.as_ref().and_then(|s| s.lease_transitions).unwrap_or(0);
                    incarnation = incarnation.max(before + 1);
                    let mut lease = lease.clone();
                    lease.metadata.resource_version = current.metadata.resource_version;
                    if let Some(spec) = lease.spec.as_mut() {
                        spec.lease_transitions = Some(incarnation);
                    }
                    api.replace(name, &PostParams::default(), &lease).await?
                }
                Err(e) => return Err(e),
            }
        }
    };
    own.incarnation = incarnation;
    own.seen_written = written.metadata.annotations.as_ref().and_then(|a| a.get(SEEN_ANNOTATION)).cloned();
    own.version = written.metadata.resource_version;
    own.uid = written.metadata.uid;
    Ok(())
}

/// The acknowledgements a renewal writes: the tags seen whose member the view we act under holds.
fn acknowledgements(view: &View, tags: &[String]) -> String {
    let held: Vec<&str> = view.ring.identities().collect();
    let mut seen: Vec<&String> = tags
        .iter()
        .filter(|t| held.iter().any(|i| t.rsplit_once('/').is_some_and(|(id, _)| id == *i)))
        .collect();
    seen.sort();
    seen.into_iter().map(String::as_str).collect::<Vec<_>>().join(",")
}

/// Record what the list shows: a Lease seen with a new resourceVersion was renewed now.
fn observe(seen: &mut HashMap<String, Seen>, leases: &[Lease], own: &str, s: &MemberSettings) {
    let mut present = std::collections::HashSet::new();
    for lease in leases {
        let Some(name) = lease.metadata.name.as_deref() else { continue };
        if name == own {
            continue;
        }
        let Some(spec) = &lease.spec else { continue };
        let Some(identity) = spec.holder_identity.as_deref().filter(|h| !h.is_empty()) else { continue };
        present.insert(name.to_string());
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        let duration =
            spec.lease_duration_seconds.map_or(s.duration, |d| Duration::from_secs(d.max(1) as u64));
        let acknowledged = lease
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(SEEN_ANNOTATION))
            .map(|v| v.split(',').filter(|t| !t.is_empty()).map(str::to_string).collect())
            .unwrap_or_default();
        let at = match seen.get(name) {
            Some(old) if old.version == version => old.at,
            _ => Instant::now(),
        };
        seen.insert(
            name.to_string(),
            Seen {
                identity: identity.to_string(),
                incarnation: spec.lease_transitions.unwrap_or(0),
                acknowledged,
                version,
                at,
                duration,
            },
        );
    }
    // A Lease gone from the list was released (deleted by its member after draining, or collected
    // after it expired): its member writes no more.
    seen.retain(|name, _| present.contains(name));
}

/// The view from what was seen: the members whose renewal this member saw within their duration.
fn build_view(s: &MemberSettings, own: &Own, seen: &HashMap<String, Seen>, member: bool) -> View {
    if !member {
        return View::outside(&s.identity);
    }
    let live: Vec<&Seen> = seen.values().filter(|m| m.at.elapsed() <= m.duration).collect();
    let me = tag(&s.identity, own.incarnation);
    let acknowledged = live.iter().all(|m| m.acknowledged.contains(&me));
    let settles_at = own.joined.map(|j| j + s.duration);
    let settled = settles_at.is_some_and(|t| Instant::now() >= t);
    // Acting already in this incarnation: a member that joined since does not stop it.
    let acted = own.joined.is_some() && own.acted_in == Some(own.incarnation);
    View {
        me: s.identity.clone(),
        member: true,
        ring: Ring::new(live.iter().map(|m| m.identity.as_str()).chain(std::iter::once(s.identity.as_str()))),
        acting: acted || acknowledged || settled,
        settles_at,
    }
}

/// Delete Leases whose members have been gone for three lease durations (crashed replicas leave
/// theirs behind), each only as it was read.
async fn collect_garbage(
    api: &Api<Lease>,
    leases: &[Lease],
    seen: &HashMap<String, Seen>,
    own: &str,
    s: &MemberSettings,
) {
    for lease in leases {
        let Some(name) = lease.metadata.name.as_deref() else { continue };
        if name == own {
            continue;
        }
        let released =
            lease.spec.as_ref().and_then(|s| s.holder_identity.as_deref()).is_none_or(str::is_empty);
        let dead = seen.get(name).is_some_and(|m| m.at.elapsed() > m.duration * 3);
        // A released Lease is left for its member to delete; a dead one waits three durations.
        if !dead || released {
            continue;
        }
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: None,
                resource_version: lease.metadata.resource_version.clone(),
            }),
            ..DeleteParams::default()
        };
        match tokio::time::timeout(s.renew, api.delete(name, &params)).await {
            Ok(Ok(_)) => {
                tracing::info!(lease = %name, "deleted the lease of a member gone for three lease durations")
            }
            Ok(Err(e)) => {
                tracing::debug!(lease = %name, error = %e, "could not delete a dead member's lease")
            }
            Err(_) => {}
        }
    }
}

/// The live members a one-shot reader (`gscale status -o wide`) judges from the Leases: holders
/// whose `renewTime` is within their duration of `now`.
pub fn ring_from_leases(leases: &[Lease], now: Timestamp) -> Ring {
    Ring::new(leases.iter().filter_map(|lease| {
        let spec = lease.spec.as_ref()?;
        let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty())?;
        let renewed = spec.renew_time.as_ref().or(spec.acquire_time.as_ref())?.0;
        let duration = f64::from(spec.lease_duration_seconds.unwrap_or(15).max(1));
        (now.duration_since(renewed).as_secs_f64() <= duration).then_some(holder)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendezvous_splits_evenly_and_a_join_moves_only_to_the_joiner() {
        let uids: Vec<String> = (0..4000).map(|i| format!("uid-{i}")).collect();
        let three = Ring::new(["a-1", "b-1", "c-1"]);
        let four = Ring::new(["a-1", "b-1", "c-1", "d-1"]);
        let mut counts: HashMap<&str, usize> = HashMap::new();
        let mut moved = 0;
        for uid in &uids {
            let before = three.owner(uid).unwrap();
            let after = four.owner(uid).unwrap();
            *counts.entry(after).or_default() += 1;
            if before != after {
                assert_eq!(after, "d-1", "{uid} moved from {before} to {after}, not to the joiner");
                moved += 1;
            }
        }
        for (member, count) in &counts {
            assert!((800..1200).contains(count), "{member} owns {count} of 4000");
        }
        assert!((800..1200).contains(&moved), "about a quarter moves to the joiner: {moved}");
        // A leave moves only the leaver's.
        let without_b = Ring::new(["a-1", "c-1", "d-1"]);
        for uid in &uids {
            if four.owner(uid) != Some("b-1") {
                assert_eq!(four.owner(uid), without_b.owner(uid), "{uid}");
            }
        }
        assert_eq!(Ring::default().owner("x"), None);
    }

    #[test]
    fn lease_names_are_dns_names() {
        let s = |identity: &str| MemberSettings {
            namespace: "ns".into(),
            identity: identity.into(),
            duration: Duration::from_secs(15),
            renew: Duration::from_secs(5),
        };
        assert_eq!(s("gscale-7d9f-x2_1").lease_name(), "gscale-member-gscale-7d9f-x2-1");
        assert_eq!(s("Host.Example-42").lease_name(), "gscale-member-host.example-42");
        assert!(s(&"x".repeat(400)).lease_name().len() <= 253);
    }

    fn seen(identity: &str, acknowledged: &[&str], at: Instant) -> Seen {
        Seen {
            identity: identity.into(),
            incarnation: 1,
            acknowledged: acknowledged.iter().map(|s| s.to_string()).collect(),
            version: "1".into(),
            at,
            duration: Duration::from_secs(15),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_joiner_acts_once_every_other_member_acknowledges_it_or_a_lease_has_passed() {
        let s = MemberSettings {
            namespace: "ns".into(),
            identity: "me".into(),
            duration: Duration::from_secs(15),
            renew: Duration::from_secs(5),
        };
        let mut own = Own {
            renewed: None,
            joined: Some(Instant::now()),
            incarnation: 2,
            version: None,
            uid: None,
            acted_in: None,
            seen_written: None,
        };
        let alone = build_view(&s, &own, &HashMap::new(), true);
        assert!(alone.acting, "alone at its first view: nobody else can be writing");
        let mut others = HashMap::new();
        others.insert("a".to_string(), seen("a", &["a/1", "me/2"], Instant::now()));
        others.insert("b".to_string(), seen("b", &["b/1", "me/1"], Instant::now()));
        let view = build_view(&s, &own, &others, true);
        assert!(!view.acting, "b acknowledged an earlier incarnation only");
        assert_eq!(view.wait(), Some(Duration::from_secs(15)));
        others.get_mut("b").unwrap().acknowledged.push("me/2".into());
        assert!(build_view(&s, &own, &others, true).acting);
        // Acting, it stays so when another joins that has not acknowledged it yet; a new
        // incarnation (its membership broke) waits again.
        own.acted_in = Some(2);
        others.insert("c".to_string(), seen("c", &["c/1"], Instant::now()));
        assert!(build_view(&s, &own, &others, true).acting, "a later joiner waits, not this member");
        own.incarnation = 3;
        assert!(!build_view(&s, &own, &others, true).acting, "a new incarnation waits for acknowledgement");
        own.incarnation = 2;
        others.remove("c");
        // A member not seen renewing for its duration is gone: its fence closed before.
        others.get_mut("b").unwrap().acknowledged.clear();
        tokio::time::advance(Duration::from_secs(16)).await;
        others.get_mut("a").unwrap().at = Instant::now();
        let view = build_view(&s, &own, &others, true);
        assert_eq!(view.ring.identities().collect::<Vec<_>>(), ["a", "me"]);
        assert!(view.acting, "a lease has passed since joining");
        assert!(!build_view(&s, &own, &others, false).owns("anything"), "not a member: owns nothing");
    }
}
