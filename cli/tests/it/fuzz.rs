//! The fuzz targets on stable, in CI: every target of `fuzz/` (its `run` function, included
//! from `fuzz/src/`) gets every seed of `fuzz/corpus/<target>/` and then random mutations
//! of the seeds — bit flips, interesting bytes, insertions, deletions, duplications, splices
//! of two seeds, truncations and words of the target's dictionary — for
//! `BROOK_FUZZ_SECONDS` (default 8) each. This is not coverage-guided: it is the cheap,
//! honest thing CI can run without a nightly toolchain; `cargo +nightly fuzz run <target>`
//! is the real fuzzer (see `RELIABILITY.md`). A panic fails the test and leaves the input in
//! `$TMPDIR/brook-fuzz-crash-<target>-<n>`; an input that runs longer than 10 s fails it too;
//! a stack overflow aborts the test binary. `BROOK_FUZZ_SEED` repeats a run.
//!
//! The tests are ignored by a plain `cargo test`; `scripts/test.sh` (so CI) runs them one
//! after the other, printing each target's execs:
//! `cargo test --release --workspace --locked --tests -- --ignored fuzz:: --nocapture --test-threads 1`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// The targets' bodies, exactly as the fuzz crate builds them (`super::record_value` in
// them names a sibling here as in the fuzz crate).
#[path = "../../../fuzz/src/debezium.rs"]
mod debezium;
#[path = "../../../fuzz/src/kafka_request.rs"]
mod kafka_request;
#[path = "../../../fuzz/src/keys.rs"]
mod keys;
#[path = "../../../fuzz/src/record_batch.rs"]
mod record_batch;
#[path = "../../../fuzz/src/record_value.rs"]
mod record_value;
#[path = "../../../fuzz/src/segment_recovery.rs"]
mod segment_recovery;
#[path = "../../../fuzz/src/sql_statement.rs"]
mod sql_statement;

/// xorshift64*: a small deterministic generator (no dependency for the test).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const INTERESTING: &[u8] =
    &[0, 1, 0x7f, 0x80, 0xff, b'[', b'{', b'"', b'\\', b'\t', b',', b'<', b'>', b'(', b')'];

/// One mutation of `input`; `seeds` for splices, `words` the target's dictionary.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>], words: &[&str]) {
    let len = input.len();
    match rng.below(9) {
        0 if len > 0 => {
            let i = rng.below(len);
            input[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            input[i] = INTERESTING[rng.below(INTERESTING.len())];
        }
        2 => {
            let at = rng.below(len + 1);
            let n = 1 + rng.below(8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            input.splice(at..at, bytes);
        }
        3 if len > 0 => {
            let at = rng.below(len);
            let n = 1 + rng.below((len - at).min(32));
            input.drain(at..at + n);
        }
        4 if len > 0 => {
            // Duplicate a range: repeats nesting, list items, records.
            let at = rng.below(len);
            let n = 1 + rng.below((len - at).min(64));
            let copy = input[at..at + n].to_vec();
            let most = if rng.below(8) == 0 { 2000 } else { 4 };
            let times = 1 + rng.below(most);
            let to = rng.below(len + 1);
            input.splice(to..to, copy.iter().copied().cycle().take(n * times).collect::<Vec<_>>());
        }
        5 if !seeds.is_empty() => {
            let other = &seeds[rng.below(seeds.len())];
            let cut = rng.below(len + 1);
            let from = rng.below(other.len() + 1);
            input.truncate(cut);
            input.extend_from_slice(&other[from..]);
        }
        6 if len > 0 => input.truncate(rng.below(len)),
        7 if !words.is_empty() => {
            let at = rng.below(len + 1);
            input.splice(at..at, words[rng.below(words.len())].bytes());
        }
        _ => {
            let n = rng.below(64);
            input.clear();
            input.extend((0..n).map(|_| rng.next() as u8));
        }
    }
    input.truncate(1 << 20);
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    files.into_iter().map(|f| std::fs::read(&f).unwrap()).collect()
}

/// Runs `run` on every seed, then on mutations until the time budget is spent.
fn fuzz(target: &str, words: &[&str], run: fn(&[u8])) {
    let seconds: u64 = std::env::var("BROOK_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(8);
    let seed: u64 = std::env::var("BROOK_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    }) | 1;
    let seeds = corpus(target);
    assert!(!seeds.is_empty(), "no seeds for {target}");

    // A watchdog: an input that runs longer than 10 s fails the test (it cannot be stopped,
    // but the test binary ends with the test).
    let current: Arc<Mutex<(Instant, Vec<u8>)>> = Arc::new(Mutex::new((Instant::now(), Vec::new())));
    let done = Arc::new(AtomicBool::new(false));
    let (watched, finished) = (current.clone(), done.clone());
    let name = target.to_string();
    let watchdog = std::thread::spawn(move || {
        while !finished.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(200));
            let (started, input) = &*watched.lock().unwrap_or_else(|e| e.into_inner());
            if started.elapsed() > Duration::from_secs(10) && !finished.load(Ordering::Acquire) {
                let path = save(&name, "hang", input);
                return Err(format!("{name}: an input ran longer than 10 s (saved to {})", path.display()));
            }
        }
        Ok(())
    });

    let mut execs = 0u64;
    let mut exec = |input: &[u8]| {
        *current.lock().unwrap_or_else(|e| e.into_inner()) = (Instant::now(), input.to_vec());
        if let Err(panic) = std::panic::catch_unwind(|| run(input)) {
            let path = save(target, "crash", input);
            eprintln!("{target}: input saved to {} (seed {seed})", path.display());
            std::panic::resume_unwind(panic);
        }
        execs += 1;
    };
    for s in &seeds {
        exec(s);
    }
    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut input = Vec::new();
    while Instant::now() < deadline {
        input.clear();
        input.extend_from_slice(&seeds[rng.below(seeds.len())]);
        for _ in 0..1 + rng.below(6) {
            mutate(&mut rng, &mut input, &seeds, words);
        }
        exec(&input);
    }
    done.store(true, Ordering::Release);
    watchdog.join().unwrap().unwrap();
    println!(
        "fuzz {target}: {execs} execs ({} seeds, then mutations for {seconds} s; seed {seed})",
        seeds.len()
    );
}

fn save(target: &str, what: &str, input: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("brook-fuzz-{what}-{target}-{}", std::process::id()));
    let _ = std::fs::write(&path, input);
    path
}

const SQL_WORDS: &[&str] = &[
    " SELECT ",
    " FROM ",
    " WHERE ",
    " GROUP BY ",
    " EMIT CHANGES",
    " WINDOW TUMBLING (SIZE 1 SECOND) ",
    " JOIN customers c ON ",
    " WITHIN 1 HOUR ",
    " PARTITION BY ",
    " CAST(",
    " AS ",
    " ARRAY<",
    " MAP<STRING, ",
    " STRUCT<a ",
    ">",
    " + ",
    " OR ",
    " AND ",
    " IS NULL",
    "(",
    ")",
    ",",
    "'",
    "`",
    " orders ",
    " customers ",
    " accounts ",
    " per_customer ",
    " amount ",
    " address->city ",
    " tags[1] ",
    " COUNT(*) ",
    " LATEST_BY_OFFSET(",
    ";",
];
const JSON_WORDS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "null",
    "true",
    "1e400",
    "-0",
    "\"\\u0000\"",
    "\"id\":",
    "\"ADDRESS\":",
    "\"tags\":",
    "\"op\":\"c\"",
    "\"after\":",
    "\"before\":",
    "\"payload\":",
    "\"schema\":",
    "\u{0}",
];

#[test]
#[ignore = "run by scripts/test.sh: cargo test … -- --ignored fuzz::"]
fn sql_statement_seeds_and_mutations() {
    fuzz("sql_statement", SQL_WORDS, sql_statement::run);
}

#[test]
#[ignore = "run by scripts/test.sh: cargo test … -- --ignored fuzz::"]
fn record_value_seeds_and_mutations() {
    fuzz("record_value", JSON_WORDS, record_value::run);
}

#[test]
#[ignore = "run by scripts/test.sh: cargo test … -- --ignored fuzz::"]
fn debezium_seeds_and_mutations() {
    fuzz("debezium", JSON_WORDS, debezium::run);
}

#[test]
#[ignore = "run by scripts/test.sh: cargo test … -- --ignored fuzz::"]
fn keys_seeds_and_mutations() {
    fuzz("keys", JSON_WORDS, keys::run);
}

#[test]
#[ignore = "run by scripts/test.sh: cargo test … -- --ignored fuzz::"]
fn kafka_request_seeds_and_mutations() {
    fuzz("kafka_request", &[], kafka_request::run);
}

#[test]
#[ignore = "run by scripts/test.sh: cargo test … -- --ignored fuzz::"]
fn record_batch_seeds_and_mutations() {
    fuzz("record_batch", &[], record_batch::run);
}

#[test]
#[ignore = "run by scripts/test.sh: cargo test … -- --ignored fuzz::"]
fn segment_recovery_seeds_and_mutations() {
    fuzz("segment_recovery", &[], segment_recovery::run);
}
