//! `gscale status`: the table of scalers (`-n`, `-A`, `-l`, `-o wide|json|yaml`, `--watch`), and
//! one scaler in detail (`gscale status NAME`).
//!
//! Reads only: the scalers and their status as the daemon wrote them, and Events about them.

use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, ListParams};

use super::{UsageError, client, explain_kube_error, input};
use crate::api::GeneralScaler;
use crate::cli::{KubeFlags, OutputFormat, StatusArgs, exit};
use crate::output;
use crate::output::status::{TableOptions, render_detail, render_table_owned};
use gscale_manifest::yaml;

/// How often `--watch` reads the scalers again.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// Run `gscale status`.
pub async fn run(args: &StatusArgs, flags: &KubeFlags) -> anyhow::Result<u8> {
    if args.all_namespaces && args.namespace.is_some() {
        return Err(UsageError("-n and -A contradict each other\nhint: pick one".into()).into());
    }
    if args.name.is_some() && (args.all_namespaces || args.selector.is_some()) {
        return Err(UsageError(
            "a NAME shows one scaler; -A and -l select many\nhint: drop NAME to list, or drop -A/-l".into(),
        )
        .into());
    }
    let (client, server) = client(flags).await?;
    let namespace = args.namespace.clone().unwrap_or_else(|| client.default_namespace().to_string());
    let api: Api<GeneralScaler> = if args.all_namespaces {
        Api::all(client.clone())
    } else {
        Api::namespaced(client.clone(), &namespace)
    };
    let explain = |e: kube::Error| match e {
        kube::Error::Api(s) if s.code == 404 => {
            anyhow::anyhow!("generalscaler CRD not found\nhint: run gscale install-crd")
        }
        other => explain_kube_error(other, "read generalscalers", &server),
    };
    let tty = std::io::stdout().is_terminal();
    let color = output::color_stdout();

    let mut last = String::new();
    let mut first_frame = true;
    loop {
        let text = if let Some(name) = &args.name {
            let scaler = api.get_opt(name).await.map_err(explain)?.ok_or_else(|| {
                anyhow::anyhow!(
                    "generalscaler {name} not found in namespace {namespace}\nhint: `gscale status -A` lists every scaler"
                )
            })?;
            match args.output {
                OutputFormat::Json => format!("{}\n", serde_json::to_string_pretty(&scaler)?),
                OutputFormat::Yaml => yaml::to_string(&serde_json::to_value(&scaler)?),
                _ => {
                    let events = events_about(&client, &scaler).await;
                    render_detail(&scaler, &events, output::terminal_width(), input::wall_now()?)
                }
            }
        } else {
            let mut params = ListParams::default();
            if let Some(selector) = &args.selector {
                params = params.labels(selector);
            }
            let mut scalers = api.list(&params).await.map_err(explain)?.items;
            scalers.sort_by_key(|a| (a.namespace(), a.name_any()));
            match args.output {
                OutputFormat::Json => format!("{}\n", serde_json::to_string_pretty(&list(&scalers))?),
                OutputFormat::Yaml => yaml::to_string(&list(&scalers)),
                OutputFormat::Table | OutputFormat::Wide => {
                    let wide = args.output == OutputFormat::Wide;
                    let ring = if wide { member_ring(&client).await } else { None };
                    let owner = |scaler: &GeneralScaler| {
                        let uid = scaler.uid().unwrap_or_default();
                        ring.as_ref().and_then(|r| r.owner(&uid)).unwrap_or("-").to_string()
                    };
                    let owner: Option<&dyn Fn(&GeneralScaler) -> String> = ring.is_some().then_some(&owner);
                    let text = render_table_owned(
                        &scalers,
                        &TableOptions {
                            width: if wide { 400 } else { output::terminal_width() },
                            namespaces: args.all_namespaces,
                            wide,
                            color,
                            now: input::wall_now()?,
                        },
                        owner,
                    );
                    if scalers.is_empty() && !args.all_namespaces {
                        format!("no generalscalers found in namespace {namespace}\n")
                    } else {
                        text
                    }
                }
            }
        };
        let mut stdout = std::io::stdout().lock();
        if !args.watch {
            stdout.write_all(text.as_bytes())?;
            return Ok(exit::OK);
        }
        if tty {
            // Redraw in place: home, the frame, then clear whatever the last frame left below.
            let stamp = Timestamp::now().strftime("%H:%M:%S");
            let frame = text.replace('\n', "\x1b[K\n");
            // The screen is cleared once; later frames overwrite in place (no flicker).
            let clear = if first_frame { "\x1b[2J" } else { "" };
            first_frame = false;
            write!(
                stdout,
                "\x1b[H{clear}{frame}\x1b[J\nevery {}s, {stamp}; Ctrl-C to stop\x1b[K",
                WATCH_INTERVAL.as_secs()
            )?;
            stdout.flush()?;
        } else if text != last {
            // Not a terminal: a new block only when something changed, so a log stays readable.
            writeln!(stdout, "--- {}", Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ"))?;
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
        }
        drop(stdout);
        last = text;
        tokio::select! {
            _ = tokio::time::sleep(WATCH_INTERVAL) => {}
            _ = tokio::signal::ctrl_c() => {
                if tty {
                    super::input::print("\n")?;
                }
                return Ok(exit::OK);
            }
        }
    }
}

/// The live members of automatic shards (`gscale run --shards auto`) from their Leases in every
/// namespace; `None` when there are none or they cannot be read (then there is no OWNER column).
async fn member_ring(client: &kube::Client) -> Option<crate::controller::members::Ring> {
    use crate::controller::members::{GROUP, MEMBER_LABEL, ring_from_leases};
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::all(client.clone());
    let params = ListParams::default().labels(&format!("{MEMBER_LABEL}={GROUP}"));
    match leases.list(&params).await {
        Ok(list) if list.items.is_empty() => None,
        Ok(list) => Some(ring_from_leases(&list.items, Timestamp::now())),
        Err(e) => {
            tracing::debug!(error = %e, "member leases not readable: no OWNER column");
            None
        }
    }
}

/// A kubectl-style List of the scalers.
fn list(scalers: &[GeneralScaler]) -> serde_json::Value {
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": scalers})
}

/// Events about one scaler; none when they cannot be read (the rest of the view still helps).
async fn events_about(client: &kube::Client, scaler: &GeneralScaler) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(client.clone(), &scaler.namespace().unwrap_or_default());
    let name = scaler.name_any();
    match api.list(&ListParams::default()).await {
        Ok(list) => list
            .items
            .into_iter()
            .filter(|e| {
                e.regarding.as_ref().is_some_and(|r| {
                    r.name.as_deref() == Some(name.as_str()) && r.kind.as_deref() == Some(crate::api::KIND)
                })
            })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list Events; showing the scaler without them");
            Vec::new()
        }
    }
}
