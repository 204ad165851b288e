//! Small helpers shared by the broker modules.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, by the wall clock.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A background thread that runs a task every `interval` until stopped (the cleaner, the
/// transaction timeout sweep).
pub struct Periodic {
    stop: std::sync::Arc<(parking_lot::Mutex<bool>, parking_lot::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Periodic {
    /// Starts a thread named `name` that calls `task` every `interval` (first after one
    /// interval).
    pub fn start(
        name: &str,
        interval: std::time::Duration,
        mut task: impl FnMut() + Send + 'static,
    ) -> Periodic {
        let stop = std::sync::Arc::new((parking_lot::Mutex::new(false), parking_lot::Condvar::new()));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                loop {
                    {
                        let mut stopped = s.0.lock();
                        if !*stopped {
                            s.1.wait_for(&mut stopped, interval);
                        }
                        if *stopped {
                            return;
                        }
                    }
                    task();
                }
            })
            .ok();
        Periodic { stop, thread }
    }

    /// Stops the thread and waits for it (unless called from the thread itself).
    pub fn stop(&mut self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
        if let Some(t) = self.thread.take()
            && t.thread().id() != std::thread::current().id()
        {
            let _ = t.join();
        }
    }
}

impl Drop for Periodic {
    fn drop(&mut self) {
        self.stop();
    }
}
