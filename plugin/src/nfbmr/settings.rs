// SPDX-License-Identifier: MIT OR Apache-2.0
//! The element's settings and the properties that set them.

use std::path::PathBuf;
use std::time::Duration;

use gst::glib;
use gst::prelude::*;

use nfbmr::events::EventRules;
use nfbmr::{CodePolicy, Criteria};

use super::engine::{Batching, EngineSpec};
use super::{Colormap, Device, Precision, overlay};

const DEFAULT_ALLOW_CODE: bool = false;
const DEFAULT_CUDA_GRAPHS: bool = false;
const DEFAULT_THRESHOLD: f64 = 0.0;
const DEFAULT_OVERLAY: bool = false;
const DEFAULT_OVERLAY_ALPHA: f64 = 0.5;
const DEFAULT_OVERLAY_ABOVE_THRESHOLD: bool = false;
const DEFAULT_DRAW_REGIONS: bool = true;
const DEFAULT_INFERENCE_INTERVAL: u32 = 1;
const DEFAULT_POST_MESSAGES: bool = true;
const DEFAULT_MAX_BATCH: u32 = 8;
const DEFAULT_BATCH_TIMEOUT_US: u64 = 0;
const DEFAULT_FRAMES_IN_FLIGHT: u32 = 1;

#[derive(Clone, Debug)]
pub struct Settings {
    pub model: Option<PathBuf>,
    /// Counts the times `model` was set, so that the streaming thread loads each new one once.
    pub model_changes: u64,
    pub device: Device,
    pub device_index: u32,
    pub precision: Precision,
    pub cuda_graphs: bool,
    pub allow_code: bool,
    pub max_batch: u32,
    /// Microseconds.
    pub batch_timeout: u64,
    pub frames_in_flight: u32,
    pub threshold: f64,
    pub overlay: bool,
    pub style: overlay::Style,
    pub min_region_area: u32,
    pub inference_interval: u32,
    pub post_messages: bool,
    pub results_location: Option<PathBuf>,
    pub events: EventRules,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: None,
            model_changes: 0,
            device: Device::default(),
            device_index: 0,
            precision: Precision::default(),
            cuda_graphs: DEFAULT_CUDA_GRAPHS,
            allow_code: DEFAULT_ALLOW_CODE,
            max_batch: DEFAULT_MAX_BATCH,
            batch_timeout: DEFAULT_BATCH_TIMEOUT_US,
            frames_in_flight: DEFAULT_FRAMES_IN_FLIGHT,
            threshold: DEFAULT_THRESHOLD,
            overlay: DEFAULT_OVERLAY,
            style: overlay::Style {
                alpha: DEFAULT_OVERLAY_ALPHA,
                above_threshold_only: DEFAULT_OVERLAY_ABOVE_THRESHOLD,
                colormap: Colormap::default(),
                draw_regions: DEFAULT_DRAW_REGIONS,
            },
            min_region_area: Criteria::DEFAULT_MIN_REGION_AREA,
            inference_interval: DEFAULT_INFERENCE_INTERVAL,
            post_messages: DEFAULT_POST_MESSAGES,
            results_location: None,
            events: EventRules::default(),
        }
    }
}

impl Settings {
    pub fn device_spec(&self) -> nfbmr::DeviceSpec {
        self.device.spec(self.device_index)
    }

    pub fn code_policy(&self) -> CodePolicy {
        if self.allow_code {
            CodePolicy::Allow
        } else {
            CodePolicy::Refuse
        }
    }

    /// The engine the element asks for, once it has a model.
    pub fn engine_spec(&self) -> Option<EngineSpec> {
        Some(EngineSpec {
            path: self.model.clone()?,
            device: self.device_spec(),
            precision: self.precision.into(),
            cuda_graphs: self.cuda_graphs,
            code: self.code_policy(),
            batching: self.batching(),
        })
    }

    pub fn batching(&self) -> Batching {
        Batching {
            max_batch: self.max_batch as usize,
            timeout: Duration::from_micros(self.batch_timeout),
        }
    }

    pub fn criteria(&self) -> Criteria {
        Criteria {
            threshold: (self.threshold > 0.0).then_some(self.threshold),
            min_region_area: self.min_region_area,
        }
    }

    /// The element's properties: the model and how it decides, the overlay, the outputs and the events.
    pub fn properties() -> Vec<glib::ParamSpec> {
        [
            model_properties(),
            engine_properties(),
            overlay_properties(),
            output_properties(),
            event_properties(),
        ]
        .concat()
    }

    /// Sets the property `name`; GLib has checked the value's type and range.
    pub fn set(&mut self, name: &str, value: &glib::Value) {
        let path = || {
            value
                .get::<Option<String>>()
                .expect("type checked upstream")
                .map(PathBuf::from)
        };
        match name {
            "model" => {
                self.model = path();
                self.model_changes += 1;
            }
            "device" => self.device = value.get().expect("type checked upstream"),
            "device-index" => self.device_index = value.get().expect("type checked upstream"),
            "precision" => self.precision = value.get().expect("type checked upstream"),
            "cuda-graphs" => self.cuda_graphs = value.get().expect("type checked upstream"),
            "allow-code" => self.allow_code = value.get().expect("type checked upstream"),
            "max-batch" => self.max_batch = value.get().expect("type checked upstream"),
            "batch-timeout" => self.batch_timeout = value.get().expect("type checked upstream"),
            "frames-in-flight" => {
                self.frames_in_flight = value.get().expect("type checked upstream")
            }
            "threshold" => self.threshold = value.get().expect("type checked upstream"),
            "overlay" => self.overlay = value.get().expect("type checked upstream"),
            "overlay-alpha" => self.style.alpha = value.get().expect("type checked upstream"),
            "overlay-above-threshold" => {
                self.style.above_threshold_only = value.get().expect("type checked upstream")
            }
            "colormap" => self.style.colormap = value.get().expect("type checked upstream"),
            "draw-regions" => self.style.draw_regions = value.get().expect("type checked upstream"),
            "min-region-area" => self.min_region_area = value.get().expect("type checked upstream"),
            "inference-interval" => {
                self.inference_interval = value.get().expect("type checked upstream")
            }
            "post-messages" => self.post_messages = value.get().expect("type checked upstream"),
            "results-location" => self.results_location = path(),
            "event-start-frames" => {
                self.events.start_frames = value.get().expect("type checked upstream")
            }
            "event-window" => self.events.window = value.get().expect("type checked upstream"),
            "event-end-frames" => {
                self.events.end_frames = value.get().expect("type checked upstream")
            }
            name => unreachable!("GLib only routes registered properties, not {name}"),
        }
    }

    pub fn get(&self, name: &str) -> glib::Value {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        match name {
            "model" => path(&self.model).to_value(),
            "device" => self.device.to_value(),
            "device-index" => self.device_index.to_value(),
            "precision" => self.precision.to_value(),
            "cuda-graphs" => self.cuda_graphs.to_value(),
            "allow-code" => self.allow_code.to_value(),
            "max-batch" => self.max_batch.to_value(),
            "batch-timeout" => self.batch_timeout.to_value(),
            "frames-in-flight" => self.frames_in_flight.to_value(),
            "threshold" => self.threshold.to_value(),
            "overlay" => self.overlay.to_value(),
            "overlay-alpha" => self.style.alpha.to_value(),
            "overlay-above-threshold" => self.style.above_threshold_only.to_value(),
            "colormap" => self.style.colormap.to_value(),
            "draw-regions" => self.style.draw_regions.to_value(),
            "min-region-area" => self.min_region_area.to_value(),
            "inference-interval" => self.inference_interval.to_value(),
            "post-messages" => self.post_messages.to_value(),
            "results-location" => path(&self.results_location).to_value(),
            "event-start-frames" => self.events.start_frames.to_value(),
            "event-window" => self.events.window.to_value(),
            "event-end-frames" => self.events.end_frames.to_value(),
            name => unreachable!("GLib only routes registered properties, not {name}"),
        }
    }
}

fn model_properties() -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecString::builder("model")
            .nick("Model")
            .blurb("Path of the .nfbmr model file (from `nfbmr train`). Set while PLAYING, the new \
                    model is loaded on the inference thread before the next frame and swapped in; if \
                    it fails to load, the old model stays and a warning is posted")
            .mutable_playing()
            .build(),
        glib::ParamSpecEnum::builder_with_default("device", Device::default())
            .nick("Device")
            .blurb("Where the model runs: auto (CUDA when available, else the CPU), cpu or cuda")
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt::builder("device-index")
            .nick("Device index")
            .blurb("CUDA device number used with device=cuda")
            .maximum(255)
            .default_value(0)
            .mutable_ready()
            .build(),
        glib::ParamSpecEnum::builder_with_default("precision", Precision::default())
            .nick("Precision")
            .blurb(
                "Number format the model computes in: fp32, fp16 or bf16 (refused when the device \
                    cannot run the model in it); docs/benchmarks.md has what each costs and gains",
            )
            .mutable_ready()
            .build(),
        glib::ParamSpecBoolean::builder("cuda-graphs")
            .nick("CUDA graphs")
            .blurb(
                "Replay the model's forward pass from CUDA graphs, one launch per batch instead of \
                    hundreds of small kernels (device=cuda only; refused on the CPU); \
                    docs/benchmarks.md has what it gains",
            )
            .default_value(DEFAULT_CUDA_GRAPHS)
            .mutable_ready()
            .build(),
        flag(
            "allow-code",
            "Allow code",
            "Load models that embed a TorchScript backbone. TorchScript is program code that runs \
                    inside this process: allow it only for model files from a source you trust",
            DEFAULT_ALLOW_CODE,
        ),
        controllable_double(
            "threshold",
            "Threshold",
            "Decision threshold on the raw score, in model units; 0 = the model's calibrated \
                    threshold (see `nfbmr info`)",
            (0.0, f64::MAX),
            DEFAULT_THRESHOLD,
        ),
    ]
}

/// The shared engine: batching across the elements that use it, and how many do.
fn engine_properties() -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecUInt::builder("max-batch")
            .nick("Maximum batch")
            .blurb(
                "Most frames scored together by the engine this element shares with the other \
                    elements of the process that load the same model file on the same device (the \
                    first element to start sets it for all)",
            )
            .minimum(1)
            .maximum(256)
            .default_value(DEFAULT_MAX_BATCH)
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt64::builder("batch-timeout")
            .nick("Batch timeout")
            .blurb(
                "Microseconds the engine waits after a frame for more frames to batch with it; 0 \
                    scores at once what is waiting. Added to the latency the element reports",
            )
            .maximum(1_000_000)
            .default_value(DEFAULT_BATCH_TIMEOUT_US)
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt::builder("frames-in-flight")
            .nick("Frames in flight")
            .blurb(
                "Frames of this stream handed to the engine before the oldest is pushed on (as DL \
                    Streamer's nireq): above 1 a stream runs faster than one inference allows, each \
                    frame held up to N - 1 frame durations more (added to the reported latency)",
            )
            .minimum(1)
            .maximum(16)
            .default_value(DEFAULT_FRAMES_IN_FLIGHT)
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt::builder("engine-users")
            .nick("Engine users")
            .blurb("Elements sharing this element's engine, this one included (0 when stopped)")
            .read_only()
            .build(),
    ]
}

fn overlay_properties() -> Vec<glib::ParamSpec> {
    vec![
        flag(
            "overlay",
            "Overlay",
            "Paint the heatmap, region boxes and a verdict border (green good, red defect) \
                    on the picture; when false the element never changes pixels",
            DEFAULT_OVERLAY,
        ),
        controllable_double(
            "overlay-alpha",
            "Overlay alpha",
            "Opacity of the heatmap, 0 (invisible) to 1 (opaque)",
            (0.0, 1.0),
            DEFAULT_OVERLAY_ALPHA,
        ),
        flag(
            "overlay-above-threshold",
            "Overlay above threshold only",
            "Paint the heatmap only where it reaches the pixel threshold",
            DEFAULT_OVERLAY_ABOVE_THRESHOLD,
        ),
        glib::ParamSpecEnum::builder_with_default("colormap", Colormap::default())
            .nick("Colormap")
            .blurb(
                "Colormap of the heatmap; the threshold sits at its middle, twice the threshold at \
                    its top",
            )
            .mutable_playing()
            .build(),
        flag(
            "draw-regions",
            "Draw regions",
            "Outline each defect region when the overlay is on",
            DEFAULT_DRAW_REGIONS,
        ),
    ]
}

fn output_properties() -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecUInt::builder("min-region-area")
            .nick("Minimum region area")
            .blurb("Smallest defect region reported, in frame pixels")
            .default_value(Criteria::DEFAULT_MIN_REGION_AREA)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("inference-interval")
            .nick("Inference interval")
            .blurb(
                "Score every Nth frame; the frames between carry the last result with \
                    inferred=false",
            )
            .minimum(1)
            .default_value(DEFAULT_INFERENCE_INTERVAL)
            .mutable_playing()
            .build(),
        flag(
            "post-messages",
            "Post messages",
            "Post an element message named \"nfbmr\" on the bus for every scored frame",
            DEFAULT_POST_MESSAGES,
        ),
        glib::ParamSpecString::builder("results-location")
            .nick("Results location")
            .blurb("File to append one JSON line per scored frame to (none when unset)")
            .mutable_ready()
            .build(),
    ]
}

/// A boolean property that may change while playing.
fn flag(name: &str, nick: &str, blurb: &str, default: bool) -> glib::ParamSpec {
    glib::ParamSpecBoolean::builder(name)
        .nick(nick)
        .blurb(blurb)
        .default_value(default)
        .mutable_playing()
        .build()
}

/// A double property that may change while playing and follow a control source.
fn controllable_double(
    name: &str,
    nick: &str,
    blurb: &str,
    (minimum, maximum): (f64, f64),
    default: f64,
) -> glib::ParamSpec {
    glib::ParamSpecDouble::builder(name)
        .nick(nick)
        .blurb(blurb)
        .minimum(minimum)
        .maximum(maximum)
        .default_value(default)
        .mutable_playing()
        .controllable()
        .build()
}

/// Defect events: K of the last N scored frames start one, M good ones in a row end it.
fn event_properties() -> Vec<glib::ParamSpec> {
    let defaults = EventRules::default();
    [
        (
            "event-start-frames",
            "Event start frames",
            "Defect frames among the last event-window scored frames that start a defect event (K)",
            defaults.start_frames,
        ),
        (
            "event-window",
            "Event window",
            "Scored frames looked at for the start of a defect event (N; at least event-start-frames)",
            defaults.window,
        ),
        (
            "event-end-frames",
            "Event end frames",
            "Good scored frames in a row that end a defect event (M)",
            defaults.end_frames,
        ),
    ]
    .into_iter()
    .map(|(name, nick, blurb, default)| {
        glib::ParamSpecUInt::builder(name)
            .nick(nick)
            .blurb(blurb)
            .minimum(1)
            .default_value(default)
            .mutable_ready()
            .build()
    })
    .collect()
}
