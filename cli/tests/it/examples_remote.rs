//! The four examples against a separate `brook server` process, reached only over TCP through
//! its bootstrap address (brook-examples' own tests run them on an embedded broker).

#[path = "../../../examples/tests/it/check.rs"]
mod check;

#[test]
fn examples_against_a_separate_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = super::Server::start_with(dir.path(), &["--no-http"]);
    check::check_all(&brook_examples::Cluster::remote(&server.bootstrap).unwrap());
    assert!(server.stop(), "the server did not stop cleanly");
}
