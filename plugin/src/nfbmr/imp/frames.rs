// SPDX-License-Identifier: MIT OR Apache-2.0
//! A frame's way through the element. It is begun when it arrives (handed to the engine, or set to carry
//! the last verdict) and finished, in arrival order, once its verdict is in (meta, results, events,
//! overlay). With `frames-in-flight` above 1 several frames are begun before the oldest is finished, so
//! that a stream can run faster than one inference allows; they are pushed on before any serialized
//! event, on a drain query and at EOS, and dropped by a flush.

use std::sync::Arc;

use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::base_transform::GenerateOutputSuccess;
use gst_base::subclass::prelude::*;

use nfbmr::events::FrameTime;

use super::super::engine::Ticket;
use super::super::outputs::{Report, event_line};
use super::{CAT, Nfbmr};

/// What a begun frame is waiting for.
pub(super) enum Work {
    /// A stand-in picture from the source while the camera is away: passed on as it is.
    StandIn,
    /// A frame skipped by `inference-interval`: it carries the verdict before it.
    Carry {
        index: u64,
    },
    Scoring {
        index: u64,
        ticket: Ticket,
    },
}

/// A begun frame, in the order frames arrived.
pub(super) struct InFlight {
    pub buffer: gst::Buffer,
    pub work: Work,
}

impl Nfbmr {
    /// Hands the frame to the engine, or decides it carries the last verdict.
    pub(super) fn begin(&self, buffer: &gst::BufferRef) -> Result<Work, gst::FlowError> {
        let camera_frame = self.camera_frame();
        let settings = crate::lock(&self.settings).clone();
        let mut guard = crate::lock(&self.state);
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        #[cfg(test)]
        self.inject_fault(state);
        let index = state.frames;
        state.frames += 1;
        if !camera_frame {
            return Ok(Work::StandIn);
        }
        if state.model_changes != settings.model_changes {
            self.swap_model(state, &settings);
        }
        let interval = u64::from(settings.inference_interval.max(1));
        if state.verdict_coming && index % interval != 0 {
            return Ok(Work::Carry { index });
        }
        let Some((info, format)) = state.info.as_ref() else {
            return Err(gst::FlowError::NotNegotiated);
        };
        let ticket = state
            .engine
            .submit(buffer, (info, *format))
            .map_err(|err| self.inference_failed(err))?;
        state.verdict_coming = true;
        Ok(Work::Scoring { index, ticket })
    }

    /// Waits for the frame's verdict if it has one coming, then reports it on the frame and around.
    pub(super) fn finish(
        &self,
        buffer: &mut gst::BufferRef,
        work: Work,
    ) -> Result<(), gst::FlowError> {
        let settings = crate::lock(&self.settings).clone();
        let mut guard = crate::lock(&self.state);
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let (index, inferred) = match work {
            Work::StandIn => return Ok(()),
            Work::Carry { index } => (index, false),
            Work::Scoring { index, ticket } => {
                let judged = state
                    .engine
                    .collect(ticket, &settings.criteria())
                    .map_err(|err| self.inference_failed(err))?;
                gst::log!(
                    CAT,
                    imp = self,
                    "Frame {index}: raw score {:.4}, threshold {:.4}",
                    judged.verdict.raw_score,
                    judged.verdict.threshold
                );
                state.last = Some(Arc::new(judged));
                (index, true)
            }
        };
        // Carried from a frame scored before this one, and finished before it.
        let Some(judged) = state.last.clone() else {
            return Ok(());
        };
        let verdict = &judged.verdict;
        let pts = buffer.pts();
        let running_time = self.running_time(pts);
        let time = FrameTime {
            pts: pts.map(gst::ClockTime::nseconds),
            running_time: running_time.map(gst::ClockTime::nseconds),
        };
        let event = inferred.then(|| state.events.push(verdict, time)).flatten();
        let duration = buffer.duration().unwrap_or_default();
        state.stream_end = FrameTime {
            pts: time.pts.map(|pts| pts + duration.nseconds()),
            running_time: time.running_time.map(|t| t + duration.nseconds()),
        };
        let report = Report {
            verdict,
            inferred,
            event_id: state.events.current(),
            model_id: &judged.model_id,
            pts,
            running_time,
        };
        report.attach(buffer).map_err(|err| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ["Cannot add meta: {err}"]);
            gst::FlowError::Error
        })?;
        if inferred {
            self.write_result(&report.json_line(index));
        }
        if let Some(event) = &event {
            self.write_result(&event_line(event, &judged.model_id));
        }
        if settings.overlay
            && let Some((info, format)) = state.info.clone()
        {
            self.paint(buffer, (&info, format), &settings, verdict)?;
        }
        // Posted without the state lock: a synchronous bus handler may set properties.
        drop(guard);
        if inferred && settings.post_messages {
            self.post(report.message());
        }
        if let Some(event) = &event {
            self.announce(event);
        }
        Ok(())
    }

    fn inference_failed(&self, err: impl std::fmt::Display) -> gst::FlowError {
        gst::element_imp_error!(self, gst::StreamError::Failed, ["Inference failed: {err}"]);
        gst::FlowError::Error
    }

    /// With frames in flight: begins the frame that came in, then hands out the oldest begun frame once
    /// it is scored, or at once when `depth` frames are in flight.
    pub(super) fn pipelined_output(
        &self,
        depth: usize,
    ) -> Result<GenerateOutputSuccess, gst::FlowError> {
        if let Some(buffer) = self.take_queued_buffer() {
            self.before_transform(&buffer);
            let work = self.begin(&buffer)?;
            let mut guard = crate::lock(&self.state);
            let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
            state.in_flight.push_back(InFlight { buffer, work });
        }
        let oldest = {
            let mut guard = crate::lock(&self.state);
            let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
            let full = state.in_flight.len() >= depth;
            let scoring = match state.in_flight.front_mut() {
                Some(InFlight {
                    work: Work::Scoring { ticket, .. },
                    ..
                }) => !ticket.is_ready(),
                _ => false,
            };
            if scoring && !full {
                None
            } else {
                state.in_flight.pop_front()
            }
        };
        match oldest {
            Some(frame) => Ok(GenerateOutputSuccess::Buffer(self.finished(frame)?)),
            None => Ok(GenerateOutputSuccess::NoOutput),
        }
    }

    fn finished(&self, InFlight { buffer, work }: InFlight) -> Result<gst::Buffer, gst::FlowError> {
        let mut buffer = buffer;
        self.finish(buffer.make_mut(), work)?;
        Ok(buffer)
    }

    /// Finishes every frame in flight and pushes it on, oldest first.
    pub(super) fn drain(&self) -> Result<(), gst::FlowError> {
        loop {
            let oldest = match crate::lock(&self.state).as_mut() {
                Some(state) => state.in_flight.pop_front(),
                None => None,
            };
            let Some(frame) = oldest else {
                return Ok(());
            };
            let buffer = self.finished(frame)?;
            self.obj().src_pad().push(buffer)?;
        }
    }

    /// Drops the frames in flight: a flush throws away what the stream had before it.
    pub(super) fn discard_in_flight(&self) {
        if let Some(state) = crate::lock(&self.state).as_mut() {
            state.in_flight.clear();
        }
    }
}
