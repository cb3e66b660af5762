// SPDX-License-Identifier: MIT OR Apache-2.0
//! The model of one element: loaded, swapped and run on the element's inference thread only.

use std::path::{Path, PathBuf};

use gst_video::prelude::*;
use nfbmr::{CodePolicy, Criteria, Detector, DeviceSpec, Frame, PixelLayout, Verdict};

use super::worker::{Stopped, Worker};

/// What the streaming thread knows of the model on the inference thread.
#[derive(Clone, Debug)]
pub struct LoadedModel {
    pub path: PathBuf,
    /// First 12 hex digits of the file's SHA-256.
    pub id: String,
    /// Where it runs (`cpu`, `cuda:0`).
    pub device: String,
    pub on_cuda: bool,
}

pub struct Engine {
    worker: Worker<Option<Detector>>,
}

/// Why the engine could not do what was asked.
#[derive(Debug)]
pub enum Failure {
    /// The model, the frame or libtorch refused: the message says why.
    Model(nfbmr::Error),
    /// The buffer could not be read as a frame of the negotiated caps.
    Unmapped,
    /// The inference thread is gone (a job panicked): the model cannot be used any more.
    Stopped(Stopped),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Model(err) => write!(f, "{err}"),
            Failure::Unmapped => f.write_str("cannot map the frame"),
            Failure::Stopped(Stopped(why)) => write!(f, "the inference thread stopped: {why}"),
        }
    }
}

impl Engine {
    /// Starts the inference thread and loads the model on it.
    pub fn start(
        path: &Path,
        device: DeviceSpec,
        code: CodePolicy,
    ) -> std::io::Result<(Self, Result<LoadedModel, Failure>)> {
        let engine = Engine {
            worker: Worker::spawn(None)?,
        };
        let loaded = engine.swap(path, device, code);
        Ok((engine, loaded))
    }

    /// Loads the model at `path` and makes it the one frames are scored with. On failure the model in use
    /// (if any) stays.
    pub fn swap(
        &self,
        path: &Path,
        device: DeviceSpec,
        code: CodePolicy,
    ) -> Result<LoadedModel, Failure> {
        let path = path.to_owned();
        self.worker
            .run(move |slot| {
                let detector = Detector::load(&path, device, code)?;
                let loaded = LoadedModel {
                    path,
                    id: detector.model_id().to_owned(),
                    device: nfbmr::device::device_name(detector.device()),
                    on_cuda: detector.device().is_cuda(),
                };
                *slot = Some(detector);
                Ok(loaded)
            })
            .map_err(Failure::Stopped)?
            .map_err(Failure::Model)
    }

    /// Test builds only: a job that panics, as a bug in libtorch's bindings would.
    #[cfg(test)]
    pub fn panic_on_inference_thread(&self) {
        let _ = self
            .worker
            .run(|_| -> () { panic!("injected fault on the inference thread") });
    }

    /// Judges a frame of `info` (whose first plane is packed in `layout`) with the model in use.
    pub fn score(
        &self,
        buffer: &gst::BufferRef,
        (info, layout): (&gst_video::VideoInfo, PixelLayout),
        criteria: &Criteria,
    ) -> Result<Verdict, Failure> {
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info)
            .map_err(|_| Failure::Unmapped)?;
        let (width, height) = (frame.width() as usize, frame.height() as usize);
        let stride = frame.plane_stride()[0] as usize;
        let plane = frame.plane_data(0).map_err(|_| Failure::Unmapped)?;
        // The inference thread needs owned pixels: copy the visible part of each row.
        let row = width * layout.bytes_per_pixel;
        let mut pixels = Vec::with_capacity(row * height);
        for y in 0..height {
            pixels.extend_from_slice(&plane[y * stride..][..row]);
        }
        let detection = self
            .worker
            .run(move |slot| {
                let detector = slot
                    .as_ref()
                    .ok_or_else(|| nfbmr::Error::Input("no model loaded".into()))?;
                detector.infer(&Frame::packed(&pixels, width, height, layout))
            })
            .map_err(Failure::Stopped)?
            .map_err(Failure::Model)?;
        Ok(detection.verdict(criteria, width, height))
    }
}
