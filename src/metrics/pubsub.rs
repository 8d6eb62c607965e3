//! The Google Cloud Pub/Sub source: a subscription's backlog or oldest unacked age.
//!
//! The subscription is checked through the Pub/Sub admin API (`SubscriptionAdmin::get_subscription`),
//! then the value is the latest point of the Cloud Monitoring series
//! `pubsub.googleapis.com/subscription/num_undelivered_messages` (or `oldest_unacked_message_age`)
//! from `projects.timeSeries.list`, as Google reports it. Both clients are the official
//! google-cloud-rust crates (behind the `pubsub` cargo feature), built once per endpoint and
//! credentials and reused.
//!
//! Endpoints: `PUBSUB_EMULATOR_HOST` (or [`super::Settings::pubsub_endpoint`]) and
//! `GSCALE_MONITORING_ENDPOINT` (or [`super::Settings::monitoring_endpoint`]). Credentials: the
//! service-account JSON key in `credentialsSecret`, else Application Default Credentials; a plaintext
//! `http://` endpoint (an emulator or a local stand-in) is always called anonymously, so that no token
//! ever travels in clear. [`latest_point`] and [`history_points`] are pure.
//!
//! A forecasting scaler's past backlog comes from the same Monitoring series over days (Monitoring
//! keeps six weeks), aligned to one mean a minute, page by page.

use crate::api::{MetricType, PubSubMode};

use super::error::{Problem, Target};

/// The Monitoring metric type for a mode.
pub fn metric_type(mode: PubSubMode) -> &'static str {
    match mode {
        PubSubMode::Backlog => "pubsub.googleapis.com/subscription/num_undelivered_messages",
        PubSubMode::OldestUnackedAge => "pubsub.googleapis.com/subscription/oldest_unacked_message_age",
    }
}

/// The Monitoring filter selecting one subscription's series.
pub fn filter(mode: PubSubMode, subscription_id: &str) -> String {
    format!(
        "metric.type = \"{}\" AND resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"{}\"",
        metric_type(mode),
        subscription_id
    )
}

/// The target of a Pub/Sub read, for messages and dedup.
pub fn target(project_id: &str, subscription_id: &str, mode: PubSubMode) -> Target {
    let what = match mode {
        PubSubMode::Backlog => "backlog",
        PubSubMode::OldestUnackedAge => "oldest unacked age",
    };
    Target {
        kind: MetricType::Pubsub,
        backend: format!("projects/{project_id}"),
        query: format!("subscription `{subscription_id}` {what}"),
    }
}

/// `host:port` or a URL, as a URL (the emulator variable is written without a scheme).
pub fn endpoint_url(endpoint: &str) -> String {
    if endpoint.contains("://") {
        endpoint.trim_end_matches('/').to_owned()
    } else {
        format!("http://{endpoint}")
    }
}

/// A point reduced to what the parser needs: its end time (seconds) and value.
#[derive(Clone, Debug, PartialEq)]
pub enum PointValue {
    /// An integer point (both Pub/Sub series are INT64).
    Int(i64),
    /// A double point.
    Double(f64),
    /// Anything else, described.
    Other(String),
}

/// The value of the newest point of the one series; no series, no point or several series are errors.
pub fn latest_point(series: &[Vec<(i64, PointValue)>]) -> Result<f64, Problem> {
    let points = match series {
        [] => {
            return Err(Problem::NoData(
                "no time series (no data in the last 10 minutes, or no such subscription in Monitoring)"
                    .into(),
            ));
        }
        [one] => one,
        several => {
            return Err(Problem::Ambiguous(format!("{} time series where one is expected", several.len())));
        }
    };
    let (_, value) = points
        .iter()
        .max_by_key(|(end, _)| *end)
        .ok_or_else(|| Problem::NoData("time series without points".into()))?;
    match value {
        PointValue::Int(n) if *n >= 0 => Ok(*n as f64),
        PointValue::Int(n) => Err(Problem::InvalidValue(format!("negative value {n}"))),
        PointValue::Double(x) => super::number::check(*x),
        PointValue::Other(what) => {
            Err(Problem::InvalidValue(format!("{what} point where a number is expected")))
        }
    }
}

/// The points of a history read (the pages' series joined), oldest first: no series is no history;
/// several series are an error (the filter names one subscription); a point that is not a number
/// >= 0 is skipped, as no data is not zero.
pub fn history_points(series: &[Vec<(i64, PointValue)>]) -> Result<Vec<(i64, f64)>, Problem> {
    let points = match series {
        [] => return Ok(Vec::new()),
        [one] => one,
        several => {
            return Err(Problem::Ambiguous(format!("{} time series where one is expected", several.len())));
        }
    };
    let mut points: Vec<(i64, f64)> = points
        .iter()
        .filter_map(|(end, value)| match value {
            PointValue::Int(n) if *n >= 0 => Some((*end, *n as f64)),
            PointValue::Double(x) if x.is_finite() && *x >= 0.0 => Some((*end, *x)),
            _ => None,
        })
        .collect();
    points.sort_by_key(|(end, _)| *end);
    points.dedup_by_key(|(end, _)| *end);
    Ok(points)
}

#[cfg(feature = "pubsub")]
pub(crate) use client::GcpClients;
#[cfg(feature = "pubsub")]
pub use client::{PubSubQuery, points_of};

#[cfg(feature = "pubsub")]
mod client {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use google_cloud_auth::credentials::{self, Credentials};
    use google_cloud_gax::retry_policy::NeverRetry;
    use google_cloud_monitoring_v3::client::MetricService;
    use google_cloud_monitoring_v3::model::{
        Aggregation, ListTimeSeriesResponse, TimeInterval, aggregation, list_time_series_request,
    };
    use google_cloud_pubsub::client::SubscriptionAdmin;
    use tokio::sync::OnceCell;

    use super::super::MetricSource;
    use super::super::error::{MetricError, Target, bytes, snippet};
    use super::super::transport::SecretString;
    use super::{PointValue, filter, history_points, latest_point};
    use crate::api::PubSubMode;

    /// The two clients one read uses.
    #[derive(Clone, Debug)]
    pub struct Clients {
        admin: SubscriptionAdmin,
        monitoring: MetricService,
        /// Subscriptions the admin API confirmed, and when.
        confirmed: Arc<Mutex<HashMap<String, Instant>>>,
    }

    /// One Pub/Sub read, ready to send.
    #[derive(Clone, Debug)]
    pub struct PubSubQuery {
        pub(crate) target: Target,
        pub(crate) clients: Clients,
        pub(crate) project_id: String,
        pub(crate) subscription_id: String,
        pub(crate) mode: PubSubMode,
        /// How long a confirmed subscription is not checked again.
        pub(crate) check_interval: Duration,
    }

    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    struct ClientKey {
        pubsub_endpoint: Option<String>,
        monitoring_endpoint: Option<String>,
        credentials: Option<u64>,
    }

    /// Admin and Monitoring clients, one pair per endpoints and credentials, built on first use.
    #[derive(Default)]
    pub(crate) struct GcpClients {
        clients: Mutex<HashMap<ClientKey, Arc<OnceCell<Clients>>>>,
    }

    fn credentials_for(
        endpoint: Option<&str>,
        key: Option<&SecretString>,
        target: &Target,
    ) -> Result<Credentials, MetricError> {
        if endpoint.is_some_and(|endpoint| endpoint.starts_with("http://")) {
            return Ok(credentials::anonymous::Builder::new().build());
        }
        let auth = |detail: String| MetricError::Auth { target: target.clone(), detail };
        match key {
            Some(key) => {
                let json: serde_json::Value = serde_json::from_str(key.expose())
                    .map_err(|_| auth("credentialsSecret is not a JSON service-account key".into()))?;
                credentials::service_account::Builder::new(json)
                    .build()
                    .map_err(|err| auth(format!("service-account key rejected: {err}")))
            }
            None => credentials::Builder::default()
                .build()
                .map_err(|err| auth(format!("no Application Default Credentials: {err}"))),
        }
    }

    impl GcpClients {
        /// The clients for these endpoints and credentials.
        pub async fn get(
            &self,
            pubsub_endpoint: Option<&str>,
            monitoring_endpoint: Option<&str>,
            key: Option<&SecretString>,
            target: &Target,
        ) -> Result<Clients, MetricError> {
            let pubsub_endpoint = pubsub_endpoint.map(super::endpoint_url);
            let monitoring_endpoint = monitoring_endpoint.map(super::endpoint_url);
            let client_key = ClientKey {
                pubsub_endpoint: pubsub_endpoint.clone(),
                monitoring_endpoint: monitoring_endpoint.clone(),
                credentials: key.map(SecretString::fingerprint),
            };
            let cell = {
                let mut clients = self.clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                clients.entry(client_key).or_default().clone()
            };
            let clients = cell
                .get_or_try_init(|| async {
                    let invalid = |what: &str, err: String| MetricError::InvalidSource {
                        kind: "pubsub",
                        detail: format!("{what} client: {}", snippet(&err, 200)),
                    };
                    let mut admin = SubscriptionAdmin::builder()
                        .with_credentials(credentials_for(pubsub_endpoint.as_deref(), key, target)?)
                        .with_retry_policy(NeverRetry);
                    if let Some(endpoint) = &pubsub_endpoint {
                        admin = admin.with_endpoint(endpoint);
                    }
                    let admin =
                        admin.build().await.map_err(|err| invalid("pubsub admin", err.to_string()))?;
                    let mut monitoring = MetricService::builder()
                        .with_credentials(credentials_for(monitoring_endpoint.as_deref(), key, target)?)
                        .with_retry_policy(NeverRetry);
                    if let Some(endpoint) = &monitoring_endpoint {
                        monitoring = monitoring.with_endpoint(endpoint);
                    }
                    let monitoring =
                        monitoring.build().await.map_err(|err| invalid("monitoring", err.to_string()))?;
                    Ok::<_, MetricError>(Clients { admin, monitoring, confirmed: Arc::default() })
                })
                .await?;
            Ok(clients.clone())
        }
    }

    /// A Google API failure in words of our own: the gRPC code, the HTTP status and how long the
    /// service's message was, never the message (a backend's words never reach status).
    fn gax_error(target: &Target, what: &str, err: &google_cloud_gax::error::Error) -> MetricError {
        let target = target.clone();
        let status = err.status().map(|status| (status.code, status.message.len()));
        let http = err.http_status_code();
        let mut detail = what.to_owned();
        if let Some((code, size)) = &status {
            detail.push_str(&format!(": {} (its message, {}, not shown)", code.name(), bytes(*size as u64)));
        }
        if let Some(http) = http {
            detail.push_str(&format!(", http {http}"));
        }
        use google_cloud_gax::error::rpc::Code;
        let code = status.as_ref().map(|(code, _)| *code);
        let (kind, error): (&str, fn(Target, String) -> MetricError) = if err.is_authentication()
            || matches!(code, Some(Code::Unauthenticated | Code::PermissionDenied))
            || matches!(http, Some(401 | 403))
        {
            ("authentication", |target, detail| MetricError::Auth { target, detail })
        } else if err.is_connect() || err.is_io() || err.is_transport() || err.is_timeout() {
            ("transport", |target, detail| MetricError::Unreachable { target, detail })
        } else if err.is_deserialization() {
            ("unreadable reply", |target, detail| MetricError::BadReply { target, detail })
        } else {
            ("service", |target, detail| MetricError::Backend { target, detail })
        };
        if status.is_none() && http.is_none() {
            // Nothing came back: the failure is the connection's, in the transport's own words.
            let local = if kind == "transport" {
                format!(" ({})", snippet(&err.to_string(), 200))
            } else {
                String::new()
            };
            detail.push_str(&format!(": {kind} error{local}"));
        }
        error(target, detail)
    }

    /// The series of a Monitoring reply as (end time, value) points.
    pub fn points_of(reply: &ListTimeSeriesResponse) -> Vec<Vec<(i64, PointValue)>> {
        use google_cloud_monitoring_v3::model::typed_value::Value;
        reply
            .time_series
            .iter()
            .map(|series| {
                series
                    .points
                    .iter()
                    .map(|point| {
                        let end = point
                            .interval
                            .as_ref()
                            .and_then(|i| i.end_time.as_ref())
                            .map_or(0, |t| t.seconds());
                        let value = match point.value.as_ref().and_then(|v| v.value.as_ref()) {
                            Some(Value::Int64Value(n)) => PointValue::Int(*n),
                            Some(Value::DoubleValue(x)) => PointValue::Double(*x),
                            Some(Value::BoolValue(_)) => PointValue::Other("boolean".into()),
                            Some(Value::StringValue(_)) => PointValue::Other("string".into()),
                            Some(Value::DistributionValue(_)) => PointValue::Other("distribution".into()),
                            Some(_) => PointValue::Other("unknown".into()),
                            None => PointValue::Other("empty".into()),
                        };
                        (end, value)
                    })
                    .collect()
            })
            .collect()
    }

    /// Pages one history read follows at most (a day of minutes is one page of the real API).
    const HISTORY_PAGES: usize = 64;
    /// Points asked for per page.
    const PAGE_POINTS: i32 = 10_000;
    /// Points asked for by a latest read (the last ten minutes hold ten).
    const LATEST_POINTS: i32 = 100;

    fn wkt_time(t: jiff::Timestamp) -> google_cloud_wkt::Timestamp {
        google_cloud_wkt::Timestamp::clamp(t.as_second(), 0)
    }

    impl PubSubQuery {
        /// A `projects.timeSeries.list` of this subscription's series between `start` and `end`.
        fn series_between(
            &self,
            start: jiff::Timestamp,
            end: jiff::Timestamp,
        ) -> google_cloud_monitoring_v3::builder::metric_service::ListTimeSeries {
            let interval = TimeInterval::new().set_start_time(wkt_time(start)).set_end_time(wkt_time(end));
            self.clients
                .monitoring
                .list_time_series()
                .set_name(format!("projects/{}", self.project_id))
                .set_filter(filter(self.mode, &self.subscription_id))
                .set_interval(interval)
                .set_view(list_time_series_request::TimeSeriesView::Full)
        }

        /// The series between `start` and `end`, one mean a minute, oldest first, following
        /// `nextPageToken` (at most [`HISTORY_PAGES`] pages: a reply that keeps paging is an error).
        pub async fn history(
            &self,
            start: jiff::Timestamp,
            end: jiff::Timestamp,
        ) -> Result<Vec<(jiff::Timestamp, f64)>, MetricError> {
            let minute = google_cloud_wkt::Duration::clamp(60, 0);
            let aggregation = Aggregation::new()
                .set_alignment_period(minute)
                .set_per_series_aligner(aggregation::Aligner::AlignMean);
            // Each series by its metric and resource labels: a page may end inside one series and
            // the next go on with it.
            let mut series: Vec<(String, Vec<(i64, PointValue)>)> = Vec::new();
            let mut token = String::new();
            for _ in 0..HISTORY_PAGES {
                let reply = self
                    .series_between(start, end)
                    .set_aggregation(aggregation.clone())
                    .set_page_size(PAGE_POINTS)
                    .set_page_token(token.clone())
                    .send()
                    .await
                    .map_err(|err| gax_error(&self.target, "monitoring", &err))?;
                for (one, points) in reply.time_series.iter().zip(points_of(&reply)) {
                    let labels = format!("{:?} {:?}", one.metric, one.resource);
                    match series.iter_mut().find(|(known, _)| *known == labels) {
                        Some((_, known)) => known.extend(points),
                        None => series.push((labels, points)),
                    }
                }
                if reply.next_page_token.is_empty() {
                    let series: Vec<_> = series.into_iter().map(|(_, points)| points).collect();
                    let points = history_points(&series).map_err(|problem| problem.at(&self.target))?;
                    return Ok(points
                        .into_iter()
                        .filter_map(|(end, v)| Some((jiff::Timestamp::from_second(end).ok()?, v)))
                        .collect());
                }
                token = reply.next_page_token;
            }
            Err(MetricError::BadReply {
                target: self.target.clone(),
                detail: format!("monitoring: still paging after {HISTORY_PAGES} pages"),
            })
        }

        async fn check_subscription(&self, name: &str) -> Result<(), MetricError> {
            self.clients.admin.get_subscription().set_subscription(name).send().await.map_err(|err| {
                if err.status().is_some_and(|s| s.code == google_cloud_gax::error::rpc::Code::NotFound)
                    || err.http_status_code() == Some(404)
                {
                    MetricError::Backend {
                        target: self.target.clone(),
                        detail: format!("subscription {name} not found (check projectId and subscriptionId)"),
                    }
                } else {
                    gax_error(&self.target, "pubsub admin", &err)
                }
            })?;
            Ok(())
        }
    }

    impl MetricSource for PubSubQuery {
        fn target(&self) -> &Target {
            &self.target
        }

        async fn read(&self) -> Result<f64, MetricError> {
            let name = format!("projects/{}/subscriptions/{}", self.project_id, self.subscription_id);
            let confirmed = {
                let confirmed =
                    self.clients.confirmed.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                confirmed.get(&name).is_some_and(|at| at.elapsed() < self.check_interval)
            };
            if !confirmed {
                self.check_subscription(&name).await?;
                let mut confirmed =
                    self.clients.confirmed.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                confirmed.insert(name, Instant::now());
            }
            let now = jiff::Timestamp::now();
            let start = now - jiff::SignedDuration::from_mins(10);
            // The google-cloud clients read a whole reply and take no cap; a page of at most 100
            // points (ten minutes hold ten) is what bounds a conforming service's reply.
            let reply = self
                .series_between(start, now)
                .set_page_size(LATEST_POINTS)
                .send()
                .await
                .map_err(|err| gax_error(&self.target, "monitoring", &err))?;
            latest_point(&points_of(&reply)).map_err(|problem| problem.at(&self.target))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_point_of_one_series() {
        let series =
            vec![vec![(100, PointValue::Int(7)), (160, PointValue::Int(9)), (40, PointValue::Int(1))]];
        assert_eq!(latest_point(&series), Ok(9.0));
        assert!(matches!(latest_point(&[]), Err(Problem::NoData(_))));
        assert!(matches!(latest_point(&[vec![]]), Err(Problem::NoData(_))));
        assert!(matches!(latest_point(&[vec![], vec![]]), Err(Problem::Ambiguous(_))));
        assert!(matches!(latest_point(&[vec![(1, PointValue::Int(-2))]]), Err(Problem::InvalidValue(_))));
        assert!(matches!(
            latest_point(&[vec![(1, PointValue::Double(f64::NAN))]]),
            Err(Problem::InvalidValue(_))
        ));
        assert!(matches!(
            latest_point(&[vec![(1, PointValue::Other("string".into()))]]),
            Err(Problem::InvalidValue(_))
        ));
    }

    #[test]
    fn history_points_join_one_series_oldest_first() {
        let series = vec![vec![
            (180, PointValue::Int(9)),
            (60, PointValue::Double(2.5)),
            (120, PointValue::Int(-1)),
            (120, PointValue::Other("string".into())),
            (240, PointValue::Double(f64::NAN)),
            (60, PointValue::Int(3)),
        ]];
        assert_eq!(history_points(&series), Ok(vec![(60, 2.5), (180, 9.0)]));
        assert_eq!(history_points(&[]), Ok(vec![]), "no series: no history, not an error");
        assert!(matches!(history_points(&[vec![], vec![]]), Err(Problem::Ambiguous(_))));
    }

    #[test]
    fn endpoints_and_filters() {
        assert_eq!(endpoint_url("127.0.0.1:8085"), "http://127.0.0.1:8085");
        assert_eq!(endpoint_url("https://monitoring.example/"), "https://monitoring.example");
        assert!(filter(PubSubMode::Backlog, "jobs").contains("resource.labels.subscription_id = \"jobs\""));
        assert!(filter(PubSubMode::OldestUnackedAge, "jobs").contains("oldest_unacked_message_age"));
    }

    // Recorded from the Cloud Monitoring REST API (projects.timeSeries.list, view FULL).
    #[cfg(feature = "pubsub")]
    #[test]
    fn recorded_monitoring_reply() {
        let reply = r#"{"timeSeries":[{"metric":{"type":"pubsub.googleapis.com/subscription/num_undelivered_messages"},
            "resource":{"type":"pubsub_subscription","labels":{"project_id":"demo","subscription_id":"jobs"}},
            "metricKind":"GAUGE","valueType":"INT64","points":[
              {"interval":{"startTime":"2026-11-27T03:01:00Z","endTime":"2026-11-27T03:01:00Z"},"value":{"int64Value":"250"}},
              {"interval":{"startTime":"2026-11-27T03:00:00Z","endTime":"2026-11-27T03:00:00Z"},"value":{"int64Value":"180"}}]}],
            "unit":"1"}"#;
        let reply: google_cloud_monitoring_v3::model::ListTimeSeriesResponse =
            serde_json::from_str(reply).unwrap();
        assert_eq!(latest_point(&points_of(&reply)), Ok(250.0));
        let empty: google_cloud_monitoring_v3::model::ListTimeSeriesResponse =
            serde_json::from_str("{}").unwrap();
        assert!(matches!(latest_point(&points_of(&empty)), Err(Problem::NoData(_))));
    }
}
