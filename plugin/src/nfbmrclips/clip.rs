// SPDX-License-Identifier: MIT OR Apache-2.0
//! One defect clip: the encoded frames of an event, with its pre-roll and post-roll, muxed into a file by a
//! small pipeline of its own (appsrc ! parser ! muxer ! filesink), and its JSON beside it.

use std::path::{Path, PathBuf};

use gst::prelude::*;
use serde::Serialize;

use super::ring::Timed;
use serde_json::{Map, Value};

/// What the clip's JSON file says.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct ClipRecord<'a> {
    clip: &'a Path,
    /// The event's fields as the element sent them (`id`, `pts`, `peak-score`, `region`, …): start and end.
    start: &'a Map<String, Value>,
    end: Option<&'a Map<String, Value>>,
    /// Running time of the clip's first and last frames, nanoseconds (as the events' `running-time`).
    clip_start_running_time: Option<u64>,
    clip_end_running_time: Option<u64>,
    frames: u64,
}

pub struct Clip {
    pub path: PathBuf,
    pipeline: gst::Pipeline,
    appsrc: gst_app::AppSrc,
    /// Timestamp of the first frame, which the file starts at 0 from.
    base: Option<gst::ClockTime>,
    /// Running times of the first and last frames.
    first: Option<gst::ClockTime>,
    last: Option<gst::ClockTime>,
    frames: u64,
    start: Map<String, Value>,
    end: Option<Map<String, Value>>,
    /// Frames up to this running time belong in the clip; unknown until the event ends.
    pub until: Option<gst::ClockTime>,
}

/// The parser that turns an encoded stream into what muxers take from any keyframe on (codec data in caps).
fn parser_for(caps: &gst::CapsRef) -> Option<&'static str> {
    match caps.structure(0)?.name().as_str() {
        "video/x-h264" => Some("h264parse"),
        "video/x-h265" => Some("h265parse"),
        _ => None,
    }
}

impl Clip {
    /// A clip of the event that `start` describes, written to `path` with `muxer`, for buffers of `caps`.
    pub fn open(
        path: PathBuf,
        caps: &gst::Caps,
        muxer: &str,
        start: Map<String, Value>,
    ) -> Result<Self, glib::BoolError> {
        if path.exists() {
            return Err(glib::bool_error!(
                "it exists already and is not overwritten"
            ));
        }
        let pipeline = gst::Pipeline::with_name("nfbmrclips-writer");
        let appsrc = gst_app::AppSrc::builder()
            .caps(caps)
            .format(gst::Format::Time)
            // Bounded: a disk slower than the stream stalls the clip, not memory.
            .max_bytes(64 << 20)
            .block(true)
            .build();
        let mux = gst::ElementFactory::make(muxer).build()?;
        let sink = gst::ElementFactory::make("filesink")
            .property("location", path.to_str().unwrap_or_default())
            .build()?;
        let mut chain = vec![appsrc.clone().upcast::<gst::Element>()];
        if let Some(parser) = parser_for(caps) {
            chain.push(gst::ElementFactory::make(parser).build()?);
        }
        chain.extend([mux, sink]);
        pipeline.add_many(&chain)?;
        gst::Element::link_many(&chain)?;
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| glib::bool_error!("Cannot start writing {}", path.display()))?;
        Ok(Clip {
            path,
            pipeline,
            appsrc,
            base: None,
            first: None,
            last: None,
            frames: 0,
            start,
            end: None,
            until: None,
        })
    }

    /// Appends a frame at running time `time`; the file's time starts at its first frame.
    pub fn push(&mut self, (time, buffer): &Timed) -> Result<(), gst::FlowError> {
        let base = *self.base.get_or_insert(buffer.pts().unwrap_or_default());
        let mut shifted = buffer.copy();
        {
            let shifted = shifted.make_mut();
            shifted.set_pts(buffer.pts().map(|pts| pts.saturating_sub(base)));
            shifted.set_dts(buffer.dts().map(|dts| dts.saturating_sub(base)));
        }
        self.appsrc.push_buffer(shifted)?;
        self.first = self.first.or(*time);
        self.last = time.or(self.last);
        self.frames += 1;
        Ok(())
    }

    /// The event ended: the clip takes frames until `post_roll` after its end.
    pub fn event_ended(&mut self, end: Map<String, Value>, post_roll: gst::ClockTime) {
        let end_time = end.get("running-time").and_then(Value::as_u64);
        self.until = Some(gst::ClockTime::from_nseconds(end_time.unwrap_or_default()) + post_roll);
        self.end = Some(end);
    }

    /// Whether a frame at running time `time` comes after the clip.
    pub fn is_complete_before(&self, time: Option<gst::ClockTime>) -> bool {
        matches!((self.until, time), (Some(until), Some(time)) if time > until)
    }

    /// Ends the file (the muxer writes its index) and writes the JSON beside it.
    pub fn finish(self) -> Result<PathBuf, String> {
        let _ = self.appsrc.end_of_stream();
        let bus = self.pipeline.bus().expect("pipelines have a bus");
        let ended = bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(30),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        let _ = self.pipeline.set_state(gst::State::Null);
        match ended.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Eos(_)) => {}
            Some(gst::MessageView::Error(err)) => {
                return Err(format!("{}: {}", self.path.display(), err.error()));
            }
            _ => return Err(format!("{}: not finished in time", self.path.display())),
        }
        let record = ClipRecord {
            clip: &self.path,
            start: &self.start,
            end: self.end.as_ref(),
            clip_start_running_time: self.first.map(gst::ClockTime::nseconds),
            clip_end_running_time: self.last.map(gst::ClockTime::nseconds),
            frames: self.frames,
        };
        let json = self.path.with_extension("json");
        let text = serde_json::to_string_pretty(&record).expect("clips serialise");
        std::fs::write(&json, text + "\n").map_err(|e| format!("{}: {e}", json.display()))?;
        Ok(self.path)
    }
}
