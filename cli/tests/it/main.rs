//! Tests of the `brook` binary as a user runs it: real processes, real files, real sockets on
//! 127.0.0.1.

mod cdc_files;
mod cdc_walkthrough;
mod exactly_once;
mod examples_remote;
mod fuzz;
mod layout;
mod nexmark;
mod sql_connectors;
mod sql_remote;
mod sql_server;
mod sql_shell;
mod tools;
mod txn;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `brook ARGS` with optional stdin and returns its output.
pub fn brook(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_brook"))
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start brook");
    if let Some(input) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Stdout of a command that must succeed.
pub fn ok(args: &[&str], stdin: Option<&str>) -> String {
    let out = brook(args, stdin);
    assert!(
        out.status.success(),
        "brook {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A `brook server` process and the Kafka address it listens on.
pub struct Server {
    /// The process.
    pub child: Child,
    /// HOST:PORT of the Kafka listener.
    pub bootstrap: String,
}

impl Server {
    /// Starts `brook server` on `data_dir` with a Kafka listener on a free port.
    pub fn start(data_dir: &std::path::Path) -> Server {
        Server::start_with(data_dir, &[])
    }

    /// Like [`Server::start`], with more arguments (`--no-http`).
    pub fn start_with(data_dir: &std::path::Path, args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_brook"))
            .args(["server", "--data-dir", data_dir.to_str().unwrap(), "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start brook server");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("kafka listener on ") {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let bootstrap = rx.recv_timeout(Duration::from_secs(30)).expect("server printed its address");
        Server { child, bootstrap }
    }

    /// Sends SIGTERM and waits; returns whether it exited successfully.
    pub fn stop(mut self) -> bool {
        terminate(&mut self.child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends SIGTERM to a `brook` process and waits up to 30 s; returns whether it exited
/// successfully (a process still running then is killed).
pub fn terminate(child: &mut Child) -> bool {
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    false
}
