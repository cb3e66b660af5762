// SPDX-License-Identifier: MIT OR Apache-2.0
//! The inference threads of one engine: they score the frames of every element sharing the engine, in
//! batches, taking them from one queue in turn.
//!
//! Every libtorch call of a model happens on these few long-lived threads, the first of which loads it.
//! libgomp (libtorch's CPU thread pool) keeps a pool of worker threads per thread that ever ran a parallel
//! region, and spins less eagerly once the process has more pool threads than CPUs: when gst-launch's main
//! thread loaded the model while the streaming thread ran inference, each frame took about twice as long
//! (measured: 83 ms instead of 42 ms at 640×480 on 2 cores).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use nfbmr::{Detection, Detector, StagedFrame};

use super::super::imp::CAT;
use super::Failure;

/// How the engine gathers frames into batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batching {
    /// Most frames scored together.
    pub max_batch: usize,
    /// Longest wait, after the first frame, for more.
    pub timeout: Duration,
}

/// What an element asks of the engine, and where the answer goes.
pub struct Request {
    pub job: Job,
    pub reply: mpsc::SyncSender<Result<Scored, Failure>>,
}

pub enum Job {
    Score(StagedFrame),
    /// Test builds only: panics on the inference thread, as a bug in libtorch's bindings would.
    #[cfg(test)]
    Panic,
}

/// A frame's detection, and its host buffer back for the element's next frame.
pub struct Scored {
    pub detection: Detection,
    pub buffer: StagedFrame,
}

/// The model, read by every inference thread of its engine at once.
pub struct SharedDetector(pub Detector);

// SAFETY: scoring only reads the detector. Its tensors are frozen weights and constants that nothing changes
// after loading (inference runs under `no_grad` and never operates in place on them), and libtorch lets
// any number of threads read one tensor at a time. `tch::Tensor` is not `Sync` only because some of its
// methods mutate, and none of those is called on a loaded detector.
unsafe impl Sync for SharedDetector {}

/// What the inference threads of one engine share: the model and the queue of frames.
pub struct Service {
    pub detector: SharedDetector,
    pub path: PathBuf,
    pub queue: Mutex<mpsc::Receiver<Request>>,
    pub batching: Batching,
}

impl Service {
    /// Scores batches until every sender is gone. Several threads may serve one service: each takes the
    /// next batch from the queue in turn.
    pub fn serve(&self) {
        while let Some(batch) = self.next_batch() {
            gst::debug!(
                CAT,
                "Scoring a batch of {} frames with {}",
                batch.len(),
                self.path.display()
            );
            run(&self.detector.0, batch);
        }
    }

    /// The first request waiting and those that come within the batch timeout, up to a batch.
    fn next_batch(&self) -> Option<Vec<Request>> {
        let requests = crate::lock(&self.queue);
        let mut batch = vec![requests.recv().ok()?];
        let deadline = Instant::now() + self.batching.timeout;
        while batch.len() < self.batching.max_batch {
            let left = deadline.saturating_duration_since(Instant::now());
            let next = if left.is_zero() {
                requests.try_recv().ok()
            } else {
                requests.recv_timeout(left).ok()
            };
            match next {
                Some(request) => batch.push(request),
                None => break,
            }
        }
        Some(batch)
    }
}

/// Scores a batch and answers each request. A batch that panics is run again frame by frame, so that
/// one stream's fault fails only its own frame and the engine goes on serving the others.
fn run(detector: &Detector, batch: Vec<Request>) {
    let outcome = catch_unwind(AssertUnwindSafe(|| score(detector, &batch)));
    match outcome {
        Ok(Ok(detections)) => {
            for (request, detection) in batch.into_iter().zip(detections) {
                #[cfg_attr(not(test), allow(irrefutable_let_patterns))]
                let Job::Score(buffer) = request.job else {
                    unreachable!("a batch with a fault panics")
                };
                let _ = request.reply.send(Ok(Scored { detection, buffer }));
            }
        }
        Ok(Err(err)) => {
            let message = err.to_string();
            for request in batch {
                let _ = request.reply.send(Err(Failure::Inference(message.clone())));
            }
        }
        Err(_) if batch.len() > 1 => {
            for request in batch {
                run(detector, vec![request]);
            }
        }
        Err(panic) => {
            let message = nfbmr::error::panic_message(&*panic);
            for request in batch {
                let _ = request.reply.send(Err(Failure::Panicked(message.clone())));
            }
        }
    }
}

fn score(detector: &Detector, batch: &[Request]) -> nfbmr::Result<Vec<Detection>> {
    let frames: Vec<&StagedFrame> = batch
        .iter()
        .map(|request| match &request.job {
            Job::Score(frame) => frame,
            #[cfg(test)]
            Job::Panic => panic!("injected fault on the inference thread"),
        })
        .collect();
    detector.infer_batch(&frames)
}
