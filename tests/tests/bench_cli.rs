//! End-to-end test of `strata bench` with the real binary: a short YCSB-A run on an
//! in-process server over a tiny generated data set writes a JSON result with the parameters,
//! the machine, the per-operation figures, some operations and no errors.
//!
//! This file owns only this test. It must never assert on timings (the figures depend on the
//! machine); it checks that the run happened and what the result file holds.

use serde_json::Value;
use strata_tests::*;

#[test]
fn bench_ycsb_a_writes_a_json_result() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("result.json");
    let out_arg = out.to_str().expect("UTF-8 temp path");
    let run = run_strata(&[
        "bench",
        "--scale",
        "0.0005",
        "--duration",
        "1s",
        "--warmup",
        "0s",
        "--workload",
        "ycsb-a",
        "--clients",
        "2",
        "--quiet",
        "--json",
        out_arg,
    ]);
    run.assert_success();
    assert!(run.stdout.contains("read"), "stdout: {}", run.stdout);

    let text = std::fs::read_to_string(&out).expect("the JSON result file");
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    let params = &doc["parameters"];
    assert_eq!(params["workload"], "ycsb-a");
    assert_eq!(params["table"], "transactions");
    assert_eq!(params["clients"], 2);
    assert_eq!(params["scale"], 0.0005);
    assert_eq!(params["target"], "in-process");
    assert!(doc["machine"]["cores"].as_u64().is_some_and(|c| c >= 1));
    assert!(doc["date"].as_str().is_some_and(|d| d.ends_with('Z')));
    // All four tables were bulk-loaded and every cell adopted.
    let loaded = doc["load"].as_array().expect("load list");
    assert_eq!(loaded.len(), 4);
    for t in loaded {
        assert!(t["cells"].as_u64().is_some_and(|c| c > 0), "{t}");
        assert_eq!(t["adopted_cells"], t["cells"], "{t}");
    }

    let result = &doc["result"];
    assert!(result["ops"].as_u64().is_some_and(|n| n > 0), "{result}");
    assert_eq!(result["errors"], 0, "{result}");
    assert_eq!(result["not_found"], 0, "{result}");
    let ops = &result["operations"];
    let (reads, updates) = (&ops["read"], &ops["update"]);
    assert!(reads["ops"].as_u64().is_some_and(|n| n > 0), "{ops}");
    assert!(updates["ops"].as_u64().is_some_and(|n| n > 0), "{ops}");
    assert_eq!(
        reads["ops"].as_u64().unwrap_or(0) + updates["ops"].as_u64().unwrap_or(0),
        result["ops"].as_u64().unwrap_or(u64::MAX),
        "ycsb-a is reads and updates only: {ops}"
    );
    for op in [reads, updates] {
        assert_eq!(op["errors"], 0);
        let lat = &op["latency_us"];
        let p = |k: &str| lat[k].as_f64().unwrap_or_else(|| panic!("{k} in {lat}"));
        // Percentiles are ordered and positive (no timing bound is asserted).
        assert!(p("p50") > 0.0, "{lat}");
        assert!(p("p50") <= p("p95") && p("p95") <= p("p99"), "{lat}");
        assert!(p("p99") <= p("p99_9") && p("p99_9") <= p("max"), "{lat}");
    }
    // Every read found its row: the keys were sampled from the loaded CSV.
    assert_eq!(reads["rows"], reads["ops"], "{reads}");
}
