//! Smoke run of `brook bench nexmark`: every supported query end to end with a tiny event
//! count, in process and (for a few) through the embedded broker. It proves the benchmark
//! keeps working; it asserts what was computed, never how fast.

use serde_json::Value;

use super::ok;

/// The queries `brook bench nexmark` supports (q6, q9, q10, q12 and q13 are refused with a
/// reason; see `brook bench nexmark --help`).
const QUERIES: &[&str] = &[
    "q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8", "q11", "q14", "q15", "q16", "q17", "q18", "q19", "q20",
    "q21", "q22",
];

fn run_json(query: &str, mode: &str, events: u64) -> Value {
    let events = events.to_string();
    let out =
        ok(&["bench", "nexmark", "--query", query, "--events", &events, "--mode", mode, "--json"], None);
    let line = out.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{query} {mode}: not one JSON object ({e}): {out}"))
}

fn check_report(r: &Value, query: &str, events: u64) {
    assert_eq!(r["query"], query, "{r}");
    assert_eq!(r["events"], events, "{r}");
    for field in ["wall_s", "cpu_s", "events_per_sec", "events_per_sec_per_core"] {
        assert!(r[field].as_f64().is_some_and(|v| v.is_finite() && v >= 0.0), "{query}: bad {field} in {r}");
    }
    assert!(r["wall_s"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["peak_rss_bytes"].as_u64().is_some_and(|v| v > 0), "{r}");
}

#[test]
fn every_query_runs_in_process() {
    for q in QUERIES {
        let r = run_json(q, "inprocess", 20_000);
        check_report(&r, q, 20_000);
    }
}

#[test]
fn queries_run_through_the_broker() {
    for q in ["q0", "q5", "q11"] {
        let r = run_json(q, "broker", 20_000);
        check_report(&r, q, 20_000);
    }
}

/// q0 passes every bid through: the sink sees exactly the bids the query read.
#[test]
fn q0_passes_every_bid_through() {
    for mode in ["inprocess", "broker"] {
        let out = ok(&["bench", "nexmark", "--query", "q0", "--events", "50000", "--mode", mode], None);
        let field = |name: &str| -> u64 {
            let line =
                out.lines().find(|l| l.trim_start().starts_with(name)).unwrap_or_else(|| panic!("{out}"));
            line.split_whitespace().find_map(|w| w.parse().ok()).unwrap_or_else(|| panic!("{line}"))
        };
        let (read, rows) = (field("read by the query"), field("rows to the sink"));
        // The generator interleaves 1 person : 3 auctions : 46 bids.
        assert_eq!(read, 50_000 * 46 / 50, "{mode}: {out}");
        assert_eq!(rows, read, "{mode}: {out}");
    }
}

#[test]
fn unsupported_queries_say_why() {
    let out = super::brook(&["bench", "nexmark", "--query", "q6", "--events", "10"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("q6") && err.contains("OVER"), "{err}");
}
