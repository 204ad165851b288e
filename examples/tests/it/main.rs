//! End-to-end tests of the examples on an embedded broker (function calls, no sockets).
//! Against a separate `brook server` process over the Kafka protocol they run in brook-cli's
//! tests (`cli/tests/it/examples_remote.rs`), which include [`check`].

mod check;

use brook_examples::Cluster;

#[test]
fn examples_on_an_embedded_broker() {
    check::check_all(&Cluster::embedded().unwrap());
}
