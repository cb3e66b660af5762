// SPDX-License-Identifier: MIT OR Apache-2.0
//! The thread that owns the detector and runs every libtorch call of one element.
//!
//! libgomp (libtorch's CPU thread pool) keeps a pool of worker threads per thread that ever ran a parallel
//! region, and spins less eagerly once the process has more pool threads than CPUs. If the thread that
//! changed the state (gst-launch's main thread) loaded the model while the streaming thread ran inference,
//! each frame took about twice as long (measured: 83 ms instead of 42 ms at 640×480 on 2 cores). With one
//! long-lived thread doing all the work there is one pool, as in a single-threaded program.

use std::sync::mpsc;
use std::thread::JoinHandle;

type Job<S> = Box<dyn FnOnce(&mut S) + Send>;

/// A thread owning a value of type `S` and running jobs on it, one at a time, in the order they came.
pub struct Worker<S> {
    jobs: Option<mpsc::Sender<Job<S>>>,
    thread: Option<JoinHandle<()>>,
}

impl<S: Send + 'static> Worker<S> {
    pub fn spawn(mut owned: S) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job<S>>();
        let thread = std::thread::Builder::new()
            .name("nfbmr-inference".into())
            .spawn(move || {
                for job in queue {
                    job(&mut owned);
                }
            })?;
        Ok(Worker {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Runs `job` on the worker with its value and waits for the result. `None` when the worker is gone
    /// (a job panicked).
    pub fn run<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut S) -> R + Send + 'static,
    ) -> Option<R> {
        let (reply, result) = mpsc::sync_channel(1);
        let job: Job<S> = Box::new(move |owned| {
            let _ = reply.send(job(owned));
        });
        self.jobs.as_ref()?.send(job).ok()?;
        result.recv().ok()
    }
}

impl<S> Drop for Worker<S> {
    fn drop(&mut self) {
        // Closing the queue ends the thread, which drops the value where it lived.
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
