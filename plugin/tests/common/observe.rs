// SPDX-License-Identifier: MIT OR Apache-2.0
//! Watching a pipeline under test: the verdicts on its bus, and what leaves its pads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gst::prelude::*;
use gstnfbmr::NfbmrMeta;

/// Plays `pipeline` to its end and returns the `nfbmr` messages of its bus in order, each with the name of
/// the element that posted it. An error on the bus fails the test.
pub fn nfbmr_messages(pipeline: &gst::Pipeline) -> Vec<(String, gst::Structure)> {
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut messages = Vec::new();
    for message in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        match message.view() {
            gst::MessageView::Element(element) => {
                if let Some(verdict) = element.structure().filter(|s| s.name() == "nfbmr") {
                    let source = message.src().unwrap().name().to_string();
                    messages.push((source, verdict.to_owned()));
                }
            }
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(err) => panic!("{err:?}"),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    messages
}

/// What left a pipeline's element `sink` with a verdict: how many frames, and the model id of the last.
/// It keeps no more than that, so that long runs can watch too.
pub struct Seen {
    pub frames: Arc<AtomicU64>,
    pub model: Arc<Mutex<String>>,
}

impl Seen {
    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }
}

pub fn watch(pipeline: &gst::Pipeline) -> Seen {
    let seen = Seen {
        frames: Arc::default(),
        model: Arc::default(),
    };
    let (frames, model) = (Arc::clone(&seen.frames), Arc::clone(&seen.model));
    sink_pad(pipeline).add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(meta) = info.buffer().and_then(|b| NfbmrMeta::from_buffer(b)) {
            frames.fetch_add(1, Ordering::Relaxed);
            *model.lock().unwrap() = meta.model_id;
        }
        gst::PadProbeReturn::Ok
    });
    seen
}

/// Every buffer that has left a pad: its PTS and its verdict meta, if it has one. A flush through the pad
/// empties the record, so that it keeps what came after the last seek.
#[derive(Clone, Default)]
pub struct Arrivals(Arc<Mutex<Vec<Arrival>>>);

/// A buffer's PTS in nanoseconds, and its verdict meta.
pub type Arrival = (u64, Option<NfbmrMeta>);

impl Arrivals {
    /// Records what leaves `pad` from now on.
    pub fn at(pad: &gst::Pad) -> Self {
        let arrivals = Self::default();
        let record = Arc::clone(&arrivals.0);
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_FLUSH,
            move |_, info| {
                match &info.data {
                    Some(gst::PadProbeData::Buffer(buffer)) => {
                        let pts = buffer.pts().unwrap().nseconds();
                        record
                            .lock()
                            .unwrap()
                            .push((pts, NfbmrMeta::from_buffer(buffer)));
                    }
                    Some(gst::PadProbeData::Event(event))
                        if event.type_() == gst::EventType::FlushStop =>
                    {
                        record.lock().unwrap().clear()
                    }
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            },
        );
        arrivals
    }

    /// Records what reaches the pipeline's element `sink`.
    pub fn at_sink(pipeline: &gst::Pipeline) -> Self {
        Self::at(&sink_pad(pipeline))
    }

    pub fn get(&self) -> Vec<Arrival> {
        self.0.lock().unwrap().clone()
    }

    /// The model id of each frame that arrived with a verdict.
    pub fn model_ids(&self) -> Vec<String> {
        let arrivals = self.0.lock().unwrap();
        arrivals
            .iter()
            .filter_map(|(_, meta)| meta.as_ref().map(|meta| meta.model_id.clone()))
            .collect()
    }
}

fn sink_pad(pipeline: &gst::Pipeline) -> gst::Pad {
    pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
}
