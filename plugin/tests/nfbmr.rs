// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `nfbmr` element with real buffers, real pipelines and tiny models trained here.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use gst::prelude::*;
use gstnfbmr::NfbmrMeta;
use nfbmr::data::synth::{self, Texture};
use nfbmr::model::backbone;
use nfbmr::train::{self, BackboneChoice, TrainOptions};
use nfbmr::{DeviceSpec, weights};

fn init() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        gst::init().unwrap();
        gstnfbmr::plugin_register_static().unwrap();
    });
}

/// Two tiny models (trained once per test binary) in a folder that lives as long as the process.
struct Models {
    _dir: tempfile::TempDir,
    first: PathBuf,
    second: PathBuf,
    corrupt: PathBuf,
}

fn models() -> &'static Models {
    static MODELS: OnceLock<Models> = OnceLock::new();
    MODELS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let images: Vec<PathBuf> = (0..4)
            .map(|i| {
                let path = dir.path().join(format!("good-{i}.png"));
                synth::sample(Texture::Grain, 3, i, 64, false)
                    .image
                    .save(&path)
                    .unwrap();
                path
            })
            .collect();
        let train = |seed: u64, out: &str| {
            let mut options = TrainOptions::new(BackboneChoice::EfficientNetLite0 {
                weights: weights::backbone_weights(backbone::EFFICIENTNET_LITE0).unwrap(),
                taps: backbone::DEFAULT_LITE0_TAPS.to_vec(),
            });
            options.image_size = 64;
            options.flow_epochs = 1;
            options.mapper_epochs = 1;
            options.hold_out = 0.0;
            options.device = DeviceSpec::Cpu;
            options.seed = seed;
            let path = dir.path().join(out);
            train::train(&images, &options, &mut |_| {})
                .unwrap()
                .save(&path)
                .unwrap();
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

/// A harness around an `nfbmr` element using the first model, with `properties` as `name=value` pairs.
fn harness(properties: &str, caps: &str) -> gst_check::Harness {
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

/// A buffer of `width`×`height` pixels of `bytes_per_pixel` bytes with a deterministic texture.
fn frame(width: usize, height: usize, bytes_per_pixel: usize, seed: usize) -> gst::Buffer {
    let data: Vec<u8> = (0..width * height * bytes_per_pixel)
        .map(|i| ((i * 31 + seed * 17) % 251) as u8)
        .collect();
    gst::Buffer::from_mut_slice(data)
}

fn push(h: &mut gst_check::Harness, buffer: gst::Buffer) -> gst::Buffer {
    assert_eq!(h.push(buffer), Ok(gst::FlowSuccess::Ok));
    h.pull().unwrap()
}

fn meta(buffer: &gst::Buffer) -> NfbmrMeta {
    NfbmrMeta::from_buffer(buffer).expect("every buffer carries NfbmrMeta")
}

const RGB: &str = "video/x-raw,format=RGB,width=64,height=48,framerate=30/1";

#[test]
fn every_frame_carries_a_sane_verdict() {
    let mut h = harness("", RGB);
    for i in 0..3 {
        let out = push(&mut h, frame(64, 48, 3, i));
        let m = meta(&out);
        assert!(m.inferred);
        assert!(m.raw_score.is_finite() && m.raw_score > 0.0 && m.threshold > 0.0);
        assert!((m.score - m.raw_score / m.threshold).abs() < 1e-9);
        assert_eq!(m.is_anomaly, m.score >= 1.0);
        assert_eq!(m.model_id.len(), 12);
        assert_eq!(m.map.len(), (m.map_width * m.map_height) as usize);
        assert!(m.map_width > 0 && m.map_width <= 64);
        let peak = m.map.iter().copied().fold(f32::MIN, f32::max) as f64;
        assert!(
            (peak - m.score).abs() < 1e-4 * m.score,
            "map peak {peak} vs score {}",
            m.score
        );
        let rois: Vec<_> = out
            .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
            .collect();
        assert_eq!(
            rois.is_empty(),
            !m.is_anomaly,
            "regions exactly when the frame is a defect"
        );
        for roi in rois {
            assert_eq!(roi.roi_type(), "nfbmr-defect");
            let (x, y, w, hgt) = roi.rect();
            assert!(x + w <= 64 && y + hgt <= 48 && w > 0 && hgt > 0);
            assert!(
                roi.param("nfbmr-defect")
                    .unwrap()
                    .get::<f64>("score")
                    .unwrap()
                    >= 1.0
            );
        }
    }
}

#[test]
fn grey_frames_and_caps_changes_mid_stream() {
    let mut h = harness(
        "",
        "video/x-raw,format=GRAY8,width=64,height=48,framerate=30/1",
    );
    let grey = meta(&push(&mut h, frame(64, 48, 1, 0)));
    assert!(grey.raw_score > 0.0);
    h.set_src_caps_str("video/x-raw,format=BGRx,width=80,height=60,framerate=30/1");
    let bgrx = meta(&push(&mut h, frame(80, 60, 4, 0)));
    assert!(bgrx.raw_score > 0.0);
    h.set_src_caps_str(RGB);
    assert!(meta(&push(&mut h, frame(64, 48, 3, 0))).inferred);
}

#[test]
fn pixels_change_only_with_the_overlay() {
    let mut plain = harness("", RGB);
    let input = frame(64, 48, 3, 5);
    let out = push(&mut plain, input.copy());
    assert_eq!(
        out.map_readable().unwrap().as_slice(),
        input.map_readable().unwrap().as_slice(),
        "overlay off: pixels untouched"
    );
    let mut painted = harness("overlay=true overlay-alpha=0.8", RGB);
    let out = push(&mut painted, input.copy());
    assert_ne!(
        out.map_readable().unwrap().as_slice(),
        input.map_readable().unwrap().as_slice()
    );
    // The verdict border: the corner pixel is pure green (good) or red (defect).
    let corner = &out.map_readable().unwrap()[..3];
    let expected: [u8; 3] = if meta(&out).is_anomaly {
        [230, 0, 0]
    } else {
        [0, 200, 0]
    };
    assert_eq!(corner, expected);
}

#[test]
fn skipped_frames_carry_the_last_result() {
    let mut h = harness("inference-interval=3", RGB);
    let metas: Vec<NfbmrMeta> = (0..7)
        .map(|i| meta(&push(&mut h, frame(64, 48, 3, i))))
        .collect();
    let inferred: Vec<bool> = metas.iter().map(|m| m.inferred).collect();
    assert_eq!(inferred, [true, false, false, true, false, false, true]);
    assert_eq!(metas[1].raw_score, metas[0].raw_score);
    assert_eq!(metas[2].map, metas[0].map);
    assert_ne!(
        metas[3].raw_score, metas[0].raw_score,
        "a new frame is scored afresh"
    );
}

#[test]
fn threshold_changes_while_playing_take_effect_on_the_next_frame() {
    let mut h = harness("", RGB);
    let input = frame(64, 48, 3, 9);
    let raw = meta(&push(&mut h, input.copy())).raw_score;
    let element = h.element().unwrap();
    element.set_property("threshold", raw * 2.0);
    let high = meta(&push(&mut h, input.copy()));
    assert!(
        !high.is_anomaly && (high.score - 0.5).abs() < 1e-6,
        "{high:?}"
    );
    element.set_property("threshold", raw / 2.0);
    let low = meta(&push(&mut h, input.copy()));
    assert!(low.is_anomaly && (low.score - 2.0).abs() < 1e-6);
    assert!(!low.map.is_empty());
    let rois = push(&mut h, input.copy())
        .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .count();
    assert!(rois > 0, "a defect frame has at least one region");
}

/// Runs `description` to PAUSED; returns the error or warning messages the bus saw.
fn preroll(description: &str) -> (Result<(), String>, Vec<String>) {
    init();
    let pipeline = gst::parse::launch(description).unwrap();
    let bus = pipeline.bus().unwrap();
    let started = pipeline.set_state(gst::State::Paused);
    let result = match started {
        Err(_) => Err("state change failed".to_string()),
        Ok(gst::StateChangeSuccess::Async) => {
            match pipeline.state(gst::ClockTime::from_seconds(60)) {
                (Ok(_), gst::State::Paused, _) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
        Ok(_) => Ok(()),
    };
    let mut messages = Vec::new();
    while let Some(message) = bus.pop() {
        match message.view() {
            gst::MessageView::Error(e) => {
                messages.push(format!("error: {} {:?}", e.error(), e.debug()))
            }
            gst::MessageView::Warning(w) => {
                messages.push(format!("warning: {} {:?}", w.error(), w.debug()))
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    (result, messages)
}

#[test]
fn a_bad_model_stops_the_pipeline_before_paused_with_a_named_error() {
    let corrupt = &models().corrupt;
    let cases: Vec<(String, Vec<String>)> = vec![
        (
            format!("model={}", corrupt.display()),
            vec![corrupt.display().to_string(), "truncated".into()],
        ),
        (
            "model=/nonexistent/part.nfbmr".into(),
            vec!["/nonexistent/part.nfbmr".into(), "does not exist".into()],
        ),
        (String::new(), vec!["No model".into()]),
    ];
    for (properties, expected) in cases {
        let (result, messages) = preroll(&format!("videotestsrc ! nfbmr {properties} ! fakesink"));
        assert!(result.is_err(), "{properties}: reached PAUSED");
        let text = messages.join("\n");
        for word in expected {
            assert!(text.contains(&word), "{properties}: '{word}' not in {text}");
        }
    }
    if !tch::Cuda::is_available() {
        let (result, messages) = preroll(&format!(
            "videotestsrc ! nfbmr model={} device=cuda ! fakesink",
            models().first.display()
        ));
        assert!(result.is_err());
        assert!(
            messages.join("\n").contains("CUDA is not available"),
            "{messages:?}"
        );
    }
}

#[test]
fn a_new_model_is_swapped_in_while_playing_and_a_bad_one_is_refused() {
    let mut h = harness("", RGB);
    let element = h.element().unwrap();
    let bus = gst::Bus::new();
    element.set_bus(Some(&bus));
    let first_id = meta(&push(&mut h, frame(64, 48, 3, 0))).model_id;
    let swap_to = |h: &mut gst_check::Harness, model: &Path| {
        element.set_property("model", model.to_str().unwrap());
        // The load happens off the streaming thread: keep pushing until it lands (or give up).
        (0..600)
            .map(|i| {
                std::thread::sleep(std::time::Duration::from_millis(10));
                meta(&push(h, frame(64, 48, 3, i))).model_id
            })
            .find(|id| *id != first_id)
    };
    let second_id = swap_to(&mut h, &models().second).expect("second model swapped in");
    assert_ne!(second_id, first_id);

    element.set_property("model", models().corrupt.to_str().unwrap());
    let mut warned = false;
    for i in 0..600 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        assert_eq!(
            meta(&push(&mut h, frame(64, 48, 3, i))).model_id,
            second_id,
            "old model kept"
        );
        while let Some(message) = bus.pop() {
            if let gst::MessageView::Warning(w) = message.view() {
                let debug = w.debug().map(|d| d.to_string()).unwrap_or_default();
                assert!(debug.contains("corrupt.nfbmr"), "{debug}");
                warned = true;
            }
        }
        if warned {
            break;
        }
    }
    assert!(warned, "a warning names the model that failed");
}

#[test]
fn results_reach_the_bus_and_the_json_lines_file() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.jsonl");
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=5 ! video/x-raw,width=96,height=64 ! videoconvert ! \
         nfbmr model={} results-location={} ! fakesink",
        models().first.display(),
        results.display()
    ))
    .unwrap();
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut scores = Vec::new();
    for message in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        match message.view() {
            gst::MessageView::Element(e) if e.structure().is_some_and(|s| s.name() == "nfbmr") => {
                let s = e.structure().unwrap();
                let score: f64 = s.get("score").unwrap();
                let raw: f64 = s.get("raw-score").unwrap();
                let threshold: f64 = s.get("threshold").unwrap();
                assert!((score - raw / threshold).abs() < 1e-9);
                assert_eq!(s.get::<bool>("is-anomaly").unwrap(), score >= 1.0);
                assert!(s.get::<gst::ClockTime>("running-time").is_ok());
                assert!(s.get::<gst::Array>("regions").is_ok());
                scores.push(score);
            }
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(scores.len(), 5);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&results)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    for (i, (line, score)) in lines.iter().zip(&scores).enumerate() {
        assert_eq!(line["frame"], i as u64);
        let pts = line["pts"].as_u64().unwrap() as i64;
        assert!(
            (pts - i as i64 * 1_000_000_000 / 30).abs() <= 1,
            "pts {pts}"
        );
        assert!((line["score"].as_f64().unwrap() - score).abs() < 1e-12);
        assert!(line["regions"].is_array() && line["model-id"].is_string());
    }
}

#[test]
fn the_meta_survives_queue_tee_videoconvert_videoscale_and_an_encoder() {
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=3 ! video/x-raw,format=RGB,width=64,height=48 ! nfbmr model={} ! \
         queue ! tee name=t ! queue ! videoconvert ! video/x-raw,format=I420 ! videoscale ! \
         video/x-raw,width=32,height=24 ! appsink name=raw \
         t. ! queue ! videoconvert ! x264enc tune=zerolatency ! appsink name=encoded",
        models().first.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sinks: Vec<gst_app::AppSink> = ["raw", "encoded"]
        .iter()
        .map(|name| pipeline.by_name(name).unwrap().downcast().unwrap())
        .collect();
    pipeline.set_state(gst::State::Playing).unwrap();
    for sink in &sinks {
        let mut count = 0;
        while let Ok(sample) = sink.pull_sample() {
            let buffer = sample.buffer().unwrap();
            let m = NfbmrMeta::from_buffer(buffer)
                .unwrap_or_else(|| panic!("{}: buffer without NfbmrMeta", sink.name()));
            assert!(m.raw_score > 0.0);
            count += 1;
        }
        assert_eq!(count, 3, "{}", sink.name());
    }
    pipeline.set_state(gst::State::Null).unwrap();
}

/// target/<profile>; this test runs from target/<profile>/deps.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_owned()
}

/// A command that finds the plugin cargo built for these tests, and a registry of its own, in `scratch`.
/// `cargo test` leaves the library in deps/ (`cargo build` also copies it up a level); a folder holding
/// only it keeps GStreamer from scanning every other shared object there.
fn with_built_plugin(program: impl AsRef<OsStr>, scratch: &Path) -> Command {
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

fn stdout_of(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    stdout
}

#[test]
fn gst_launch_runs_the_built_plugin() {
    let registry = tempfile::tempdir().unwrap();
    let model = format!("model={}", models().first.display());
    let pipeline = [
        "videotestsrc",
        "is-live=true",
        "num-buffers=3",
        "!",
        "videoconvert",
        "!",
        "nfbmr",
        &model,
    ];
    let output = with_built_plugin("gst-launch-1.0", registry.path())
        .arg("-m")
        .args(pipeline)
        .args(["overlay=true", "!", "videoconvert", "!", "fakesink"])
        .output()
        .expect("gst-launch-1.0 from scripts/setup.sh");
    let stdout = stdout_of(&output);
    let messages = stdout.matches("(element): nfbmr, timestamp=").count();
    assert_eq!(messages, 3, "{stdout}");
}

#[test]
fn the_integrator_examples_read_the_meta() {
    let registry = tempfile::tempdir().unwrap();
    let model = models().first.to_str().unwrap();
    let rust = with_built_plugin(profile_dir().join("examples/read_meta"), registry.path())
        .args([model, "3"])
        .output()
        .unwrap();
    let rust = stdout_of(&rust);
    let frames = rust
        .lines()
        .filter(|l| l.contains("score=") && l.contains("map=64x64"));
    assert_eq!(frames.count(), 3, "{rust}");

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/python/read_meta.py");
    let python = with_built_plugin("/usr/bin/python3", registry.path())
        .arg(script)
        .args([model, "3"])
        .output()
        .unwrap();
    let lines: Vec<serde_json::Value> = stdout_of(&python)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for line in lines {
        let score = line["score"].as_f64().unwrap();
        let peak = line["map-peak"].as_f64().unwrap();
        assert!((score - peak).abs() < 1e-4 * score, "{line}");
        assert_eq!(line["model-id"].as_str().unwrap().len(), 12);
    }
}

#[test]
fn a_synchronous_bus_handler_may_swap_the_model() {
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=5 ! video/x-raw,width=64,height=48 ! videoconvert ! \
         nfbmr name=detector model={} ! fakesink",
        models().first.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let detector = pipeline.by_name("detector").unwrap();
    let second = models().second.to_str().unwrap().to_string();
    // Called on the streaming thread, inside the element's posting of its message.
    pipeline
        .bus()
        .unwrap()
        .set_sync_handler(move |_bus, message| {
            if let gst::MessageView::Element(e) = message.view()
                && e.structure().is_some_and(|s| s.name() == "nfbmr")
            {
                detector.set_property("model", &second);
            }
            gst::BusSyncReply::Pass
        });
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let end = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(120),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("the pipeline ends instead of deadlocking");
    assert_eq!(end.type_(), gst::MessageType::Eos);
    pipeline.set_state(gst::State::Null).unwrap();
}
