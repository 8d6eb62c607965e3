//! Automatic shards (`gscale run --shards auto`) end to end: real `gscale run` processes against the
//! sandbox, each with a member Lease of its own. Who wrote what is read from the sandbox's request
//! log: every replica names itself in its User-Agent (`gscale/VERSION (identity)`).
//!
//! Overlap is judged per scaler from that log: the replicas that wrote to it, in time order, must
//! form runs (a scaler passes from one to the next and never back and forth), and within a window
//! with a stable membership exactly one replica writes to it.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::cluster::{Cluster, Daemon, Load, base_spec, eventually, wait_replicas};
use gscale::controller::members::{GROUP, MEMBER_LABEL, SEEN_ANNOTATION, ring_from_leases};
use gscale_sandbox::{FaultMatch, RequestRecord};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::Lease;
use kube::ResourceExt;
use serde_json::json;

const SECONDS: fn(u64) -> Duration = Duration::from_secs;
const FLAGS: [&str; 4] = ["--shards", "auto", "--lease-duration", "3"];

/// The replica a request came from: the identity in its User-Agent, up to the process id.
fn replica(r: &RequestRecord) -> Option<String> {
    let identity = r.user_agent.split_once('(')?.1.trim_end_matches(')');
    Some(identity.rsplit_once('-').map_or(identity, |(host, _)| host).to_string())
}

/// A write of a daemon for a scaler (status, scale or Event aside): (scaler, replica, when).
fn scaler_writes(log: &[RequestRecord]) -> Vec<(String, String, Timestamp)> {
    let mut writes: Vec<(String, String, Timestamp)> = log
        .iter()
        .filter(|r| r.status < 300 && matches!(r.verb.as_str(), "patch" | "update" | "create"))
        .filter(|r| {
            (r.resource == "generalscalers" && r.subresource == "status")
                || (r.resource == "deployments" && r.subresource == "scale")
        })
        .filter_map(|r| Some((r.name.clone(), replica(r)?, r.at)))
        .collect();
    writes.sort_by_key(|w| w.2);
    writes
}

/// For each scaler, the replicas that wrote to it in time order, runs collapsed; panics if one
/// comes back after another wrote in between (two replicas acting on it at once).
fn writers_in_turn(log: &[RequestRecord]) -> BTreeMap<String, Vec<String>> {
    let mut turns: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (scaler, replica, at) in scaler_writes(log) {
        let runs = turns.entry(scaler.clone()).or_default();
        if runs.last() != Some(&replica) {
            assert!(
                !runs.contains(&replica),
                "{scaler}: {replica} wrote at {at} again after {runs:?}: two replicas acted on it in turn"
            );
            runs.push(replica);
        }
    }
    turns
}

/// The members' ring as the Leases show it now.
async fn ring(cluster: &Cluster) -> gscale::controller::members::Ring {
    let leases: kube::Api<Lease> = kube::Api::namespaced(cluster.client.clone(), "default");
    let params = kube::api::ListParams::default().labels(&format!("{MEMBER_LABEL}={GROUP}"));
    ring_from_leases(&leases.list(&params).await.unwrap().items, Timestamp::now())
}

/// Wait until `n` members hold Leases and each acknowledges every other: all views hold all.
async fn settled(cluster: &Cluster, n: usize) {
    eventually(&format!("{n} members acknowledging each other"), SECONDS(30), || async {
        let leases: kube::Api<Lease> = kube::Api::namespaced(cluster.client.clone(), "default");
        let params = kube::api::ListParams::default().labels(&format!("{MEMBER_LABEL}={GROUP}"));
        let leases = leases.list(&params).await.unwrap().items;
        let tags: Vec<String> = leases
            .iter()
            .filter_map(|l| {
                let spec = l.spec.as_ref()?;
                Some(format!("{}/{}", spec.holder_identity.as_deref()?, spec.lease_transitions?))
            })
            .collect();
        tags.len() == n
            && leases.iter().all(|l| {
                let seen = l.annotations().get(SEEN_ANNOTATION).cloned().unwrap_or_default();
                tags.iter().all(|t| seen.split(',').any(|s| s == t))
            })
    })
    .await;
    // The last acknowledgement is read at the members' next look (a third of the lease).
    tokio::time::sleep(SECONDS(1)).await;
}

async fn member_leases(cluster: &Cluster) -> usize {
    let leases: kube::Api<Lease> = kube::Api::namespaced(cluster.client.clone(), "default");
    let params = kube::api::ListParams::default().labels(&format!("{MEMBER_LABEL}={GROUP}"));
    leases.list(&params).await.unwrap().items.len()
}

/// `n` scalers `svc0..` on Deployments of the same names, all on `load` (50 a replica).
async fn scalers(cluster: &Cluster, load: &Load, n: usize) -> Vec<String> {
    let names: Vec<String> = (0..n).map(|i| format!("svc{i}")).collect();
    for name in &names {
        cluster.deployment(name, 1).await;
        let mut spec = base_spec(load, 50.0);
        spec["targetRef"]["name"] = json!(name);
        cluster.apply_scaler(name, spec).await;
    }
    names
}

async fn all_at(cluster: &Cluster, names: &[String], replicas: i32, deadline: Duration) {
    for name in names {
        wait_replicas(cluster, name, replicas, deadline).await;
    }
}

/// Move the load to `value` and wait until every scaler followed (each then wrote status and
/// scaled); the writes logged meanwhile, by scaler: exactly one replica each.
async fn one_writer_each(
    cluster: &Cluster,
    load: &Load,
    names: &[String],
    value: f64,
) -> BTreeMap<String, String> {
    cluster.sandbox.clear_requests();
    load.set(value);
    all_at(cluster, names, (value / 50.0) as i32, SECONDS(40)).await;
    let mut by: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (scaler, replica, _) in scaler_writes(&cluster.sandbox.requests()) {
        by.entry(scaler).or_default().insert(replica);
    }
    names
        .iter()
        .map(|name| {
            let writers = by.get(name).cloned().unwrap_or_default();
            assert_eq!(writers.len(), 1, "{name} written by exactly one replica: {writers:?}");
            (name.clone(), writers.into_iter().next().unwrap())
        })
        .collect()
}

/// The owner each scaler has by the ring of the Leases (what `status -o wide` shows), as a host.
async fn owners_by_ring(cluster: &Cluster, names: &[String]) -> BTreeMap<String, String> {
    let ring = ring(cluster).await;
    let mut owners = BTreeMap::new();
    for name in names {
        let uid = cluster.scaler(name).await.uid().unwrap();
        let owner = ring.owner(&uid).expect("a member");
        owners.insert(name.clone(), owner.rsplit_once('-').unwrap().0.to_string());
    }
    owners
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_then_three_replicas_share_the_scalers_without_overlap() {
    let cluster = Cluster::start().await;
    let load = Load::new(100.0);
    let names = scalers(&cluster, &load, 12).await;
    let mut alpha = cluster.daemon("alpha", &FLAGS);
    let mut beta = cluster.daemon("beta", &FLAGS);
    all_at(&cluster, &names, 2, SECONDS(40)).await;
    let whole = cluster.sandbox.requests();
    settled(&cluster, 2).await;

    // Both act, each on its own share, and the share is the ring's (what `status -o wide` shows).
    let writers = one_writer_each(&cluster, &load, &names, 200.0).await;
    let replicas: BTreeSet<&String> = writers.values().collect();
    assert_eq!(replicas.len(), 2, "both replicas decide: {writers:?}");
    assert_eq!(writers, owners_by_ring(&cluster, &names).await, "each scaler written by its owner");

    // A third joins: it takes about a third, the others keep the rest.
    let mut gamma = cluster.daemon("gamma", &FLAGS);
    settled(&cluster, 3).await;
    let before = cluster.sandbox.requests();
    // Until gamma acts, its scalers wait: the load moves and moves back until every one followed.
    let mut writers = BTreeMap::new();
    for value in [400.0, 100.0, 300.0] {
        writers = one_writer_each(&cluster, &load, &names, value).await;
        if writers.values().any(|w| w == "gamma") {
            break;
        }
    }
    assert!(writers.values().any(|w| w == "gamma"), "gamma took a share: {writers:?}");
    assert_eq!(writers, owners_by_ring(&cluster, &names).await, "each scaler written by its owner");
    for (name, writer) in &writers {
        if writer != "gamma" {
            let owner_before = owners_before(&before, name);
            assert!(owner_before.is_none_or(|o| o == *writer), "{name} moved between old members");
        }
    }

    // Over the whole run no scaler went back and forth between replicas.
    let mut log = whole;
    log.extend(before);
    log.extend(cluster.sandbox.requests());
    writers_in_turn(&log);
    // `gscale status -o wide` names each scaler's owner.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_gscale"))
        .args(["status", "-o", "wide", "--kubeconfig"])
        .arg(cluster.kubeconfig())
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.lines().next().is_some_and(|h| h.contains("OWNER")), "{table}");
    for name in &names {
        let line = table.lines().find(|l| l.starts_with(&format!("{name} "))).expect("a row");
        assert!(line.contains(&format!(" {}-", writers[name])), "{name} owned by {}: {line}", writers[name]);
    }
    for daemon in [&mut alpha, &mut beta, &mut gamma] {
        daemon.assert_running();
    }
}

/// The replica that wrote to `scaler` last in `log`.
fn owners_before(log: &[RequestRecord], scaler: &str) -> Option<String> {
    scaler_writes(log).into_iter().rev().find(|(s, _, _)| s == scaler).map(|(_, r, _)| r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replicas_scalers_are_taken_over_and_a_stopped_one_hands_over_at_once() {
    let cluster = Cluster::start().await;
    let load = Load::new(100.0);
    let names = scalers(&cluster, &load, 9).await;
    let mut daemons: Vec<Daemon> =
        ["alpha", "beta", "gamma"].into_iter().map(|n| cluster.daemon(n, &FLAGS)).collect();
    all_at(&cluster, &names, 2, SECONDS(40)).await;
    settled(&cluster, 3).await;
    let mut writers = BTreeMap::new();
    for value in [200.0, 100.0, 300.0] {
        writers = one_writer_each(&cluster, &load, &names, value).await;
        if writers.values().collect::<BTreeSet<_>>().len() == 3 {
            break;
        }
    }
    let mut log = cluster.sandbox.requests();

    // SIGKILL: its scalers follow the next change through the others, within the lease and a tick.
    let dead = writers.values().next().unwrap().clone();
    let index = ["alpha", "beta", "gamma"].iter().position(|n| *n == dead).unwrap();
    daemons[index].kill();
    let killed = Timestamp::now();
    let after = one_writer_each(&cluster, &load, &names, 100.0).await;
    log.extend(cluster.sandbox.requests());
    for (name, writer) in &after {
        assert_ne!(writer, &dead, "{name} still written by the killed replica");
    }
    let took = scaler_writes(&cluster.sandbox.requests())
        .into_iter()
        .filter(|(s, _, _)| writers[s] == dead)
        .map(|(_, _, at)| at)
        .max()
        .unwrap();
    assert!(
        took < killed + SignedDuration::from_secs(12),
        "taken over within the lease and a few ticks: {}",
        took.duration_since(killed)
    );

    // SIGTERM: the Lease is deleted after the reconciles drain, and the last one takes everything.
    let next = after.values().next().unwrap().clone();
    let index = ["alpha", "beta", "gamma"].iter().position(|n| *n == next).unwrap();
    let status = daemons[index].terminate(SECONDS(15)).expect("exits on SIGTERM");
    assert!(status.success(), "{status:?}");
    eventually("one member lease", SECONDS(5), || async { member_leases(&cluster).await <= 2 }).await;
    let last = one_writer_each(&cluster, &load, &names, 200.0).await;
    log.extend(cluster.sandbox.requests());
    let left: BTreeSet<&String> = last.values().collect();
    assert_eq!(left.len(), 1, "one replica left decides for all: {last:?}");
    writers_in_turn(&log);
}

/// A replica whose Lease renewals hang while its scalers keep changing: no write of its reaches the
/// API after its renew deadline, and none after the other replica started on its scalers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_cannot_renew_stops_writing_before_another_may_start() {
    let cluster = Cluster::start().await;
    let load = Load::new(100.0);
    let names = scalers(&cluster, &load, 8).await;
    let mut alpha = cluster.daemon("alpha", &FLAGS);
    let mut beta = cluster.daemon("beta", &FLAGS);
    all_at(&cluster, &names, 2, SECONDS(40)).await;
    settled(&cluster, 2).await;
    let mut writers = BTreeMap::new();
    for value in [200.0, 100.0, 300.0] {
        writers = one_writer_each(&cluster, &load, &names, value).await;
        if writers.values().collect::<BTreeSet<_>>().len() == 2 {
            break;
        }
    }
    let alphas: Vec<&String> = writers.iter().filter(|(_, w)| *w == "alpha").map(|(n, _)| n).collect();
    assert!(!alphas.is_empty(), "alpha has a share: {writers:?}");

    // Alpha's own Lease stops answering; its scalers' load keeps moving.
    cluster.sandbox.clear_requests();
    let faults = cluster.sandbox.faults();
    faults.latency(FaultMatch::any().path("/leases/gscale-member-alpha"), SECONDS(60));
    let faulted = Timestamp::now();
    for value in [100.0, 250.0, 150.0, 300.0, 100.0, 200.0, 350.0, 100.0, 250.0] {
        load.set(value);
        tokio::time::sleep(SECONDS(1)).await;
    }
    all_at(&cluster, &names, 5, SECONDS(40)).await;

    let log = cluster.sandbox.requests();
    let renewed = log
        .iter()
        .filter(|r| r.resource == "leases" && r.name.starts_with("gscale-member-alpha"))
        .filter(|r| r.verb == "update" && r.status < 300)
        .map(|r| r.at)
        .max()
        .unwrap_or(faulted - SignedDuration::from_secs(1));
    // Alpha's fence closes two thirds of the 3 s lease after its last renewal was sent; another
    // may take over once it saw no renewal for the lease. A request already on the wire at the
    // fence may arrive a moment later on a loaded machine, never past the lease.
    let may_take_over = renewed + SignedDuration::from_secs(3);
    let writes = scaler_writes(&log);
    let late: Vec<_> = writes.iter().filter(|(_, r, at)| r == "alpha" && *at >= may_take_over).collect();
    assert!(late.is_empty(), "alpha wrote after another may take over ({may_take_over}): {late:#?}");
    let last_alpha = writes.iter().filter(|(_, r, _)| r == "alpha").map(|(_, _, at)| *at).max();
    let taken = writes
        .iter()
        .filter(|(s, r, _)| r == "beta" && alphas.contains(&s))
        .map(|(_, _, at)| *at)
        .min()
        .expect("beta took alpha's scalers over");
    // Beta may start once it has seen no renewal of alpha's for the lease: after alpha's fence.
    assert!(
        taken >= may_take_over,
        "beta started on alpha's scalers at {taken}, within the lease of alpha's last renewal {renewed}"
    );
    assert!(
        last_alpha.is_none_or(|last| last < taken),
        "alpha's last write {last_alpha:?} after beta's first {taken}"
    );
    alpha.assert_running();
    beta.assert_running();
}

/// A member that acts goes on acting on the scalers it keeps while another joins: the joiner waits
/// for the others' acknowledgement, never the others for the joiner's. (Acting was once taken from
/// every member until the joiner's Lease acknowledged it, a renewal later: with a 15 s lease, each
/// join stalled every replica's scalers for up to 5 s, and for as long as a joiner could not renew.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_never_stalls_the_members_already_acting() {
    const LONG: [&str; 4] = ["--shards", "auto", "--lease-duration", "15"];
    let cluster = Cluster::start().await;
    let load = Load::new(100.0);
    let names = scalers(&cluster, &load, 12).await;
    let mut alpha = cluster.daemon("alpha", &LONG);
    all_at(&cluster, &names, 2, SECONDS(40)).await;

    // Beta joins, but its renewals (which would acknowledge alpha) hang; the load alternates every
    // 1.5 s for 12 s, so every decision writes.
    cluster.sandbox.clear_requests();
    let faults = cluster.sandbox.faults();
    let hung =
        faults.latency(FaultMatch::any().verb("update").path("/leases/gscale-member-beta"), SECONDS(30));
    let mut beta = cluster.daemon("beta", &LONG);
    let started = Timestamp::now();
    for value in [150.0, 100.0, 150.0, 100.0, 150.0, 100.0, 150.0, 100.0] {
        load.set(value);
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    let ended = Timestamp::now() - SignedDuration::from_millis(1500);
    let log = cluster.sandbox.requests();
    faults.remove(hung);
    settled(&cluster, 2).await;
    let owners = owners_by_ring(&cluster, &names).await;
    assert!(owners.values().any(|o| o == "beta"), "beta owns a share: {owners:?}");

    // Every scaler alpha keeps was written by alpha throughout: no gap of more than 3 s.
    let writes = scaler_writes(&log);
    for name in owners.iter().filter(|(_, o)| *o == "alpha").map(|(n, _)| n) {
        let mut times: Vec<Timestamp> =
            writes.iter().filter(|(s, r, _)| s == name && r == "alpha").map(|(_, _, at)| *at).collect();
        times.insert(0, started);
        times.push(ended);
        times.sort();
        let gap = times.windows(2).map(|w| w[1].duration_since(w[0])).max().unwrap();
        assert!(
            gap < SignedDuration::from_secs(3),
            "{name} (alpha's throughout) went {gap} without a write of alpha's while beta joined: {times:?}"
        );
    }
    writers_in_turn(&log);
    alpha.assert_running();
    beta.assert_running();
}
