//! The process-wide API metrics: `strata_rpc_requests_total{api,method}`,
//! `strata_rpc_errors_total{api,method,code}` and `strata_rpc_duration_seconds{api,method}`.
//!
//! This module must never let label values grow without bound (see [`MAX_METHODS`]).

use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::Duration;

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::Api;

/// Distinct (api, method) pairs kept apart; later methods count as `other`.
const MAX_METHODS: usize = 512;
/// Longest error code kept as a label; longer or odd ones count as `other`.
const MAX_CODE_LEN: usize = 40;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    api: &'static str,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    api: &'static str,
    method: String,
    code: String,
}

fn duration_histogram() -> Histogram {
    // 50 us to about 6.5 s, doubling.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 18))
}

pub(super) struct RpcMetrics {
    registry: Registry,
    requests: Family<MethodLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    durations: Family<MethodLabels, Histogram, fn() -> Histogram>,
    methods: Mutex<HashSet<(Api, String)>>,
}

pub(super) fn global() -> &'static RpcMetrics {
    static METRICS: OnceLock<RpcMetrics> = OnceLock::new();
    METRICS.get_or_init(RpcMetrics::new)
}

fn is_success(code: &str) -> bool {
    code == "OK"
        || code
            .parse::<u16>()
            .is_ok_and(|status| (100..400).contains(&status))
}

impl RpcMetrics {
    fn new() -> RpcMetrics {
        let mut registry = Registry::default();
        let requests = Family::<MethodLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let durations = Family::<MethodLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        registry.register(
            "strata_rpc_requests",
            "Calls finished, by API and method",
            requests.clone(),
        );
        registry.register(
            "strata_rpc_errors",
            "Calls that failed, by API, method and status code",
            errors.clone(),
        );
        registry.register(
            "strata_rpc_duration_seconds",
            "Time from a call's arrival to its last byte, by API and method",
            durations.clone(),
        );
        RpcMetrics {
            registry,
            requests,
            errors,
            durations,
            methods: Mutex::new(HashSet::new()),
        }
    }

    /// The method label for `method`: itself while fewer than MAX_METHODS are known.
    fn method_label(&self, api: Api, method: &str) -> String {
        let mut known = self.methods.lock();
        let key = (api, method.to_string());
        if known.contains(&key) {
            return key.1;
        }
        if known.len() >= MAX_METHODS {
            return "other".to_string();
        }
        known.insert(key.clone());
        key.1
    }

    pub(super) fn observe(&self, api: Api, method: &str, code: &str, elapsed: Duration) {
        let method = self.method_label(api, method);
        let labels = MethodLabels {
            api: api.as_str(),
            method,
        };
        self.requests.get_or_create(&labels).inc();
        self.durations
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        if !is_success(code) {
            let code = if code.len() <= MAX_CODE_LEN && code.bytes().all(|b| b.is_ascii_graphic()) {
                code.to_string()
            } else {
                "other".to_string()
            };
            self.errors
                .get_or_create(&ErrorLabels {
                    api: labels.api,
                    method: labels.method,
                    code,
                })
                .inc();
        }
    }

    pub(super) fn encode_into(&self, out: &mut String) {
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(out, &self.registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> RpcMetrics {
        RpcMetrics::new()
    }

    fn text(m: &RpcMetrics) -> String {
        let mut s = String::new();
        m.encode_into(&mut s);
        s
    }

    #[test]
    fn calls_errors_and_durations_are_counted_per_api_and_method() {
        let m = fresh();
        m.observe(Api::Grpc, "Get", "OK", Duration::from_micros(80));
        m.observe(Api::Grpc, "Get", "NOT_FOUND", Duration::from_micros(90));
        m.observe(Api::Http, "/tables/{name}", "404", Duration::from_millis(2));
        m.observe(Api::Http, "/", "200", Duration::from_millis(20));
        let t = text(&m);
        assert!(
            t.contains(r#"strata_rpc_requests_total{api="grpc",method="Get"} 2"#),
            "{t}"
        );
        assert!(
            t.contains(r#"strata_rpc_errors_total{api="grpc",method="Get",code="NOT_FOUND"} 1"#),
            "{t}"
        );
        assert!(
            t.contains(
                r#"strata_rpc_errors_total{api="http",method="/tables/{name}",code="404"} 1"#
            ),
            "{t}"
        );
        assert!(!t.contains(r#"method="/",code="200""#), "{t}");
        assert!(
            t.contains(r#"strata_rpc_duration_seconds_count{api="http",method="/"} 1"#),
            "{t}"
        );
        assert!(
            t.contains("# TYPE strata_rpc_duration_seconds histogram"),
            "{t}"
        );
    }

    #[test]
    fn made_up_methods_cannot_grow_the_registry() {
        let m = fresh();
        for i in 0..MAX_METHODS + 50 {
            m.observe(Api::Thrift, &format!("m{i}"), "OK", Duration::ZERO);
        }
        let t = text(&m);
        let series = t
            .lines()
            .filter(|l| l.starts_with("strata_rpc_requests_total{"))
            .count();
        assert_eq!(series, MAX_METHODS + 1);
        assert!(
            t.contains(r#"strata_rpc_requests_total{api="thrift",method="other"} 50"#),
            "{t}"
        );
        m.observe(Api::Thrift, "x", &"E".repeat(500), Duration::ZERO);
        assert!(text(&m).contains(r#"code="other""#));
    }
}
