//! The SQL shell driven as a person would, through tmux: type statements (one of them over
//! two lines), watch push-query rows appear, press Ctrl-C to stop the query without leaving
//! the shell, then run a pull query.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use super::sql_server::SqlServer;

/// A tmux session on a private server (its own socket), so other tmux users on the machine
/// cannot disturb it.
struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    fn start(name: &str, command: &str) -> Tmux {
        let session = format!("brook-{name}-{}", std::process::id());
        let socket = session.clone();
        // Keep the pane after the shell exits, so its exit status (and any error) stays visible.
        let wrapped = format!("{command}; echo \"[shell exited with status $?]\"; sleep 600");
        let ok = Command::new("tmux")
            .args(["-L", &socket, "new-session", "-d", "-s", &session, "-x", "200", "-y", "60", &wrapped])
            .status()
            .expect("tmux is needed for the shell tests (apt-get install tmux)");
        assert!(ok.success(), "tmux new-session failed");
        Tmux { socket, session }
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    fn type_line(&self, text: &str) {
        // tmux reads an argument ending in ';' as a command separator: end with a space.
        let text = format!("{text} ");
        let _ = self.tmux().args(["send-keys", "-t", &self.session, "-l", &text]).status();
        let _ = self.tmux().args(["send-keys", "-t", &self.session, "Enter"]).status();
    }

    fn ctrl_c(&self) {
        let _ = self.tmux().args(["send-keys", "-t", &self.session, "C-c"]).status();
    }

    fn screen(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", &self.session, "-S", "-500"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Waits until `pred` holds for the screen; panics with the screen if it never does.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; screen:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_text(&self, text: &str) -> String {
        self.wait_for(text, |s| s.contains(text))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().args(["kill-server"]).status();
    }
}

/// The prompts after the last occurrence of `marker`.
fn prompts_after(screen: &str, marker: &str) -> usize {
    screen.rsplit_once(marker).map_or(0, |(_, rest)| rest.matches("brook>").count())
}

#[test]
fn shell_against_a_server_shows_live_rows_and_survives_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let server = SqlServer::start(dir.path());
    let cmd = format!("{} sql --server http://{}", env!("CARGO_BIN_EXE_brook"), server.http);
    let t = Tmux::start("remote", &cmd);
    t.wait_text("brook>");
    t.type_line("CREATE STREAM readings (sensor STRING KEY, temp DOUBLE) WITH (KAFKA_TOPIC='readings', VALUE_FORMAT='JSON', PARTITIONS=1);");
    t.wait_text("Stream created");
    // A statement over two lines.
    t.type_line("INSERT INTO readings (sensor, temp)");
    t.wait_text("...>");
    t.type_line("VALUES ('s1', 21.5);");
    t.wait_text("Inserted 1 row into READINGS");
    t.type_line("SET 'auto.offset.reset'='earliest';");
    t.wait_text("Successfully changed local property");
    t.type_line(
        "CREATE TABLE latest AS SELECT sensor, LATEST_BY_OFFSET(temp) AS temp FROM readings GROUP BY sensor;",
    );
    t.wait_text("Created query with ID CTAS_LATEST_1");

    // A push query: the existing row, then rows inserted elsewhere appear live.
    t.type_line("SELECT sensor, temp FROM readings EMIT CHANGES;");
    t.wait_text("| s1 ");
    let (status, _) = server.ksql("INSERT INTO readings (sensor, temp) VALUES ('s2', 30.25);", json!({}));
    assert_eq!(status, 200);
    t.wait_text("30.25");
    let before = t.screen();
    assert!(!before.contains("row(s)"), "the push query ended by itself:\n{before}");

    // Ctrl-C ends the query, not the shell.
    t.ctrl_c();
    t.wait_for("the prompt after Ctrl-C", |s| s.contains("2 row(s)") && prompts_after(s, "2 row(s)") >= 1);

    // Tab completion of a table name, then a pull query.
    let _ = t.tmux().args(["send-keys", "-t", &t.session, "-l", "SELECT * FROM lat"]).status();
    let _ = t.tmux().args(["send-keys", "-t", &t.session, "Tab"]).status();
    t.wait_text("SELECT * FROM latest");
    t.type_line(" WHERE sensor = 's2';");
    let screen = t.wait_text("1 row(s)");
    assert!(screen.contains("| s2 ") && screen.contains("30.25"), "{screen}");
    t.type_line("exit");
    t.wait_text("[shell exited with status 0]");
    drop(t);
    assert!(server.stop());
}

#[test]
fn embedded_shell_runs_on_a_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = format!("{} sql --data-dir {}", env!("CARGO_BIN_EXE_brook"), dir.path().join("data").display());
    let t = Tmux::start("embedded", &cmd);
    t.wait_text("embedded engine on");
    t.type_line(
        "CREATE STREAM s (id INT KEY, v STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);",
    );
    t.wait_text("Stream created");
    t.type_line("INSERT INTO s (id, v) VALUES (1, 'first'); INSERT INTO s (id, v) VALUES (2, 'second');");
    t.wait_for("two inserts", |s| s.matches("Inserted 1 row into S").count() == 2);
    t.type_line("SET 'auto.offset.reset'='earliest';");
    t.type_line("CREATE TABLE t AS SELECT v, COUNT(*) AS n FROM s GROUP BY v;");
    t.wait_text("Created query with ID CTAS_T_1");
    t.type_line("SELECT id, v FROM s EMIT CHANGES;");
    t.wait_for("both rows", |s| s.contains("| first ") && s.contains("| second "));
    t.ctrl_c();
    t.wait_for("the prompt after Ctrl-C", |s| s.contains("2 row(s)") && prompts_after(s, "2 row(s)") >= 1);
    t.type_line("SELECT v, n FROM t WHERE v = 'second';");
    let screen = t.wait_text("1 row(s)");
    assert!(screen.contains("| second "), "{screen}");
    t.type_line("exit");
    t.wait_text("[shell exited with status 0]");
}

/// The nesting-depth flags set the engine's limits: with `--type-max-nesting-depth 2` a type
/// three levels deep is refused, naming the limit, and two levels are fine.
#[test]
fn nesting_depth_flags_set_the_engines_limits() {
    let dir = tempfile::tempdir().unwrap();
    let run = |statement: &str| {
        Command::new(env!("CARGO_BIN_EXE_brook"))
            .args(["sql", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--type-max-nesting-depth", "2", "-e", statement])
            .output()
            .unwrap()
    };
    let deep = run(
        "CREATE STREAM s (a ARRAY<ARRAY<ARRAY<INT>>>) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);",
    );
    let stderr = String::from_utf8_lossy(&deep.stderr) + String::from_utf8_lossy(&deep.stdout);
    assert!(
        !deep.status.success() && stderr.contains("nested more than 2 levels deep (type.max.nesting.depth)"),
        "{stderr}"
    );
    let ok = run(
        "CREATE STREAM s (a ARRAY<ARRAY<INT>>) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);",
    );
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
}
