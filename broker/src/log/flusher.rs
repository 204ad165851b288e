//! Group commit: one background thread turns appended data into durable data.
//!
//! An fsync costs milliseconds, so the log never fsyncs per batch. Instead, a writer that needs
//! durability (`acks=all`) registers its partition here and waits on the partition's durable
//! offset. The flusher thread takes *every* partition requested since its last round and
//! fsyncs each once; everything appended before that fsync started becomes durable together.
//! While one round is in progress new requests pile up and are served by the next round, so
//! the number of fsyncs adapts to the load rather than to the number of batches.
//!
//! Independently of requests, dirty partitions are flushed every `flush_interval` (if set), the
//! broker's background flush policy.
//!
//! An fsync error is fail-stop: the partition goes offline instead of retrying (a retry after
//! Linux dropped the dirty pages would report success for data that is gone).

use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::partition::PartitionLog;

/// Requests for the flusher thread.
#[derive(Default)]
pub struct FlushQueue {
    state: Mutex<QueueState>,
    wake: Condvar,
}

#[derive(Default)]
struct QueueState {
    requested: Vec<Arc<PartitionLog>>,
    all: Vec<Weak<PartitionLog>>,
    shutdown: bool,
}

impl FlushQueue {
    /// Asks the flusher to fsync `log` as soon as possible.
    pub fn request(&self, log: Arc<PartitionLog>) {
        let mut state = self.state.lock();
        if !state.requested.iter().any(|l| Arc::ptr_eq(l, &log)) {
            state.requested.push(log);
        }
        self.wake.notify_one();
    }

    /// Registers a log for periodic background flushing.
    pub fn register(&self, log: &Arc<PartitionLog>) {
        self.state.lock().all.push(Arc::downgrade(log));
    }
}

/// The flusher thread.
pub struct Flusher {
    queue: Arc<FlushQueue>,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    /// Starts the thread. `interval`: background flush period for dirty logs (`None`: only on
    /// request).
    pub fn start(queue: Arc<FlushQueue>, interval: Option<Duration>) -> Flusher {
        let q = queue.clone();
        let thread =
            std::thread::Builder::new().name("brook-flusher".into()).spawn(move || run(&q, interval)).ok();
        Flusher { queue, thread }
    }

    /// Stops the thread after it finishes the current round.
    pub fn stop(&mut self) {
        self.queue.state.lock().shutdown = true;
        self.queue.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(queue: &FlushQueue, interval: Option<Duration>) {
    let mut next_periodic = interval.map(|i| Instant::now() + i);
    loop {
        let (batch, periodic) = {
            let mut state = queue.state.lock();
            loop {
                if state.shutdown {
                    return;
                }
                if !state.requested.is_empty() {
                    break;
                }
                match next_periodic {
                    Some(at) if Instant::now() >= at => break,
                    Some(at) => {
                        queue.wake.wait_until(&mut state, at);
                    }
                    None => queue.wake.wait(&mut state),
                }
            }
            let requested = std::mem::take(&mut state.requested);
            let periodic = next_periodic.is_some_and(|at| Instant::now() >= at);
            let mut logs = requested;
            if periodic {
                state.all.retain(|w| w.strong_count() > 0);
                for log in state.all.iter().filter_map(Weak::upgrade) {
                    if log.is_dirty() && !logs.iter().any(|l| Arc::ptr_eq(l, &log)) {
                        logs.push(log);
                    }
                }
            }
            (logs, periodic)
        };
        if periodic {
            next_periodic = interval.map(|i| Instant::now() + i);
        }
        flush_all(&batch);
    }
}

/// Flushes several logs, in parallel when there are several (each fsync is a wait on the disk).
fn flush_all(logs: &[Arc<PartitionLog>]) {
    let flush = |log: &Arc<PartitionLog>| {
        // A failed fsync is never retried: the log has taken itself offline (fail-stop, see
        // `PartitionLog::take_offline`) and its waiters have their error.
        if let Err(e) = log.flush() {
            tracing::debug!(log = ?log, error = %e, "flush skipped or failed");
        }
    };
    if logs.len() <= 1 {
        logs.iter().for_each(flush);
        return;
    }
    let workers = logs.len().min(8);
    let chunk = logs.len().div_ceil(workers);
    std::thread::scope(|s| {
        for part in logs.chunks(chunk) {
            s.spawn(move || part.iter().for_each(flush));
        }
    });
}
