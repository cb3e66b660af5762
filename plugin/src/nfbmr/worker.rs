// SPDX-License-Identifier: MIT OR Apache-2.0
//! The thread that owns the detector and runs every libtorch call of one element.
//!
//! libgomp (libtorch's CPU thread pool) keeps a pool of worker threads per thread that ever ran a parallel
//! region, and spins less eagerly once the process has more pool threads than CPUs. If the thread that
//! changed the state (gst-launch's main thread) loaded the model while the streaming thread ran inference,
//! each frame took about twice as long (measured: 83 ms instead of 42 ms at 640×480 on 2 cores). With one
//! long-lived thread doing all the work there is one pool, as in a single-threaded program.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

/// A job returns the message of its panic, if it panicked.
type Job<S> = Box<dyn FnOnce(&mut S) -> Option<String> + Send>;

/// A thread owning a value of type `S` and running jobs on it, one at a time, in the order they came. A job
/// that panics ends the thread (the value may be half-changed): every later job is refused with the panic's
/// message, and the process goes on.
pub struct Worker<S> {
    jobs: Option<mpsc::Sender<Job<S>>>,
    thread: Option<JoinHandle<()>>,
    death: Arc<Mutex<Option<String>>>,
}

/// Why a job did not run: the worker's thread has ended.
#[derive(Clone, Debug)]
pub struct Stopped(pub String);

impl<S: Send + 'static> Worker<S> {
    pub fn spawn(mut owned: S) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job<S>>();
        let death = Arc::new(Mutex::new(None));
        let recorded = Arc::clone(&death);
        let thread = std::thread::Builder::new()
            .name("nfbmr-inference".into())
            .spawn(move || {
                for job in queue {
                    if let Some(message) = job(&mut owned) {
                        *recorded.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
                        return;
                    }
                }
            })?;
        Ok(Worker {
            jobs: Some(jobs),
            thread: Some(thread),
            death,
        })
    }

    /// Runs `job` on the worker with its value and waits for the result.
    pub fn run<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut S) -> R + Send + 'static,
    ) -> Result<R, Stopped> {
        let (reply, result) = mpsc::sync_channel(1);
        let job: Job<S> = Box::new(move |owned| {
            let outcome = catch_unwind(AssertUnwindSafe(|| job(owned)));
            let message = outcome.as_ref().err().map(|panic| {
                panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".into())
            });
            let _ = reply.send(outcome.map_err(|_| message.clone()));
            message
        });
        let jobs = self.jobs.as_ref().ok_or_else(|| self.stopped())?;
        jobs.send(job).map_err(|_| self.stopped())?;
        match result.recv() {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(Some(message))) => Err(Stopped(format!("it panicked: {message}"))),
            _ => Err(self.stopped()),
        }
    }

    fn stopped(&self) -> Stopped {
        let death = self.death.lock().unwrap_or_else(|e| e.into_inner());
        Stopped(match death.as_deref() {
            Some(message) => format!("it panicked: {message}"),
            None => "it ended".into(),
        })
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
