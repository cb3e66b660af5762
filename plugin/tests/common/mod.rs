// SPDX-License-Identifier: MIT OR Apache-2.0
//! What the plugin's test suites share: GStreamer with the plugin registered, two tiny models trained once
//! per test binary, harnesses and frames.
#![allow(dead_code)] // each test binary uses its own subset

#[path = "../../../tests/common/tiny.rs"]
pub mod tiny;

pub mod broker;
pub mod observe;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use gst::prelude::*;
use gstnfbmr::NfbmrMeta;
use nfbmr::{CodePolicy, Detector, DeviceSpec, Frame, PixelLayout};

pub fn init() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        gst::init().unwrap();
        gstnfbmr::plugin_register_static().unwrap();
    });
}

/// Two tiny models in a folder that lives as long as the process, and a truncated copy of the first.
pub struct Models {
    _dir: tempfile::TempDir,
    pub first: PathBuf,
    pub second: PathBuf,
    pub corrupt: PathBuf,
}

impl Models {
    /// The model id the element reports for a model file.
    pub fn id(path: &std::path::Path) -> String {
        nfbmr::modelfile::read(path).unwrap().id
    }
}

pub fn models() -> &'static Models {
    static MODELS: OnceLock<Models> = OnceLock::new();
    MODELS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let images = tiny::textured_images(dir.path(), 4, 64, 3);
        let train = |seed: u64, out: &str| {
            let mut options = tiny::tiny_options(64, 1);
            options.hold_out = 0.0;
            options.seed = seed;
            let path = dir.path().join(out);
            tiny::train_quietly(&images, &options).save(&path).unwrap();
            path
        };
        let first = train(1, "first.nfbmr");
        let second = train(2, "second.nfbmr");
        let corrupt = dir.path().join("corrupt.nfbmr");
        let bytes = std::fs::read(&first).unwrap();
        std::fs::write(&corrupt, &bytes[..bytes.len() / 2]).unwrap();
        Models {
            _dir: dir,
            first,
            second,
            corrupt,
        }
    })
}

/// The first model as the element loads it, to compare the element's verdicts with.
pub fn detector() -> Detector {
    Detector::load(&models().first, DeviceSpec::Cpu, CodePolicy::Refuse).unwrap()
}

/// The raw score the detector gives packed `pixels` of a `width`×`height` frame in `layout`.
pub fn raw_score(pixels: &[u8], width: usize, height: usize, layout: PixelLayout) -> f64 {
    detector()
        .infer(&Frame::packed(pixels, width, height, layout))
        .unwrap()
        .raw_score
}

/// Whether two raw scores of one picture agree. Not bit for bit: the element's engine may score the frame
/// in a batch with frames of other tests that share it, and a batch may round differently.
/// Equal up to float noise. On CUDA (where `device=auto` runs the elements) that noise is larger: cuDNN
/// chooses its convolution algorithms by batch size, and computes fp32 convolutions in TF32.
pub fn same_score(a: f64, b: f64) -> bool {
    let relative = if tch::Cuda::is_available() {
        1e-3
    } else {
        1e-5
    };
    (a - b).abs() <= relative * a.abs().max(b.abs())
}

/// A harness around an `nfbmr` element using the first model, with `properties` as `name=value` pairs.
pub fn harness(properties: &str, caps: &str) -> gst_check::Harness {
    init();
    let element = gst::ElementFactory::make("nfbmr")
        .property("model", models().first.to_str().unwrap())
        .build()
        .unwrap();
    for pair in properties.split_whitespace() {
        let (name, value) = pair.split_once('=').unwrap();
        element.set_property_from_str(name, value);
    }
    let mut h = gst_check::Harness::with_element(&element, Some("sink"), Some("src"));
    h.set_src_caps_str(caps);
    h
}

/// `width`×`height` pixels of `bytes_per_pixel` bytes with a deterministic texture.
pub fn pixels(width: usize, height: usize, bytes_per_pixel: usize, seed: usize) -> Vec<u8> {
    (0..width * height * bytes_per_pixel)
        .map(|i| ((i * 31 + seed * 17) % 251) as u8)
        .collect()
}

/// Two 64×48 RGB pictures, a good one and one the first model scores higher (a dark patch, or its
/// absence), and a threshold between their raw scores.
pub fn good_and_defect_pictures() -> (Vec<u8>, Vec<u8>, f64) {
    let plain = pixels(64, 48, 3, 8);
    let mut patched = plain.clone();
    for y in 18..30 {
        patched[(y * 64 + 26) * 3..(y * 64 + 38) * 3].fill(0);
    }
    let (plain_raw, patched_raw) = (
        raw_score(&plain, 64, 48, PixelLayout::RGB),
        raw_score(&patched, 64, 48, PixelLayout::RGB),
    );
    let threshold = (plain_raw + patched_raw) / 2.0;
    if patched_raw > plain_raw {
        (plain, patched, threshold)
    } else {
        (patched, plain, threshold)
    }
}

pub fn frame(width: usize, height: usize, bytes_per_pixel: usize, seed: usize) -> gst::Buffer {
    init();
    gst::Buffer::from_mut_slice(pixels(width, height, bytes_per_pixel, seed))
}

pub fn push(h: &mut gst_check::Harness, buffer: gst::Buffer) -> gst::Buffer {
    assert_eq!(h.push(buffer), Ok(gst::FlowSuccess::Ok));
    h.pull().unwrap()
}

pub fn meta(buffer: &gst::Buffer) -> NfbmrMeta {
    NfbmrMeta::from_buffer(buffer).expect("every buffer carries NfbmrMeta")
}

pub fn rois(buffer: &gst::Buffer) -> Vec<(u32, u32, u32, u32)> {
    buffer
        .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .map(|roi| roi.rect())
        .collect()
}

/// A loopback TCP port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The debug text of the next warning on `bus`.
pub fn next_warning(bus: &gst::Bus) -> String {
    let warning = bus
        .pop_filtered(&[gst::MessageType::Warning])
        .expect("a warning");
    let gst::MessageView::Warning(w) = warning.view() else {
        unreachable!()
    };
    w.debug().map(|d| d.to_string()).unwrap_or_default()
}

pub const RGB: &str = "video/x-raw,format=RGB,width=64,height=48,framerate=30/1";

/// target/<profile>; this test runs from target/<profile>/deps.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_owned()
}

/// A command that finds the plugin cargo built for these tests, and a registry of its own, in `scratch`.
/// `cargo test` leaves the library in deps/ (`cargo build` also copies it up a level); a folder holding
/// only it keeps GStreamer from scanning every other shared object there.
pub fn with_built_plugin(program: impl AsRef<OsStr>, scratch: &Path) -> Command {
    let built = ["deps", "."]
        .iter()
        .map(|dir| profile_dir().join(dir).join("libgstnfbmr.so"))
        .find(|path| path.is_file())
        .expect("libgstnfbmr.so built by cargo");
    let plugins = scratch.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(built, plugins.join("libgstnfbmr.so")).unwrap();
    let mut command = Command::new(program);
    command
        .env("GST_PLUGIN_PATH", plugins)
        .env("GST_REGISTRY", scratch.join("registry.bin"));
    command
}

/// A copy of the first model in `dir`: an engine no other test of this binary shares.
pub fn own_model(dir: &Path) -> PathBuf {
    let path = dir.join("model.nfbmr");
    std::fs::copy(&models().first, &path).unwrap();
    path
}

pub fn launch(description: &str) -> gst::Pipeline {
    init();
    gst::parse::launch(description).unwrap().downcast().unwrap()
}

/// Sizes of the batches the engine of `model` scored, from the element's debug log, while `work` runs.
/// The log's threshold is process-wide: captures wait for each other, or one ending would silence another.
pub fn batch_sizes(model: &Path, work: impl FnOnce()) -> Vec<usize> {
    static CAPTURE: Mutex<()> = Mutex::new(());
    let _capturing = CAPTURE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let suffix = format!(" frames with {}", model.display());
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&sizes);
    gst::log::remove_default_log_function();
    gst::log::set_active(true);
    gst::log::set_threshold_for_name("nfbmr", gst::DebugLevel::Debug);
    let function = gst::log::add_log_function(move |category, _, _, _, _, _, message| {
        if category.name() != "nfbmr" {
            return;
        }
        let text = message.get().map(|m| m.to_string()).unwrap_or_default();
        if let Some(size) = text
            .strip_prefix("Scoring a batch of ")
            .and_then(|rest| rest.strip_suffix(&suffix))
        {
            seen.lock().unwrap().push(size.parse().unwrap());
        }
    });
    work();
    gst::log::remove_log_function(function);
    gst::log::set_threshold_for_name("nfbmr", gst::DebugLevel::None);
    Arc::try_unwrap(sizes).unwrap().into_inner().unwrap()
}
