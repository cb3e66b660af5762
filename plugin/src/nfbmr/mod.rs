// SPDX-License-Identifier: MIT OR Apache-2.0
/**
 * SECTION:element-nfbmr
 *
 * Finds visual defects in raw video with an NF-BMR model trained on good parts only (`nfbmr train`).
 * Every frame leaves with its verdict: an `NfbmrMeta` (score, raw score, threshold, is-anomaly, inferred,
 * model id, low-resolution anomaly map), one `GstVideoRegionOfInterestMeta` of type `nfbmr-defect` per defect
 * region (param structure `nfbmr-defect` with the region's `score`), an element message `nfbmr` on the bus
 * when `post-messages` is set, and one JSON line per scored frame in `results-location`. With `overlay=true`
 * it paints the heatmap, region boxes and a green/red border; otherwise it never changes pixels.
 *
 * Defect events are debounced from the verdicts of scored frames: one starts when `event-start-frames`
 * of the last `event-window` are defects and ends when `event-end-frames` in a row are good. Each start
 * and end is posted as an element message `nfbmr-event` (`event`, `id`, `pts`, `running-time`,
 * `peak-score`, `peak-pts` on end, `region`) and written as a JSON line with `event` set; the meta's
 * `event-id` names the event in progress.
 *
 * Elements of one process that load the same model file on the same device share one engine: the model is
 * loaded once, and its inference threads score the frames of all of them in batches of up to `max-batch`,
 * waiting at most `batch-timeout` microseconds for a batch to fill (both set by the first element to start
 * the engine; `engine-users` counts the elements sharing it). Elements asking for another `precision`, or
 * for `cuda-graphs` (the forward pass replayed from CUDA graphs, one launch per batch) where the others do
 * not, get an engine of their own. Each element waits only for its own frame,
 * so each stream keeps its order; with `frames-in-flight` N it hands up to N frames to the engine before it
 * pushes the oldest on (in order; pushed before serialized events and at EOS, dropped by a flush). A `model` set while playing is loaded (or its engine found) between two
 * frames; the frame after it waits for the load. Raw RGB-family, GRAY8, NV12 and I420 frames are converted,
 * resized and normalised on the model's device.
 *
 * `threshold` and `overlay-alpha` are controllable (`GstController`).
 *
 * ## Example
 * ```shell
 * gst-launch-1.0 videotestsrc ! videoconvert ! nfbmr model=part.nfbmr overlay=true ! videoconvert ! autovideosink
 * ```
 *
 * The bus message `nfbmr` has the fields `timestamp` (buffer PTS), `running-time`, `score`, `raw-score`,
 * `threshold`, `is-anomaly` and `regions` (an array of `region` structures with `x`, `y`, `width`, `height`
 * in frame pixels and `score`).
 *
 * Since: 0.1.0
 */
mod engine;
#[cfg(test)]
mod faults;
mod imp;
mod outputs;
mod overlay;
mod settings;
mod source;

pub(crate) use outputs::REGION_TYPE;

use gst::glib;
use gst::prelude::*;

/// Colormap of the heatmap overlay.
#[derive(Debug, Default, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstNfbmrColormap")]
pub enum Colormap {
    #[default]
    #[enum_value(name = "Turbo: blue to green to red", nick = "turbo")]
    Turbo,
    #[enum_value(name = "Jet: classic blue to red", nick = "jet")]
    Jet,
    #[enum_value(
        name = "Inferno: black to yellow, perceptually uniform",
        nick = "inferno"
    )]
    Inferno,
    #[enum_value(name = "Gray: black to white", nick = "gray")]
    Gray,
}

impl From<Colormap> for nfbmr::heatmap::Colormap {
    fn from(colormap: Colormap) -> Self {
        match colormap {
            Colormap::Turbo => Self::Turbo,
            Colormap::Jet => Self::Jet,
            Colormap::Inferno => Self::Inferno,
            Colormap::Gray => Self::Gray,
        }
    }
}

/// Where the model runs (with `device-index` for CUDA).
#[derive(Debug, Default, Eq, PartialEq, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstNfbmrDevice")]
pub enum Device {
    #[default]
    #[enum_value(name = "Auto: CUDA when available, else the CPU", nick = "auto")]
    Auto,
    #[enum_value(name = "CPU", nick = "cpu")]
    Cpu,
    #[enum_value(name = "CUDA: the GPU numbered device-index", nick = "cuda")]
    Cuda,
}

impl Device {
    /// The core's device choice; `index` is the CUDA device number.
    pub fn spec(self, index: u32) -> nfbmr::DeviceSpec {
        match self {
            Device::Auto => nfbmr::DeviceSpec::Auto,
            Device::Cpu => nfbmr::DeviceSpec::Cpu,
            Device::Cuda => nfbmr::DeviceSpec::Cuda(Some(index as usize)),
        }
    }
}

/// The number format the model computes in (its maps are fused in fp32 whatever it is).
#[derive(Debug, Default, Eq, PartialEq, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstNfbmrPrecision")]
pub enum Precision {
    #[default]
    #[enum_value(name = "FP32: single precision", nick = "fp32")]
    Fp32,
    #[enum_value(
        name = "FP16: half precision (GPUs; emulated slowly on most CPUs)",
        nick = "fp16"
    )]
    Fp16,
    #[enum_value(
        name = "BF16: bfloat16 (recent GPUs, CPUs with AVX-512 BF16 or AMX)",
        nick = "bf16"
    )]
    Bf16,
}

impl From<Precision> for nfbmr::Precision {
    fn from(precision: Precision) -> Self {
        match precision {
            Precision::Fp32 => Self::Fp32,
            Precision::Fp16 => Self::Fp16,
            Precision::Bf16 => Self::Bf16,
        }
    }
}

glib::wrapper! {
    pub struct Nfbmr(ObjectSubclass<imp::Nfbmr>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    Colormap::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    Device::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    Precision::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(Some(plugin), "nfbmr", gst::Rank::NONE, Nfbmr::static_type())
}
