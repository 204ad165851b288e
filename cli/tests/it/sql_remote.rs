//! The SQL specification against a separate `brook server` process reached only over TCP: the
//! same `.slt` files brook-sql's tests run on an embedded broker, each on a fresh server, with
//! the engine on a [`brook_client::KafkaCluster`] as `brook sql --bootstrap-servers` runs it.

#[path = "../../../sql/tests/it/slt.rs"]
mod slt;

#[test]
fn sql_logic_tests_against_a_separate_server() {
    slt::run_suite(|| {
        let dir = tempfile::tempdir()?;
        let server = super::Server::start_with(dir.path(), &["--no-http"]);
        let bootstrap = server.bootstrap.clone();
        slt::BrookDb::on_cluster(&bootstrap, Box::new((server, dir)))
    });
}
