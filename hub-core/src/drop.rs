//! Running async cleanup from `Drop` (the testcontainers pattern): on a multi-thread runtime
//! block in place on the future; on a current-thread runtime (or outside any runtime) hand it
//! to a dedicated thread with its own runtime and wait for it.

use std::future::Future;

use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs `fut` to completion from synchronous code, whatever runtime (if any) we are in.
pub(crate) fn block_on_cleanup<F>(fut: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(move || handle.block_on(fut));
        }
        _ => {
            // A current-thread runtime cannot be blocked from inside; a fresh runtime on its
            // own thread runs the cleanup, and this thread waits for it.
            let worker = std::thread::Builder::new()
                .name("hub-lab-drop".into())
                .spawn(move || {
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt.block_on(fut),
                        Err(e) => {
                            tracing::error!(error = %e, "cannot start a runtime to remove the lab")
                        }
                    }
                });
            match worker {
                Ok(w) => {
                    if w.join().is_err() {
                        tracing::error!("the lab removal thread panicked");
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot start a thread to remove the lab"),
            }
        }
    }
}
