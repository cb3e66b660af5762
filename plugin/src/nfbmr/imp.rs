// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `nfbmr` element: an in-place video filter that scores frames with an NF-BMR detector. The state
//! and the vfuncs live here; the settings and their properties in [`super::settings`], the model in
//! [`super::engine`], the outputs in [`super::outputs`] and the overlay in [`super::overlay`].

use std::collections::VecDeque;
use std::sync::{Arc, LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::BaseTransformMode;
use gst_base::subclass::base_transform::GenerateOutputSuccess;
use gst_base::subclass::prelude::*;
use gst_video::subclass::prelude::*;

use nfbmr::events::{Debouncer, FrameTime};
use nfbmr::{PixelFormat, PixelLayout, Verdict, YuvMatrix};

use super::engine::{Engine, Judged};
use super::outputs::ResultsFile;
use super::overlay;
use super::settings::Settings;

mod announce;
mod frames;
mod model;
use super::source::{Outages, SourceWatch};
use frames::InFlight;

pub(super) static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "nfbmr",
        gst::DebugColorFlags::empty(),
        Some("NF-BMR visual defect detector"),
    )
});

struct State {
    engine: Engine,
    /// The `model_changes` of the settings that `model` answers.
    model_changes: u64,
    info: Option<(gst_video::VideoInfo, PixelFormat)>,
    frames: u64,
    events: Debouncer,
    /// Just after the last frame: where an event still open at the end of the stream ends.
    stream_end: FrameTime,
    /// The last verdict, which frames skipped by `inference-interval` carry.
    last: Option<Arc<Judged>>,
    /// Whether a frame begun since `last` was last forgotten is scored: the frames after it may carry
    /// its verdict even before it is in.
    verdict_coming: bool,
    /// Frames begun and not finished yet, oldest first (see [`frames`]).
    in_flight: VecDeque<InFlight>,
    /// The reconnecting source upstream, when there is one.
    _source: Option<SourceWatch>,
}

impl State {
    /// The next frame is scored, whatever `inference-interval` says.
    fn forget_verdict(&mut self) {
        self.last = None;
        self.verdict_coming = false;
    }
}

#[derive(Default)]
pub struct Nfbmr {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// Apart from the state: outages are recorded from the source's thread while a frame is scored.
    results: Mutex<Option<ResultsFile>>,
    outages: Mutex<Outages>,
}

/// How the model reads frames of `info`: packed RGB or grey as they are, YUV by its colour matrix.
fn format_of(info: &gst_video::VideoInfo) -> Option<PixelFormat> {
    use gst_video::VideoFormat as F;
    let layout = match info.format() {
        F::Rgb => PixelLayout::RGB,
        F::Bgr => PixelLayout::BGR,
        F::Rgbx | F::Rgba => PixelLayout::RGBA,
        F::Bgrx | F::Bgra => PixelLayout::BGRA,
        F::Xrgb | F::Argb => PixelLayout::ARGB,
        F::Xbgr | F::Abgr => PixelLayout::ABGR,
        F::Gray8 => PixelLayout::GRAY8,
        F::Nv12 => return Some(PixelFormat::Nv12(yuv_matrix(info))),
        F::I420 => return Some(PixelFormat::I420(yuv_matrix(info))),
        _ => return None,
    };
    Some(PixelFormat::Packed(layout))
}

/// The colour matrix of YUV caps; unknown ones get GStreamer's defaults (BT.709 from 720 rows, else BT.601,
/// studio range).
fn yuv_matrix(info: &gst_video::VideoInfo) -> YuvMatrix {
    use gst_video::VideoColorMatrix as M;
    let colorimetry = info.colorimetry();
    let matrix = match colorimetry.matrix() {
        M::Bt709 => YuvMatrix::BT709,
        M::Bt2020 => YuvMatrix::BT2020,
        M::Bt601 => YuvMatrix::BT601,
        _ if info.height() >= 720 => YuvMatrix::BT709,
        _ => YuvMatrix::BT601,
    };
    matrix.with_full_range(colorimetry.range() == gst_video::VideoColorRange::Range0_255)
}

impl Nfbmr {
    fn write_result(&self, line: &str) {
        let mut results_file = crate::lock(&self.results);
        let Some(results) = results_file.as_mut() else {
            return;
        };
        if let Err(err) = results.append(line) {
            // Keep inspecting: the verdicts still reach the meta and the bus. Report once, stop writing.
            gst::element_imp_warning!(
                self,
                gst::ResourceError::Write,
                [
                    "Cannot write results to {}: {err}; results-location disabled",
                    results.path.display()
                ]
            );
            *results_file = None;
        }
    }

    fn paint(
        &self,
        buffer: &mut gst::BufferRef,
        frame: (&gst_video::VideoInfo, PixelFormat),
        settings: &Settings,
        verdict: &Verdict,
    ) -> Result<(), gst::FlowError> {
        overlay::draw(buffer, frame, &settings.style, verdict).map_err(|err| {
            gst::element_imp_error!(
                self,
                gst::CoreError::Failed,
                ["Cannot paint the overlay: {err}"]
            );
            gst::FlowError::Error
        })
    }

    fn post(&self, structure: gst::Structure) {
        let message = gst::message::Element::builder(structure)
            .src(&*self.obj())
            .build();
        let _ = self.obj().post_message(message);
    }

    /// The batch timeout, and with `frames-in-flight` N the N − 1 frame durations a frame may wait for
    /// the frames after it.
    fn added_latency(&self) -> gst::ClockTime {
        let settings = crate::lock(&self.settings).clone();
        let state = crate::lock(&self.state);
        let wait = match state.as_ref() {
            Some(state) => state.engine.batching().timeout,
            None => settings.batching().timeout,
        };
        let frame = state
            .as_ref()
            .and_then(|state| state.info.as_ref())
            .map(|(info, _)| info.fps())
            .filter(|fps| fps.numer() > 0)
            .and_then(|fps| {
                gst::ClockTime::SECOND.mul_div_ceil(fps.denom() as u64, fps.numer() as u64)
            })
            .unwrap_or_default();
        let held = u64::from(settings.frames_in_flight.max(1) - 1);
        gst::ClockTime::from_nseconds(wait.as_nanos() as u64) + frame * held
    }

    fn running_time(&self, pts: Option<gst::ClockTime>) -> Option<gst::ClockTime> {
        let segment = self.obj().segment();
        let segment = segment.downcast_ref::<gst::ClockTime>()?;
        segment.to_running_time(pts?)
    }
}

#[glib::object_subclass]
impl ObjectSubclass for Nfbmr {
    const NAME: &'static str = "GstNfbmr";
    type Type = super::Nfbmr;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for Nfbmr {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(Settings::properties);
        PROPERTIES.as_ref()
    }

    // Only the settings: the streaming thread picks changes up at its next frame, so setting a property
    // never waits for a frame being scored.
    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        crate::lock(&self.settings).set(pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if pspec.name() == "engine-users" {
            let state = crate::lock(&self.state);
            let users = state.as_ref().map_or(0, |state| state.engine.users());
            return (users as u32).to_value();
        }
        crate::lock(&self.settings).get(pspec.name())
    }
}

impl GstObjectImpl for Nfbmr {}

impl ElementImpl for Nfbmr {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "NF-BMR defect detector",
                "Filter/Analyzer/Video",
                "Scores every frame with an NF-BMR model trained on good parts: anomaly score and defect \
                 regions as metadata, bus messages and JSON lines, optional heatmap overlay",
                "nfbmr developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            use gst_video::VideoFormat as F;
            let caps = gst_video::VideoCapsBuilder::new()
                .format_list([
                    F::Rgb,
                    F::Bgr,
                    F::Rgbx,
                    F::Bgrx,
                    F::Xrgb,
                    F::Xbgr,
                    F::Rgba,
                    F::Bgra,
                    F::Argb,
                    F::Abgr,
                    F::Gray8,
                    F::Nv12,
                    F::I420,
                ])
                .build();
            crate::sink_and_src_templates(&caps)
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for Nfbmr {
    const MODE: BaseTransformMode = BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = crate::lock(&self.settings).clone();
        let engine = self.start_engine(&settings)?;
        *crate::lock(&self.results) = match &settings.results_location {
            Some(path) => Some(ResultsFile::open(path).map_err(|err| {
                gst::error_msg!(
                    gst::ResourceError::OpenWrite,
                    ["Cannot open results-location {}: {err}", path.display()]
                )
            })?),
            None => None,
        };
        let source = self.watch_source();
        let stand_ins = source
            .as_ref()
            .is_some_and(SourceWatch::substitutes_pictures);
        *crate::lock(&self.outages) = Outages::new(stand_ins);
        *crate::lock(&self.state) = Some(State {
            engine,
            model_changes: settings.model_changes,
            info: None,
            frames: 0,
            events: Debouncer::new(settings.events),
            stream_end: FrameTime::default(),
            last: None,
            verdict_coming: false,
            in_flight: VecDeque::new(),
            _source: source,
        });
        Ok(())
    }
    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        drop(crate::lock(&self.state).take());
        if let Some(mut results) = crate::lock(&self.results).take()
            && let Err(err) = results.flush()
        {
            gst::element_imp_warning!(
                self,
                gst::ResourceError::Write,
                ["Cannot write results to {}: {err}", results.path.display()]
            );
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::FlushStop(_) => self.discard_in_flight(),
            // Frames in flight go out before what follows them in the stream.
            _ if event.is_serialized() => {
                if let Err(err) = self.drain() {
                    gst::debug!(CAT, imp = self, "Frames in flight not pushed: {err:?}");
                    self.discard_in_flight();
                }
            }
            _ => {}
        }
        if let gst::EventView::Eos(_) = event.view() {
            self.end_open_event();
        }
        self.parent_sink_event(event)
    }

    /// Adds what batching and frames in flight may hold a frame back to the latency upstream reports;
    /// pushes the frames in flight on when upstream asks to drain.
    fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
        if direction == gst::PadDirection::Sink
            && let gst::QueryViewMut::Drain(_) = query.view_mut()
            && self.drain().is_err()
        {
            self.discard_in_flight();
        }
        let answered = BaseTransformImplExt::parent_query(self, direction, query);
        if answered
            && direction == gst::PadDirection::Src
            && let gst::QueryViewMut::Latency(latency) = query.view_mut()
        {
            let added = self.added_latency();
            let (live, min, max) = latency.result();
            latency.set(live, min + added, max.map(|max| max + added));
        }
        answered
    }

    fn before_transform(&self, buffer: &gst::BufferRef) {
        // Controlled properties (threshold, overlay-alpha) take their value at this frame's stream time.
        let segment = self.obj().segment();
        let stream_time = segment
            .downcast_ref::<gst::ClockTime>()
            .and_then(|segment| segment.to_stream_time(buffer.pts()?));
        if let Some(stream_time) = stream_time {
            let _ = self.obj().sync_values(stream_time);
        }
    }

    fn transform_ip(
        &self,
        buffer: &mut gst::BufferRef,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let work = self.begin(buffer)?;
        self.finish(buffer, work)?;
        Ok(gst::FlowSuccess::Ok)
    }

    fn generate_output(&self) -> Result<GenerateOutputSuccess, gst::FlowError> {
        let depth = crate::lock(&self.settings).frames_in_flight as usize;
        match depth {
            0 | 1 => self.parent_generate_output(),
            depth => self.pipelined_output(depth),
        }
    }
}

impl VideoFilterImpl for Nfbmr {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        _outcaps: &gst::Caps,
        _out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        gst::debug!(CAT, imp = self, "Configured for caps {incaps}");
        let format = format_of(in_info).ok_or_else(|| {
            gst::loggable_error!(CAT, "Unsupported format {:?}", in_info.format())
        })?;
        if let Some(state) = crate::lock(&self.state).as_mut() {
            state.info = Some((in_info.clone(), format));
            // A new resolution invalidates the regions of the last result.
            state.forget_verdict();
        }
        Ok(())
    }
}
