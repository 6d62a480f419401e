//! Replication's metrics, in libsette's registry (`/metrics`): sync times
//! and failures, the catalog replica's lag, stale reads and the latency of
//! writes delegated to the primary. Labels stay bounded: `kind` is
//! `catalog` or `database`, never a namespace.

use prometheus::{
    Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry,
};

pub struct ReplicaMetrics {
    /// Sync durations by kind of replica.
    pub sync_seconds: HistogramVec,
    /// Syncs that failed (primary away or too slow), by kind.
    pub sync_errors: IntCounterVec,
    /// The primary's frame of the catalog minus the replica's, as last asked.
    pub catalog_lag_frames: IntGauge,
    /// Seconds since the catalog replica last synced.
    pub catalog_since_sync_seconds: Gauge,
    /// Reads served from a replica that could not sync.
    pub stale_reads: IntCounter,
    /// Writes delegated to the primary, whole transaction.
    pub write_seconds: Histogram,
}

fn must<T>(result: prometheus::Result<T>) -> T {
    result.expect("metric definitions are static and valid")
}

impl ReplicaMetrics {
    pub fn new(registry: &Registry) -> ReplicaMetrics {
        let buckets = vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        let m = ReplicaMetrics {
            sync_seconds: must(HistogramVec::new(
                HistogramOpts::new("replica_sync_seconds", "Replica sync durations by kind")
                    .buckets(buckets.clone()),
                &["kind"],
            )),
            sync_errors: must(IntCounterVec::new(
                Opts::new(
                    "replica_sync_errors_total",
                    "Replica syncs that failed, by kind",
                ),
                &["kind"],
            )),
            catalog_lag_frames: must(IntGauge::new(
                "replica_catalog_lag_frames",
                "The primary's catalog frame minus this node's replica frame",
            )),
            catalog_since_sync_seconds: must(Gauge::new(
                "replica_catalog_seconds_since_sync",
                "Seconds since the catalog replica last synced",
            )),
            stale_reads: must(IntCounter::new(
                "replica_stale_reads_total",
                "Reads served from a replica that could not sync",
            )),
            write_seconds: must(Histogram::with_opts(
                HistogramOpts::new(
                    "replica_write_seconds",
                    "Writes delegated to the primary (whole transaction)",
                )
                .buckets(buckets),
            )),
        };
        must(registry.register(Box::new(m.sync_seconds.clone())));
        must(registry.register(Box::new(m.sync_errors.clone())));
        must(registry.register(Box::new(m.catalog_lag_frames.clone())));
        must(registry.register(Box::new(m.catalog_since_sync_seconds.clone())));
        must(registry.register(Box::new(m.stale_reads.clone())));
        must(registry.register(Box::new(m.write_seconds.clone())));
        m
    }
}
