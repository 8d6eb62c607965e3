//! The metric sources' counters, per source type (`source` label): the fetcher keeps them as
//! atomics of its own, and this collector reads a snapshot of them at each scrape.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

use crate::api::MetricType as SourceType;
use crate::metrics::{Fetcher, LATENCY_BUCKETS, SourceStats};

/// A source type's label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: &'static str,
}

/// Reads the fetcher's counters at each scrape.
pub(super) struct SourceCollector(pub(super) Fetcher);

impl std::fmt::Debug for SourceCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SourceCollector")
    }
}

type Pick = fn(&SourceStats) -> u64;

impl Collector for SourceCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.0.stats();
        let counters: [(&str, &str, Pick); 4] = [
            ("gscale_metric_fetches", "Metric readings asked for", |s| s.fetches),
            ("gscale_metric_queries", "Queries sent to metric backends", |s| s.queries),
            ("gscale_metric_fetch_errors", "Metric readings that failed", |s| s.errors),
            (
                "gscale_metric_dedup_hits",
                "Readings shared with an identical query of the same interval",
                |s| s.dedup_hits,
            ),
        ];
        for (name, help, pick) in counters {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for kind in SourceType::ALL {
                let counter = ConstCounter::new(pick(stats.of(kind)));
                counter.encode(family.encode_family(&SourceLabel { source: kind.as_str() })?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "gscale_metric_fetch_duration_seconds",
            "Time to read one metric",
            None,
            MetricType::Histogram,
        )?;
        for kind in SourceType::ALL {
            let s = stats.of(kind);
            // The fetcher counts cumulatively, the encoder per bucket (it adds them up, and +Inf
            // is the count).
            let mut below = 0;
            let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
                .iter()
                .zip(s.latency_buckets)
                .map(|(le, cumulative)| {
                    (*le, cumulative.saturating_sub(std::mem::replace(&mut below, cumulative)))
                })
                .collect();
            let label = SourceLabel { source: kind.as_str() };
            let mut metric = family.encode_family(&label)?;
            metric.encode_histogram::<SourceLabel>(s.latency_seconds_sum, s.fetches, &buckets, None)?;
        }
        Ok(())
    }
}
