//! Waiting for a future from the client's synchronous calls.

/// Runs `f` to completion on the calling thread — or, when the caller is itself inside a
/// `futures` executor (a test runner, an `async` caller of the synchronous [`crate::Cluster`]),
/// on a scoped thread, since such executors cannot nest.
pub(crate) fn block_on<F>(f: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    // The guard is dropped at once: it only tells whether an executor runs on this thread.
    let nested = futures::executor::enter().is_err();
    if !nested {
        return futures::executor::block_on(f);
    }
    std::thread::scope(|s| match s.spawn(|| futures::executor::block_on(f)).join() {
        Ok(out) => out,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}
