// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `nfbmr` element: an in-place video filter that scores frames with an NF-BMR detector.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::BaseTransformMode;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use nfbmr::anomaly::AnomalyMap;
use nfbmr::heatmap::Canvas;
use nfbmr::{Detector, DeviceSpec, Frame, PixelLayout};

use super::Colormap;
use super::worker::Worker;
use crate::meta::NfbmrMeta;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "nfbmr",
        gst::DebugColorFlags::empty(),
        Some("NF-BMR visual defect detector"),
    )
});

/// ROI type and param structure name of defect regions.
pub const REGION_TYPE: &str = "nfbmr-defect";
/// Side of the anomaly map carried in `NfbmrMeta` (the model's map, max-pooled).
const META_MAP_SIZE: usize = 64;
const GOOD_COLOUR: [u8; 3] = [0, 200, 0];
const DEFECT_COLOUR: [u8; 3] = [230, 0, 0];
const REGION_COLOUR: [u8; 3] = [255, 255, 255];

const DEFAULT_DEVICE: &str = "auto";
const DEFAULT_THRESHOLD: f64 = 0.0;
const DEFAULT_OVERLAY: bool = false;
const DEFAULT_OVERLAY_ALPHA: f64 = 0.5;
const DEFAULT_OVERLAY_ABOVE_THRESHOLD: bool = false;
const DEFAULT_DRAW_REGIONS: bool = true;
const DEFAULT_MIN_REGION_AREA: u32 = 16;
const DEFAULT_INFERENCE_INTERVAL: u32 = 1;
const DEFAULT_POST_MESSAGES: bool = true;

#[derive(Clone, Debug)]
struct Settings {
    model: Option<PathBuf>,
    device: DeviceSpec,
    threshold: f64,
    overlay: bool,
    overlay_alpha: f64,
    overlay_above_threshold: bool,
    colormap: Colormap,
    draw_regions: bool,
    min_region_area: u32,
    inference_interval: u32,
    post_messages: bool,
    results_location: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: None,
            device: DeviceSpec::Auto,
            threshold: DEFAULT_THRESHOLD,
            overlay: DEFAULT_OVERLAY,
            overlay_alpha: DEFAULT_OVERLAY_ALPHA,
            overlay_above_threshold: DEFAULT_OVERLAY_ABOVE_THRESHOLD,
            colormap: Colormap::default(),
            draw_regions: DEFAULT_DRAW_REGIONS,
            min_region_area: DEFAULT_MIN_REGION_AREA,
            inference_interval: DEFAULT_INFERENCE_INTERVAL,
            post_messages: DEFAULT_POST_MESSAGES,
            results_location: None,
        }
    }
}

/// A defect region in frame pixels.
#[derive(Clone, Debug)]
struct FrameRegion {
    x: u32,
    y: u32,
    width: u32,
    height: u32,
    /// Peak of the region, normalised (1.0 = threshold).
    score: f64,
}

/// What one scored frame produced; skipped frames reuse it.
#[derive(Clone, Debug)]
struct FrameResult {
    raw_score: f64,
    threshold: f64,
    /// Map in raw units at the model's resolution.
    map: AnomalyMap,
    regions: Vec<FrameRegion>,
}

impl FrameResult {
    fn score(&self) -> f64 {
        self.raw_score / self.threshold
    }

    fn is_anomaly(&self) -> bool {
        self.score() >= 1.0
    }
}

/// What the streaming thread needs to know of the model that lives on the worker.
#[derive(Clone, Debug)]
struct LoadedModel {
    path: PathBuf,
    id: String,
    image_threshold: f64,
    pixel_threshold: f64,
}

impl LoadedModel {
    fn of(detector: &Detector, path: PathBuf) -> Self {
        let thresholds = &detector.config().thresholds;
        LoadedModel {
            path,
            id: detector.model_id().to_string(),
            image_threshold: thresholds.image,
            pixel_threshold: thresholds.pixel,
        }
    }

    /// Image and pixel thresholds, with the `threshold` property (0 = the model's) applied; the pixel
    /// threshold keeps its ratio to the image threshold.
    fn thresholds(&self, setting: f64) -> (f64, f64) {
        let image = if setting > 0.0 {
            setting
        } else {
            self.image_threshold
        };
        (image, image * self.pixel_threshold / self.image_threshold)
    }
}

struct State {
    worker: Worker,
    model: LoadedModel,
    info: Option<gst_video::VideoInfo>,
    layout: Option<PixelLayout>,
    frames: u64,
    last: Option<FrameResult>,
    results: Option<(PathBuf, BufWriter<File>)>,
}

/// A model loaded off the streaming thread, waiting to be swapped in between two frames.
struct PendingModel {
    path: PathBuf,
    detector: nfbmr::Result<Detector>,
}

#[derive(Default)]
pub struct Nfbmr {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    pending: Arc<Mutex<Option<PendingModel>>>,
}

fn layout_of(format: gst_video::VideoFormat) -> Option<PixelLayout> {
    use gst_video::VideoFormat as F;
    Some(match format {
        F::Rgb => PixelLayout::RGB,
        F::Bgr => PixelLayout::BGR,
        F::Rgbx | F::Rgba => PixelLayout::RGBA,
        F::Bgrx | F::Bgra => PixelLayout::BGRA,
        F::Xrgb | F::Argb => PixelLayout::ARGB,
        F::Xbgr | F::Abgr => PixelLayout::ABGR,
        F::Gray8 => PixelLayout::GRAY8,
        _ => return None,
    })
}

impl Nfbmr {
    /// Starts the worker and loads the model on it.
    fn load(
        &self,
        path: &Path,
        device: DeviceSpec,
    ) -> Result<(Worker, LoadedModel), gst::ErrorMessage> {
        let worker = Worker::spawn().map_err(|err| {
            gst::error_msg!(
                gst::CoreError::Failed,
                ["Cannot start the inference thread: {err}"]
            )
        })?;
        let owned = path.to_owned();
        let loaded = worker
            .run(move |slot| {
                Detector::load(&owned, device).map(|detector| {
                    let loaded = LoadedModel::of(&detector, owned);
                    let device = detector.device();
                    *slot = Some(detector);
                    (loaded, device)
                })
            })
            .ok_or_else(|| {
                gst::error_msg!(gst::CoreError::Failed, ["The inference thread stopped"])
            })?;
        let (loaded, device_used) = loaded.map_err(|err| {
            let kind = match err {
                nfbmr::Error::Device(_) => gst::ResourceError::NotFound,
                _ => gst::ResourceError::OpenRead,
            };
            gst::error_msg!(kind, ["{err}"])
        })?;
        gst::info!(
            CAT,
            imp = self,
            "Loaded model {} ({}) on {}",
            path.display(),
            loaded.id,
            nfbmr::device::device_name(device_used)
        );
        if device == DeviceSpec::Auto && !device_used.is_cuda() {
            gst::element_imp_info!(
                self,
                gst::ResourceError::Settings,
                ["No CUDA device available: running on the CPU"]
            );
        }
        Ok((worker, loaded))
    }

    /// Loads `path` on a separate thread; the next frame swaps it in, or keeps the old model with a warning.
    fn load_in_background(&self, path: PathBuf, device: DeviceSpec) {
        let pending = self.pending.clone();
        std::thread::spawn(move || {
            let detector = Detector::load(&path, device);
            *pending.lock().unwrap() = Some(PendingModel { path, detector });
        });
    }

    fn swap_pending_model(&self, state: &mut State) {
        let Some(pending) = self.pending.lock().unwrap().take() else {
            return;
        };
        match pending.detector {
            Ok(detector) => {
                let loaded = LoadedModel::of(&detector, pending.path);
                gst::info!(
                    CAT,
                    imp = self,
                    "Swapped in model {} ({})",
                    loaded.path.display(),
                    loaded.id
                );
                state.worker.run(move |slot| *slot = Some(detector));
                state.model = loaded;
                state.last = None;
            }
            Err(err) => {
                gst::element_imp_warning!(
                    self,
                    gst::ResourceError::OpenRead,
                    ["Keeping model {}: {err}", state.model.path.display()]
                );
            }
        }
    }

    fn score(
        &self,
        state: &State,
        settings: &Settings,
        buffer: &gst::BufferRef,
    ) -> Result<FrameResult, gst::FlowError> {
        let (info, layout) = match (&state.info, state.layout) {
            (Some(info), Some(layout)) => (info, layout),
            _ => return Err(gst::FlowError::NotNegotiated),
        };
        let frame =
            gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info).map_err(|_| {
                gst::element_imp_error!(self, gst::CoreError::Failed, ["Cannot map the frame"]);
                gst::FlowError::Error
            })?;
        let (width, height) = (frame.width() as usize, frame.height() as usize);
        let stride = frame.plane_stride()[0] as usize;
        let plane = frame.plane_data(0).map_err(|_| gst::FlowError::Error)?;
        // The worker needs owned pixels: copy the visible part of each row.
        let row = width * layout.bytes_per_pixel;
        let mut packed = Vec::with_capacity(row * height);
        for y in 0..height {
            packed.extend_from_slice(&plane[y * stride..][..row]);
        }
        let detection = state
            .worker
            .run(move |slot| {
                slot.as_ref()
                    .map(|detector| detector.infer(&Frame::packed(&packed, width, height, layout)))
            })
            .flatten()
            .ok_or(nfbmr::Error::Input("no model loaded".into()))
            .and_then(|detection| detection)
            .map_err(|err| {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Failed,
                    ["Inference failed: {err}"]
                );
                gst::FlowError::Error
            })?;
        let (threshold, pixel_threshold) = state.model.thresholds(settings.threshold);
        let map = detection.map;
        let (sx, sy) = (
            width as f64 / map.width as f64,
            height as f64 / map.height as f64,
        );
        let min_area = (settings.min_region_area as f64 / (sx * sy)).ceil() as usize;
        let regions = map
            .regions(pixel_threshold as f32, min_area.max(1))
            .into_iter()
            .map(|r| {
                let x0 = (r.x as f64 * sx).floor();
                let y0 = (r.y as f64 * sy).floor();
                let x1 = (((r.x + r.width) as f64 * sx).ceil()).min(width as f64);
                let y1 = (((r.y + r.height) as f64 * sy).ceil()).min(height as f64);
                FrameRegion {
                    x: x0 as u32,
                    y: y0 as u32,
                    width: (x1 - x0) as u32,
                    height: (y1 - y0) as u32,
                    score: r.peak as f64 / threshold,
                }
            })
            .collect();
        gst::log!(
            CAT,
            imp = self,
            "Frame {}: raw score {:.4}, threshold {threshold:.4}",
            state.frames,
            detection.raw_score
        );
        Ok(FrameResult {
            raw_score: detection.raw_score,
            threshold,
            map,
            regions,
        })
    }

    fn attach_meta(
        &self,
        buffer: &mut gst::BufferRef,
        result: &FrameResult,
        inferred: bool,
        model_id: &str,
    ) -> Result<(), gst::FlowError> {
        let pooled = result.map.max_pooled(META_MAP_SIZE);
        let meta = NfbmrMeta {
            score: result.score(),
            raw_score: result.raw_score,
            threshold: result.threshold,
            is_anomaly: result.is_anomaly(),
            inferred,
            model_id: model_id.to_string(),
            map_width: pooled.width as u32,
            map_height: pooled.height as u32,
            map: pooled
                .values
                .iter()
                .map(|v| v / result.threshold as f32)
                .collect(),
        };
        meta.add(buffer).map_err(|err| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ["Cannot add meta: {err}"]);
            gst::FlowError::Error
        })?;
        for region in &result.regions {
            let mut roi = gst_video::VideoRegionOfInterestMeta::add(
                buffer,
                REGION_TYPE,
                (region.x, region.y, region.width, region.height),
            );
            roi.add_param(
                gst::Structure::builder(REGION_TYPE)
                    .field("score", region.score)
                    .build(),
            );
        }
        Ok(())
    }

    fn region_list(result: &FrameResult) -> gst::Array {
        result
            .regions
            .iter()
            .map(|r| {
                gst::Structure::builder("region")
                    .field("x", r.x)
                    .field("y", r.y)
                    .field("width", r.width)
                    .field("height", r.height)
                    .field("score", r.score)
                    .build()
                    .to_send_value()
            })
            .collect()
    }

    fn post_message(
        &self,
        result: &FrameResult,
        pts: Option<gst::ClockTime>,
        running_time: Option<gst::ClockTime>,
    ) {
        let structure = gst::Structure::builder("nfbmr")
            .field("timestamp", pts)
            .field("running-time", running_time)
            .field("score", result.score())
            .field("raw-score", result.raw_score)
            .field("threshold", result.threshold)
            .field("is-anomaly", result.is_anomaly())
            .field("regions", Self::region_list(result))
            .build();
        let message = gst::message::Element::builder(structure)
            .src(&*self.obj())
            .build();
        let _ = self.obj().post_message(message);
    }

    fn write_result(
        &self,
        state: &mut State,
        result: &FrameResult,
        pts: Option<gst::ClockTime>,
        running_time: Option<gst::ClockTime>,
    ) {
        let model_id = state.model.id.clone();
        let frame = state.frames;
        let Some((path, writer)) = state.results.as_mut() else {
            return;
        };
        let wall_clock = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        let regions: Vec<serde_json::Value> = result
            .regions
            .iter()
            .map(|r| {
                serde_json::json!({
                    "x": r.x, "y": r.y, "width": r.width, "height": r.height, "score": r.score,
                })
            })
            .collect();
        let line = serde_json::json!({
            "frame": frame,
            "pts": pts.map(gst::ClockTime::nseconds),
            "running-time": running_time.map(gst::ClockTime::nseconds),
            "timestamp": wall_clock,
            "score": result.score(),
            "raw-score": result.raw_score,
            "threshold": result.threshold,
            "is-anomaly": result.is_anomaly(),
            "regions": regions,
            "model-id": model_id,
        });
        let written = writeln!(writer, "{line}").and_then(|()| writer.flush());
        if let Err(err) = written {
            // Keep inspecting: the verdicts still reach the meta and the bus. Report once, stop writing.
            gst::element_imp_warning!(
                self,
                gst::ResourceError::Write,
                [
                    "Cannot write results to {}: {err}; results-location disabled",
                    path.display()
                ]
            );
            state.results = None;
        }
    }

    fn draw_overlay(
        &self,
        state: &State,
        settings: &Settings,
        buffer: &mut gst::BufferRef,
        result: &FrameResult,
    ) -> Result<(), gst::FlowError> {
        let (Some(info), Some(layout)) = (&state.info, state.layout) else {
            return Err(gst::FlowError::NotNegotiated);
        };
        let mut frame =
            gst_video::VideoFrameRef::from_buffer_ref_writable(buffer, info).map_err(|_| {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Failed,
                    ["Cannot map the frame for writing"]
                );
                gst::FlowError::Error
            })?;
        let (width, height) = (frame.width() as usize, frame.height() as usize);
        let stride = frame.plane_stride()[0] as usize;
        let data = frame.plane_data_mut(0).map_err(|_| gst::FlowError::Error)?;
        let mut canvas = Canvas {
            data,
            width,
            height,
            stride,
            layout,
        };
        let lut = nfbmr::heatmap::Colormap::from(settings.colormap).lut();
        let pixel_threshold =
            (result.threshold * state.model.pixel_threshold / state.model.image_threshold) as f32;
        canvas.blend_map(
            &result.map,
            pixel_threshold,
            &lut,
            settings.overlay_alpha as f32,
            settings.overlay_above_threshold,
        );
        let thickness = (width.min(height) / 120).max(2);
        if settings.draw_regions {
            for r in &result.regions {
                canvas.draw_rectangle(
                    r.x as usize,
                    r.y as usize,
                    r.width as usize,
                    r.height as usize,
                    REGION_COLOUR,
                    thickness / 2 + 1,
                );
            }
        }
        let verdict = if result.is_anomaly() {
            DEFECT_COLOUR
        } else {
            GOOD_COLOUR
        };
        canvas.draw_rectangle(0, 0, width, height, verdict, thickness * 2);
        Ok(())
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
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("model")
                    .nick("Model")
                    .blurb("Path of the .nfbmr model file (from `nfbmr train`). Setting it while PLAYING loads \
                            the new model in the background and swaps it in between frames; if it fails to \
                            load, the old model stays and a warning is posted")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("device")
                    .nick("Device")
                    .blurb("Where the model runs: auto (CUDA when available, else CPU), cpu, cuda or cuda:N")
                    .default_value(Some(DEFAULT_DEVICE))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("threshold")
                    .nick("Threshold")
                    .blurb("Decision threshold on the raw score, in model units; 0 = the model's calibrated \
                            threshold (see `nfbmr info`)")
                    .minimum(0.0)
                    .maximum(f64::MAX)
                    .default_value(DEFAULT_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("overlay")
                    .nick("Overlay")
                    .blurb("Paint the heatmap, region boxes and a verdict border (green good, red defect) \
                            on the picture; when false the element never changes pixels")
                    .default_value(DEFAULT_OVERLAY)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("overlay-alpha")
                    .nick("Overlay alpha")
                    .blurb("Opacity of the heatmap, 0 (invisible) to 1 (opaque)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_OVERLAY_ALPHA)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("overlay-above-threshold")
                    .nick("Overlay above threshold only")
                    .blurb("Paint the heatmap only where it reaches the pixel threshold")
                    .default_value(DEFAULT_OVERLAY_ABOVE_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("colormap", Colormap::default())
                    .nick("Colormap")
                    .blurb("Colormap of the heatmap; the threshold sits at its middle, twice the threshold at \
                            its top")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("draw-regions")
                    .nick("Draw regions")
                    .blurb("Outline each defect region when the overlay is on")
                    .default_value(DEFAULT_DRAW_REGIONS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("min-region-area")
                    .nick("Minimum region area")
                    .blurb("Smallest defect region reported, in frame pixels")
                    .default_value(DEFAULT_MIN_REGION_AREA)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("inference-interval")
                    .nick("Inference interval")
                    .blurb("Score every Nth frame; the frames between carry the last result with \
                            inferred=false")
                    .minimum(1)
                    .default_value(DEFAULT_INFERENCE_INTERVAL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("post-messages")
                    .nick("Post messages")
                    .blurb("Post an element message named \"nfbmr\" on the bus for every scored frame")
                    .default_value(DEFAULT_POST_MESSAGES)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("results-location")
                    .nick("Results location")
                    .blurb("File to append one JSON line per scored frame to (none when unset)")
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "model" => {
                let model: Option<String> = value.get().expect("type checked upstream");
                settings.model = model.map(PathBuf::from);
                let running = self.state.lock().unwrap().is_some();
                if let (true, Some(path)) = (running, settings.model.clone()) {
                    gst::info!(
                        CAT,
                        imp = self,
                        "Loading {} in the background",
                        path.display()
                    );
                    self.load_in_background(path, settings.device);
                }
            }
            "device" => {
                let text: Option<String> = value.get().expect("type checked upstream");
                match text.as_deref().unwrap_or(DEFAULT_DEVICE).parse() {
                    Ok(device) => settings.device = device,
                    Err(err) => gst::error!(CAT, imp = self, "Ignoring device: {err}"),
                }
            }
            "threshold" => settings.threshold = value.get().expect("type checked upstream"),
            "overlay" => settings.overlay = value.get().expect("type checked upstream"),
            "overlay-alpha" => settings.overlay_alpha = value.get().expect("type checked upstream"),
            "overlay-above-threshold" => {
                settings.overlay_above_threshold = value.get().expect("type checked upstream")
            }
            "colormap" => settings.colormap = value.get().expect("type checked upstream"),
            "draw-regions" => settings.draw_regions = value.get().expect("type checked upstream"),
            "min-region-area" => {
                settings.min_region_area = value.get().expect("type checked upstream")
            }
            "inference-interval" => {
                settings.inference_interval = value.get().expect("type checked upstream")
            }
            "post-messages" => settings.post_messages = value.get().expect("type checked upstream"),
            "results-location" => {
                let location: Option<String> = value.get().expect("type checked upstream");
                settings.results_location = location.map(PathBuf::from);
            }
            name => unreachable!("GLib only routes registered properties, not {name}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        match pspec.name() {
            "model" => path(&settings.model).to_value(),
            "device" => settings.device.to_string().to_value(),
            "threshold" => settings.threshold.to_value(),
            "overlay" => settings.overlay.to_value(),
            "overlay-alpha" => settings.overlay_alpha.to_value(),
            "overlay-above-threshold" => settings.overlay_above_threshold.to_value(),
            "colormap" => settings.colormap.to_value(),
            "draw-regions" => settings.draw_regions.to_value(),
            "min-region-area" => settings.min_region_area.to_value(),
            "inference-interval" => settings.inference_interval.to_value(),
            "post-messages" => settings.post_messages.to_value(),
            "results-location" => path(&settings.results_location).to_value(),
            name => unreachable!("GLib only routes registered properties, not {name}"),
        }
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
                ])
                .build();
            [gst::PadDirection::Src, gst::PadDirection::Sink]
                .into_iter()
                .map(|direction| {
                    let name = if direction == gst::PadDirection::Src {
                        "src"
                    } else {
                        "sink"
                    };
                    gst::PadTemplate::new(name, direction, gst::PadPresence::Always, &caps).unwrap()
                })
                .collect()
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for Nfbmr {
    const MODE: BaseTransformMode = BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let model = settings.model.ok_or_else(|| {
            gst::error_msg!(
                gst::ResourceError::NotFound,
                ["No model: set the 'model' property to a .nfbmr file"]
            )
        })?;
        let (worker, loaded) = self.load(&model, settings.device)?;
        let results = match settings.results_location {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|err| {
                        gst::error_msg!(
                            gst::ResourceError::OpenWrite,
                            ["Cannot open results-location {}: {err}", path.display()]
                        )
                    })?;
                Some((path, BufWriter::new(file)))
            }
            None => None,
        };
        self.pending.lock().unwrap().take();
        *self.state.lock().unwrap() = Some(State {
            worker,
            model: loaded,
            info: None,
            layout: None,
            frames: 0,
            last: None,
            results,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(mut state) = self.state.lock().unwrap().take()
            && let Some((path, mut writer)) = state.results.take()
            && let Err(err) = writer.flush()
        {
            gst::element_imp_warning!(
                self,
                gst::ResourceError::Write,
                ["Cannot write results to {}: {err}", path.display()]
            );
        }
        Ok(())
    }

    fn transform_ip(
        &self,
        buffer: &mut gst::BufferRef,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        let mut guard = self.state.lock().unwrap();
        let Some(state) = guard.as_mut() else {
            return Err(gst::FlowError::Flushing);
        };
        self.swap_pending_model(state);
        let interval = settings.inference_interval.max(1) as u64;
        let infer = state.last.is_none() || state.frames % interval == 0;
        let result = if infer {
            let result = self.score(state, &settings, buffer)?;
            state.last = Some(result.clone());
            result
        } else {
            state.last.clone().expect("checked above")
        };
        let pts = buffer.pts();
        let running_time = pts.and_then(|pts| {
            self.obj()
                .segment()
                .downcast_ref::<gst::ClockTime>()
                .and_then(|segment| segment.to_running_time(pts))
        });
        let model_id = state.model.id.clone();
        self.attach_meta(buffer, &result, infer, &model_id)?;
        if infer {
            self.write_result(state, &result, pts, running_time);
        }
        if settings.overlay {
            self.draw_overlay(state, &settings, buffer, &result)?;
        }
        state.frames += 1;
        // Posted without the state lock: a synchronous bus handler may set properties.
        drop(guard);
        if infer && settings.post_messages {
            self.post_message(&result, pts, running_time);
        }
        Ok(gst::FlowSuccess::Ok)
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
        let layout = layout_of(in_info.format()).ok_or_else(|| {
            gst::loggable_error!(CAT, "Unsupported format {:?}", in_info.format())
        })?;
        let mut guard = self.state.lock().unwrap();
        if let Some(state) = guard.as_mut() {
            state.info = Some(in_info.clone());
            state.layout = Some(layout);
            // A new resolution invalidates the regions of the last result.
            state.last = None;
        }
        Ok(())
    }
}
