//! Prometheus metrics. Labels stay bounded: route templates (never raw
//! paths), statuses, cache and action names — no space names.

use std::any::Any;
use std::cell::RefCell;

use prometheus::core::{MetricVec, MetricVecBuilder};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// The process's metrics. One set per process: every server in it shares
/// them, and any module can count without plumbing.
pub fn metrics() -> &'static Metrics {
    static METRICS: std::sync::LazyLock<Metrics> = std::sync::LazyLock::new(Metrics::new);
    &METRICS
}

/// Every metric libsette exports, registered in its own registry.
pub struct Metrics {
    registry: Registry,
    /// Requests by route template and status.
    pub requests: IntCounterVec,
    /// Request latency by route template.
    pub latency: HistogramVec,
    /// Requests being served now.
    pub in_flight: IntGauge,
    /// Time spent running SQL, by what it was for.
    pub query_seconds: HistogramVec,
    /// Rows returned by reads, by what they were for.
    pub rows_returned: IntCounterVec,
    /// Reads by where they ran: in place on an async worker, on the blocking
    /// pool, or moved there after running out of time in place.
    pub reads: IntCounterVec,
    /// Cache lookups by cache and outcome (hit, miss, eviction).
    pub cache: IntCounterVec,
    /// Tenant databases open now.
    pub open_handles: IntGauge,
    /// Writes by action.
    pub writes: IntCounterVec,
    /// Transactions the local writers committed, and the writes they held
    /// (more writes than commits: writes shared them, see `tenant::commits`).
    pub commits: IntCounter,
    pub commit_writes: IntCounter,
    /// Syncs of a WAL behind its commits, by outcome (`ok`, `failed`):
    /// fewer than commits when one covered several (see `sqlite::wal_sync`).
    pub wal_syncs: IntCounterVec,
    /// Bearer tokens refused, by reason.
    pub token_refusals: IntCounterVec,
    /// Login attempts by outcome: `ok` and `wrong` ran a password check,
    /// `limited` (too many failures) and `busy` (no free check) did not.
    pub logins: IntCounterVec,
    /// Requests refused by a limit: `token`, `user` or `address` (rate),
    /// `queries` (a space's concurrent queries).
    pub rate_limited: IntCounterVec,
    /// Replication (nodes of a replicated deployment).
    pub replica: crate::replica::metrics::ReplicaMetrics,
}

fn must<T>(result: prometheus::Result<T>) -> T {
    result.expect("metric definitions are static and valid")
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("libsette".into()), None).expect("registry");
        let requests = must(IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route template and status",
            ),
            &["route", "status"],
        ));
        let latency = must(HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route template",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["route"],
        ));
        let in_flight = must(IntGauge::new(
            "http_requests_in_flight",
            "HTTP requests being served",
        ));
        let query_seconds = must(HistogramVec::new(
            HistogramOpts::new("query_duration_seconds", "SQL run time by purpose").buckets(vec![
                0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0,
            ]),
            &["purpose"],
        ));
        let rows_returned = must(IntCounterVec::new(
            Opts::new("rows_returned_total", "Rows read by purpose"),
            &["purpose"],
        ));
        let reads = must(IntCounterVec::new(
            Opts::new("reads_total", "Reads by where they ran"),
            &["place"],
        ));
        let cache = must(IntCounterVec::new(
            Opts::new(
                "cache_events_total",
                "Cache hits, misses and evictions by cache",
            ),
            &["cache", "event"],
        ));
        let open_handles = must(IntGauge::new("open_databases", "Tenant databases open now"));
        let writes = must(IntCounterVec::new(
            Opts::new("writes_total", "Writes by action"),
            &["action"],
        ));
        let commits = must(IntCounter::new(
            "commits_total",
            "Transactions committed by local writers",
        ));
        let commit_writes = must(IntCounter::new(
            "commit_writes_total",
            "Writes held by the transactions committed",
        ));
        let wal_syncs = must(IntCounterVec::new(
            Opts::new(
                "wal_syncs_total",
                "Syncs of a WAL behind its commits by outcome",
            ),
            &["outcome"],
        ));
        let token_refusals = must(IntCounterVec::new(
            Opts::new("token_refusals_total", "Bearer tokens refused by reason"),
            &["reason"],
        ));
        let logins = must(IntCounterVec::new(
            Opts::new("login_attempts_total", "Login attempts by outcome"),
            &["outcome"],
        ));
        let rate_limited = must(IntCounterVec::new(
            Opts::new(
                "rate_limited_total",
                "Requests refused by a limit, by scope",
            ),
            &["scope"],
        ));
        let build_info = must(IntGaugeVec::new(
            Opts::new(
                "build_info",
                "libsette's version and the Datasette API it speaks",
            ),
            &["version", "datasette_api"],
        ));
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), crate::DATASETTE_API_VERSION])
            .set(1);
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(in_flight.clone()),
            Box::new(query_seconds.clone()),
            Box::new(rows_returned.clone()),
            Box::new(reads.clone()),
            Box::new(cache.clone()),
            Box::new(open_handles.clone()),
            Box::new(writes.clone()),
            Box::new(commits.clone()),
            Box::new(commit_writes.clone()),
            Box::new(wal_syncs.clone()),
            Box::new(token_refusals.clone()),
            Box::new(logins.clone()),
            Box::new(rate_limited.clone()),
            Box::new(build_info),
        ] {
            must(registry.register(collector));
        }
        #[cfg(target_os = "linux")]
        must(registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        )));
        let replica = crate::replica::metrics::ReplicaMetrics::new(&registry);
        Metrics {
            replica,
            registry,
            requests,
            latency,
            in_flight,
            query_seconds,
            rows_returned,
            reads,
            cache,
            open_handles,
            writes,
            commits,
            commit_writes,
            wal_syncs,
            token_refusals,
            logins,
            rate_limited,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("encoding metrics");
        String::from_utf8(out).unwrap_or_default()
    }

    /// Counts one cache lookup.
    pub fn cache_event(&self, cache: &'static str, event: &'static str) {
        series(&self.cache, &[cache, event]).inc();
    }
}

/// Series already looked up by this thread: the metric vector's address and
/// its label values' addresses, with the series.
type Known = Vec<(usize, [(usize, usize); 2], Box<dyn Any>)>;

thread_local! {
    static KNOWN: RefCell<Known> = const { RefCell::new(Vec::new()) };
}

/// The series of `vec` with (at most two) static `labels`, found once per
/// thread: `with_label_values` hashes the values and takes a lock, a cost
/// the profile showed several times on every request (issue 17).
pub fn series<P>(vec: &MetricVec<P>, labels: &[&'static str]) -> P::M
where
    P: MetricVecBuilder,
    P::M: 'static,
{
    let id = vec as *const MetricVec<P> as usize;
    let mut key = [(0, 0); 2];
    for (slot, label) in key.iter_mut().zip(labels) {
        *slot = (label.as_ptr() as usize, label.len());
    }
    KNOWN.with(|known| {
        let mut known = known.borrow_mut();
        let found = known
            .iter()
            .find(|(v, k, _)| *v == id && *k == key)
            .and_then(|(_, _, m)| m.downcast_ref::<P::M>());
        if let Some(metric) = found {
            return metric.clone();
        }
        let metric = vec.with_label_values(labels);
        // Bounded: labels are static strings (routes, statuses, names).
        known.push((id, key, Box::new(metric.clone())));
        metric
    })
}

/// A status code as a static label.
pub fn status_label(status: u16) -> &'static str {
    static LABELS: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| (0..600u16).map(|code| code.to_string()).collect());
    LABELS.get(status as usize).map_or("other", String::as_str)
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}
