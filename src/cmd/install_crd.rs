//! `gscale install-crd`: server-side apply of the GeneralScaler CRD, then wait until Established.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};

use crate::api::{CRD_NAME, crd, crd_yaml};
use crate::cli::{InstallCrdArgs, KubeFlags, exit};
use crate::output;

/// The field manager gscale applies with.
pub const FIELD_MANAGER: &str = "gscale";

pub async fn run(args: &InstallCrdArgs, kube: &KubeFlags) -> anyhow::Result<u8> {
    if args.print {
        super::input::print(&crd_yaml())?;
        return Ok(exit::OK);
    }
    let (client, server) = super::client(kube).await?;
    let api: Api<CustomResourceDefinition> = Api::all(client);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(CRD_NAME, &params, &Patch::Apply(crd())).await.map_err(|e| {
        super::explain_kube_error(e, &format!("apply customresourcedefinitions/{CRD_NAME}"), &server)
    })?;
    if args.wait > 0 {
        wait_established(&api, Duration::from_secs(args.wait), &server).await?;
    }
    eprintln!("customresourcedefinition/{CRD_NAME} applied and established");
    Ok(exit::OK)
}

pub(super) async fn wait_established(
    api: &Api<CustomResourceDefinition>,
    timeout: Duration,
    server: &str,
) -> anyhow::Result<()> {
    let spinner = output::progress_stderr().then(|| {
        let bar = indicatif::ProgressBar::new_spinner()
            .with_message(format!("waiting for {CRD_NAME} to be Established"));
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    });
    let established = await_condition(api.clone(), CRD_NAME, conditions::is_crd_established());
    let result = tokio::time::timeout(timeout, established).await;
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    match result {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(super::failed(
            format_args!("lost the watch on {CRD_NAME} at {server}"),
            &e,
            "run gscale install-crd again; the apply itself succeeded",
        )),
        Err(_) => Err(anyhow::anyhow!(
            "the CRD was applied but is not Established after {}s\nhint: `kubectl describe crd {CRD_NAME}` shows why (a name conflict, an API server still starting)",
            timeout.as_secs()
        )),
    }
}
