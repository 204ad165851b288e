//! `brook txn list|describe` and the HTTP API's `/transactions` against a real `brook server`
//! whose transactions come from a real transactional producer (librdkafka).

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::Value;

use crate::sql_server::{SqlServer, client};
use crate::{brook, ok};

#[test]
fn operators_see_transactions_in_the_cli_and_the_http_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = SqlServer::start(dir.path());
    let t = Duration::from_secs(30);
    let committed: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &server.bootstrap)
        .set("transactional.id", "ops-done")
        .create()
        .unwrap();
    committed.init_transactions(t).unwrap();
    committed.begin_transaction().unwrap();
    committed.send(BaseRecord::<(), _>::to("ops-t").payload("a")).unwrap();
    committed.commit_transaction(t).unwrap();
    let open: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &server.bootstrap)
        .set("transactional.id", "ops-open")
        .set("transaction.timeout.ms", "120000")
        .create()
        .unwrap();
    open.init_transactions(t).unwrap();
    open.begin_transaction().unwrap();
    open.send(BaseRecord::<(), _>::to("ops-t").partition(0).payload("b")).unwrap();
    open.flush(t).unwrap();

    let list = ok(&["txn", "list", "--bootstrap", &server.bootstrap], None);
    let row = |id: &str| list.lines().find(|l| l.starts_with(id)).unwrap_or_else(|| panic!("{id} in {list}"));
    assert!(row("ops-done").contains("CompleteCommit"), "{list}");
    assert!(row("ops-open").contains("Ongoing") && row("ops-open").contains("ops-t-0"), "{list}");
    let ongoing = ok(&["txn", "list", "--state", "Ongoing", "--bootstrap", &server.bootstrap], None);
    assert!(ongoing.contains("ops-open") && !ongoing.contains("ops-done"), "{ongoing}");
    let described = ok(&["txn", "describe", "ops-open", "--json", "--bootstrap", &server.bootstrap], None);
    let v: Value = serde_json::from_str(&described).unwrap();
    assert_eq!(v["state"], "Ongoing");
    assert_eq!(v["timeoutMs"], 120000);
    assert_eq!(v["partitions"], serde_json::json!(["ops-t-0"]));
    assert!(v["startTimeMs"].as_i64().unwrap() > 0);
    let missing = brook(&["txn", "describe", "nobody", "--bootstrap", &server.bootstrap], None);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("unknown transactional id 'nobody'"));

    let all: Value =
        serde_json::from_str(&client::get(&server.http, "/transactions").unwrap().text().unwrap()).unwrap();
    let ids: Vec<_> =
        all["transactions"].as_array().unwrap().iter().map(|t| t["transactionalId"].clone()).collect();
    assert_eq!(ids, ["ops-done", "ops-open"]);
    let one = client::get(&server.http, "/transactions/ops-done").unwrap();
    assert_eq!(one.status, 200);
    let one: Value = serde_json::from_str(&one.text().unwrap()).unwrap();
    assert_eq!(one["state"], "CompleteCommit");
    let filtered: Value = serde_json::from_str(
        &client::get(&server.http, "/transactions?state=ongoing").unwrap().text().unwrap(),
    )
    .unwrap();
    assert_eq!(filtered["transactions"].as_array().unwrap().len(), 1);
    assert_eq!(client::get(&server.http, "/transactions/nobody").unwrap().status, 404);

    drop(open);
    assert!(server.stop(), "clean shutdown");
    // Offline, straight from the data directory: the open transaction is still recorded.
    let offline = ok(&["txn", "describe", "ops-open", "--data-dir", dir.path().to_str().unwrap()], None);
    assert!(offline.contains("State:           Ongoing"), "{offline}");
}
