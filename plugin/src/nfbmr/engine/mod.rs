// SPDX-License-Identifier: MIT OR Apache-2.0
//! Engines: a model loaded once per process and device, scoring the frames of every element that uses it
//! in batches on its own inference thread. An element holds an [`Engine`]; the last one to let go stops it.

mod inference;
mod registry;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use gst_video::prelude::*;
use nfbmr::{
    CodePolicy, Criteria, Detector, DeviceSpec, Frame, PixelFormat, Plane, Precision, Verdict,
};

pub use inference::Batching;
use inference::{Job, Request, Scored, Service, SharedDetector};

/// What an element asks for: which model, where, and how frames may be batched.
#[derive(Clone, Debug)]
pub struct EngineSpec {
    pub path: PathBuf,
    pub device: DeviceSpec,
    pub precision: Precision,
    /// Replay the forward pass from CUDA graphs.
    pub cuda_graphs: bool,
    pub code: CodePolicy,
    /// Taken from the element that starts the engine; the others share it as it is.
    pub batching: Batching,
}

/// What the streaming thread knows of the model on the inference thread.
#[derive(Clone, Debug)]
pub struct LoadedModel {
    pub path: PathBuf,
    /// First 12 hex digits of the file's SHA-256.
    pub id: String,
    /// Where it runs (`cpu`, `cuda:0`).
    pub device: String,
    pub precision: Precision,
    pub on_cuda: bool,
}

/// Why the engine could not do what was asked.
#[derive(Debug)]
pub enum Failure {
    /// The model or the frame was refused: the message says why.
    Model(nfbmr::Error),
    /// The buffer could not be read as a frame of the negotiated caps.
    Unmapped,
    /// libtorch failed on a batch.
    Inference(String),
    /// Scoring this frame panicked; the engine goes on with the next.
    Panicked(String),
    /// The inference thread could not be started, or is gone.
    Thread(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Model(err) => write!(f, "{err}"),
            Failure::Unmapped => f.write_str("cannot map the frame"),
            Failure::Inference(message) => f.write_str(message),
            Failure::Panicked(message) => write!(f, "the inference thread panicked: {message}"),
            Failure::Thread(why) => write!(f, "the inference thread {why}"),
        }
    }
}

/// One engine, shared by the elements holding it.
pub struct Shared {
    requests: Option<mpsc::Sender<Request>>,
    service: Arc<Service>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    model: LoadedModel,
    users: AtomicUsize,
}

impl Shared {
    /// Starts the first inference thread and loads the model on it.
    fn start(spec: &EngineSpec) -> Result<Self, Failure> {
        let (requests, queue) = mpsc::channel::<Request>();
        let (loaded, load_result) = mpsc::sync_channel(1);
        let EngineSpec {
            path,
            device,
            precision,
            cuda_graphs,
            code,
            batching,
        } = spec.clone();
        let thread = std::thread::Builder::new()
            .name("nfbmr-inference".into())
            .spawn(move || {
                let warmed = |detector: Detector| {
                    if detector.device().is_cuda() {
                        detector.warm_up(batching.max_batch)?;
                    }
                    Ok(detector)
                };
                let graphed = |detector: Detector| match cuda_graphs {
                    true => detector.with_cuda_graphs(),
                    false => Ok(detector),
                };
                match Detector::load(&path, device, code)
                    .and_then(|detector| detector.with_precision(precision))
                    .and_then(graphed)
                    .and_then(warmed)
                {
                    Ok(detector) => {
                        let model = LoadedModel {
                            path: path.clone(),
                            id: detector.model_id().to_owned(),
                            device: nfbmr::device::device_name(detector.device()),
                            precision: detector.precision(),
                            on_cuda: detector.device().is_cuda(),
                        };
                        let service = Arc::new(Service {
                            detector: SharedDetector(detector),
                            path,
                            queue: Mutex::new(queue),
                            batching,
                        });
                        let _ = loaded.send(Ok((model, Arc::clone(&service))));
                        service.serve();
                    }
                    Err(err) => {
                        let _ = loaded.send(Err(Failure::Model(err)));
                    }
                }
            })
            .map_err(|err| Failure::Thread(format!("cannot start: {err}")))?;
        let (model, service) = load_result
            .recv()
            .unwrap_or_else(|_| Err(Failure::Panicked("while loading the model".into())))?;
        Ok(Shared {
            requests: Some(requests),
            service,
            threads: Mutex::new(vec![thread]),
            model,
            users: AtomicUsize::new(0),
        })
    }

    /// Counts one more user. On the CPU each user may need a core of its own: one inference thread scores
    /// one batch at a time, and a small model's batch does not keep several cores busy, so the engine
    /// serves with as many threads as it has users, up to the cores. On CUDA one thread feeds the device.
    fn join(&self) -> Result<(), Failure> {
        let users = self.users.fetch_add(1, Ordering::SeqCst) + 1;
        if self.model.on_cuda {
            return Ok(());
        }
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let mut threads = crate::lock(&self.threads);
        while threads.len() < users.min(cores) {
            let service = Arc::clone(&self.service);
            let thread = std::thread::Builder::new()
                .name("nfbmr-inference".into())
                .spawn(move || service.serve())
                .map_err(|err| {
                    self.users.fetch_sub(1, Ordering::SeqCst);
                    Failure::Thread(format!("cannot start: {err}"))
                })?;
            threads.push(thread);
        }
        Ok(())
    }

    fn submit(&self, job: Job) -> Result<mpsc::Receiver<Result<Scored, Failure>>, Failure> {
        let (reply, answer) = mpsc::sync_channel(1);
        let requests = self.requests.as_ref().ok_or_else(ended)?;
        requests.send(Request { job, reply }).map_err(|_| ended())?;
        Ok(answer)
    }
}

fn ended() -> Failure {
    Failure::Thread("has ended".into())
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Closing the queue ends the threads; the last one drops the model where it was used.
        self.requests.take();
        for thread in crate::lock(&self.threads).drain(..) {
            let _ = thread.join();
        }
    }
}

/// An element's hold on an engine.
pub struct Engine {
    shared: Arc<Shared>,
    device: tch::Device,
    /// Host buffers of this element's scored frames, filled again with the next ones.
    spare: Vec<nfbmr::StagedFrame>,
    /// Test builds only: the next frame panics on the inference thread.
    #[cfg(test)]
    fault: bool,
}

impl Engine {
    /// The running engine for `spec`, or a new one with the model loaded.
    pub fn acquire(spec: &EngineSpec) -> Result<Self, Failure> {
        let device = spec.device.resolve().map_err(Failure::Model)?;
        let key = registry::Key::of(spec, device);
        let shared = registry::find_or_start(key, || Shared::start(spec))?;
        shared.join()?;
        Ok(Engine {
            shared,
            device,
            spare: Vec::new(),
            #[cfg(test)]
            fault: false,
        })
    }

    pub fn model(&self) -> &LoadedModel {
        &self.shared.model
    }

    /// Elements holding this engine, this one included.
    pub fn users(&self) -> usize {
        self.shared.users.load(Ordering::SeqCst)
    }

    pub fn batching(&self) -> Batching {
        self.shared.service.batching
    }

    /// Test builds only: makes the next frame panic on the inference thread.
    #[cfg(test)]
    pub fn panic_at_next_frame(&mut self) {
        self.fault = true;
    }

    /// Hands a frame of `info` in `format` to the engine, to be scored while the caller goes on; the
    /// verdict is [`Engine::collect`]ed with the ticket.
    pub fn submit(
        &mut self,
        buffer: &gst::BufferRef,
        (info, format): (&gst_video::VideoInfo, PixelFormat),
    ) -> Result<Ticket, Failure> {
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info)
            .map_err(|_| Failure::Unmapped)?;
        let (width, height) = (frame.width() as usize, frame.height() as usize);
        let planes = (0..frame.n_planes())
            .map(|plane| {
                Ok(Plane {
                    data: frame.plane_data(plane).map_err(|_| Failure::Unmapped)?,
                    stride: frame.plane_stride()[plane as usize] as usize,
                })
            })
            .collect::<Result<Vec<_>, Failure>>()?;
        let staged = Frame {
            width,
            height,
            format,
            planes,
        }
        .stage(self.device, self.spare.pop())
        .map_err(Failure::Model)?;
        let job = Job::Score(staged);
        #[cfg(test)]
        let job = if std::mem::take(&mut self.fault) {
            Job::Panic
        } else {
            job
        };
        Ok(Ticket {
            answer: self.shared.submit(job)?,
            received: None,
            shared: Arc::clone(&self.shared),
            size: (width, height),
        })
    }

    /// The verdict of a submitted frame, waiting for it if it is not scored yet.
    pub fn collect(&mut self, mut ticket: Ticket, criteria: &Criteria) -> Result<Judged, Failure> {
        let answer = match ticket.received.take() {
            Some(answer) => answer,
            None => ticket.answer.recv().unwrap_or_else(|_| Err(ended())),
        };
        let Scored { detection, buffer } = answer?;
        self.spare.push(buffer);
        let (width, height) = ticket.size;
        Ok(Judged {
            verdict: detection.verdict(criteria, width, height),
            model_id: ticket.shared.model.id.clone(),
        })
    }
}

/// A frame handed to an engine. It keeps that engine running until collected, even if the element has
/// moved to another model meanwhile.
pub struct Ticket {
    answer: mpsc::Receiver<Result<Scored, Failure>>,
    received: Option<Result<Scored, Failure>>,
    shared: Arc<Shared>,
    size: (usize, usize),
}

impl Ticket {
    /// Whether the answer has come: collecting it will not wait.
    pub fn is_ready(&mut self) -> bool {
        if self.received.is_none() {
            self.received = match self.answer.try_recv() {
                Ok(answer) => Some(answer),
                Err(mpsc::TryRecvError::Empty) => None,
                Err(mpsc::TryRecvError::Disconnected) => Some(Err(ended())),
            };
        }
        self.received.is_some()
    }
}

/// A verdict and the model that gave it.
pub struct Judged {
    pub verdict: Verdict,
    /// First 12 hex digits of the model file's SHA-256.
    pub model_id: String,
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shared.users.fetch_sub(1, Ordering::SeqCst);
    }
}
