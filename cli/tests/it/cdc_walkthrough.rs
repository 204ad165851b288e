//! The README's CDC walk-through, run as a user runs it: `brook sql -f
//! examples/sql/cdc_inventory.sql` on a fresh data directory. The continuous aggregates it
//! prints must equal what the inventory database's final state gives — computed here
//! independently, by replaying the Debezium files of `examples/data/cdc/` into maps and
//! joining and summing them in plain Rust.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The rows of a table after replaying its change-event files (primary key → `after` row).
fn replay(dir: &Path, key: &str) -> BTreeMap<i64, Value> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut rows = BTreeMap::new();
    for f in files {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let doc: Value = serde_json::from_str(line).unwrap();
            // Record dumps carry {"key", "value"}; a null value is a tombstone.
            let (record_key, event) = match doc.get("value") {
                Some(v) if doc.get("key").is_some() => (doc["key"][key].as_i64(), v.clone()),
                _ => (None, doc),
            };
            if event.is_null() {
                if let Some(k) = record_key {
                    rows.remove(&k);
                }
                continue;
            }
            let event = event.get("payload").cloned().unwrap_or(event);
            match event["op"].as_str().unwrap() {
                "c" | "r" | "u" => {
                    if let Some(old) = event["before"][key].as_i64() {
                        rows.remove(&old);
                    }
                    let after = event["after"].clone();
                    rows.insert(after[key].as_i64().unwrap(), after);
                }
                "d" => {
                    rows.remove(&event["before"][key].as_i64().unwrap());
                }
                "t" => rows.clear(),
                other => panic!("unexpected op {other} in {}", f.display()),
            }
        }
    }
    rows
}

/// Rows of the pull query whose header has these column names, from `--output json` output.
fn pulled(output: &str, columns: &[&str]) -> Vec<Value> {
    let mut lines = output.lines();
    while let Some(line) = lines.next() {
        let Ok(header) = serde_json::from_str::<Value>(line) else { continue };
        if header["queryId"] == "" && header["columnNames"] == serde_json::json!(columns) {
            return lines
                .map_while(|l| serde_json::from_str::<Value>(l).ok().filter(Value::is_array))
                .collect();
        }
    }
    panic!("no pull query with columns {columns:?} in the output:\n{output}");
}

#[test]
fn cdc_walkthrough_script_aggregates_match_the_final_database_state() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let cdc = root.join("examples/data/cdc");
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_brook"))
        .current_dir(root)
        .args(["sql", "--data-dir", data.path().to_str().unwrap(), "--output", "json"])
        .args(["-f", "examples/sql/cdc_inventory.sql"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the script failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));

    // The database's final state, and the aggregates it implies.
    let customers = replay(&cdc.join("customers"), "id");
    let products = replay(&cdc.join("products"), "id");
    let orders = replay(&cdc.join("orders"), "order_number");
    let mut by_category: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    let mut by_country: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for o in orders.values() {
        let Some(p) = o["product_id"].as_i64().and_then(|id| products.get(&id)) else { continue };
        let quantity = o["quantity"].as_i64().unwrap();
        let amount = quantity * p["price_cents"].as_i64().unwrap();
        let c = by_category.entry(p["category"].as_str().unwrap().to_string()).or_default();
        *c = (c.0 + 1, c.1 + quantity, c.2 + amount);
        if let Some(customer) = o["purchaser"].as_i64().and_then(|id| customers.get(&id)) {
            let c = by_country.entry(customer["country"].as_str().unwrap().to_string()).or_default();
            *c = (c.0 + 1, c.1 + amount);
        }
    }
    // The dataset exercises what the aggregate must undo: an order deleted, one moved to
    // another product category, a customer who moved country, a deleted customer with orders.
    assert!(!orders.contains_key(&10004) && orders.len() == 9, "{orders:?}");
    assert_eq!(by_category.len(), 3);

    let mut got_category: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    for r in pulled(&stdout, &["CATEGORY", "ORDERS", "UNITS", "REVENUE_CENTS"]) {
        let n = |i: usize| r[i].as_i64().unwrap();
        got_category.insert(r[0].as_str().unwrap().to_string(), (n(1), n(2), n(3)));
    }
    assert_eq!(got_category, by_category, "revenue_by_category");

    let us = pulled(&stdout, &["COUNTRY", "ORDERS", "REVENUE_CENTS"]);
    let (orders_us, revenue_us) = by_country["US"];
    assert_eq!(
        us,
        vec![serde_json::json!(["US", orders_us, revenue_us])],
        "revenue_by_country WHERE country = 'US'"
    );

    // The push query's rows are changes of revenue_by_country, so each is a country.
    assert!(stdout.contains("\"queryId\":\"transient_REVENUE_BY_COUNTRY_"), "{stdout}");
}
