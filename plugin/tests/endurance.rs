// SPDX-License-Identifier: MIT OR Apache-2.0
//! State changes, model swaps, caps changes, flushing seeks and a long run in one process, counting its
//! threads and its resident memory: nothing may crash, leak a thread or grow. The short run is a test;
//! `scripts/endurance.sh` runs the long one (200 of each cycle, 100 swaps, 100 000 frames) and prints the
//! figures for docs/reliability.md.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use gst::prelude::*;

use common::models;
use common::observe::watch;
use nfbmr::model::backbone::Lite;
use nfbmr::train::BackboneChoice;

/// How much of each to do.
struct Run {
    cycles: usize,
    swaps: usize,
    frames: u64,
}

#[derive(Debug)]
struct Figures {
    threads_warm: usize,
    threads_end: usize,
    rss_warm_kib: u64,
    rss_end_kib: u64,
    soak_frames: u64,
    soak_seconds: f64,
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn launch(description: &str) -> gst::Pipeline {
    gst::parse::launch(description).unwrap().downcast().unwrap()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn assert_no_error(pipeline: &gst::Pipeline) {
    let bus = pipeline.bus().unwrap();
    if let Some(message) = bus.pop_filtered(&[gst::MessageType::Error]) {
        panic!("{message:?}");
    }
}

/// The smallest model there is (32 px, one scale, one flow step): the long runs measure the element and
/// the process, not the network.
fn light_model() -> &'static Path {
    static MODEL: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &MODEL
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let images = common::tiny::textured_images(dir.path(), 4, 32, 5);
            let mut options = common::tiny::tiny_options(32, 1);
            options.hold_out = 0.0;
            options.backbone = BackboneChoice::EfficientNetLite {
                lite: Lite::Lite0,
                weights: None,
                taps: vec![2],
            };
            options.flow.steps = 1;
            let path = dir.path().join("light.nfbmr");
            common::tiny::train_quietly(&images, &options)
                .save(&path)
                .unwrap();
            (dir, path)
        })
        .1
}

fn source(frames: Option<u64>, model: &Path) -> String {
    let limit = frames
        .map(|n| format!("num-buffers={n}"))
        .unwrap_or_default();
    format!(
        "videotestsrc {limit} pattern=ball ! video/x-raw,format=RGB,width=64,height=48,framerate=30/1 \
         ! nfbmr name=inspector model={} ! fakesink name=sink",
        model.display()
    )
}

/// NULL → PLAYING (to the end of three frames) → NULL, `cycles` times on one pipeline.
fn state_cycles(cycles: usize) {
    let pipeline = launch(&source(Some(3), light_model()));
    let bus = pipeline.bus().unwrap();
    for cycle in 0..cycles {
        pipeline.set_state(gst::State::Playing).unwrap();
        let message = bus
            .timed_pop_filtered(
                gst::ClockTime::from_seconds(30),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            )
            .unwrap_or_else(|| panic!("cycle {cycle}: no end of stream"));
        assert_eq!(message.type_(), gst::MessageType::Eos, "{message:?}");
        pipeline.set_state(gst::State::Null).unwrap();
    }
}

/// PAUSED ↔ PLAYING `cycles` times while frames flow at their own pace, then frames still flow.
fn pause_cycles(cycles: usize) {
    let pipeline = launch(&source(None, light_model()));
    let seen = watch(&pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    for _ in 0..cycles {
        pipeline.set_state(gst::State::Paused).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        pipeline.set_state(gst::State::Playing).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = seen.frames();
    wait_until("frames after the pauses", || seen.frames() > before + 3);
    assert_no_error(&pipeline);
    pipeline.set_state(gst::State::Null).unwrap();
}

/// `swaps` model changes while streaming, each seen in the frames' meta.
fn model_swaps(swaps: usize) {
    let pipeline =
        launch(&source(None, &models().first).replace("fakesink", "fakesink sync=false"));
    let seen = watch(&pipeline);
    let element = pipeline.by_name("inspector").unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let models = [&models().second, &models().first];
    for swap in 0..swaps {
        let model = models[swap % 2];
        let id = common::Models::id(model);
        element.set_property("model", model.to_str().unwrap());
        wait_until("the swapped model", || *seen.model.lock().unwrap() == id);
    }
    assert_no_error(&pipeline);
    pipeline.set_state(gst::State::Null).unwrap();
}

/// The caps change every three frames, `rounds` times, through RGB, BGRx and GRAY8 at three sizes; the same
/// picture keeps its score.
fn caps_changes(rounds: usize) {
    let mut h = common::harness("", common::RGB);
    let (good, _, _) = common::good_and_defect_pictures();
    let expected = common::raw_score(&good, 64, 48, nfbmr::PixelLayout::RGB);
    for round in 0..rounds {
        let (format, width, height, bytes) = [
            ("RGB", 64, 48, 3),
            ("BGRx", 40, 30, 4),
            ("GRAY8", 80, 60, 1),
        ][round % 3];
        h.set_src_caps_str(&format!(
            "video/x-raw,format={format},width={width},height={height},framerate=30/1"
        ));
        for seed in 0..3 {
            let out = common::push(&mut h, common::frame(width, height, bytes, seed));
            assert!(common::meta(&out).raw_score.is_finite(), "round {round}");
        }
        if format == "RGB" {
            let out = common::push(&mut h, gst::Buffer::from_slice(good.clone()));
            assert_eq!(
                common::meta(&out).raw_score,
                expected,
                "round {round}: same picture, same score"
            );
        }
    }
}

/// `seeks` flushing seeks while frames flow; frames flow after each.
fn flushing_seeks(seeks: usize) {
    let pipeline = launch(&source(None, light_model()).replace("fakesink", "fakesink sync=false"));
    let seen = watch(&pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    for seek in 0..=seeks {
        let before = seen.frames();
        wait_until("frames after a seek", || seen.frames() > before + 5);
        if seek < seeks {
            let position = gst::ClockTime::from_mseconds(100 * (seek % 10) as u64);
            pipeline
                .seek_simple(gst::SeekFlags::FLUSH, position)
                .unwrap();
        }
    }
    assert_no_error(&pipeline);
    pipeline.set_state(gst::State::Null).unwrap();
}

/// `frames` frames through one pipeline as fast as they go; resident memory at a tenth of them (warm) and
/// at the end.
fn soak(frames: u64) -> (u64, u64, f64) {
    let pipeline =
        launch(&source(Some(frames), light_model()).replace("fakesink", "fakesink sync=false"));
    let warm = Arc::new(AtomicU64::new(0));
    let recorded = Arc::clone(&warm);
    let pad = pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap();
    let count = AtomicU64::new(0);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        if count.fetch_add(1, Ordering::Relaxed) + 1 == frames / 10 {
            recorded.store(rss_kib(), Ordering::Relaxed);
        }
        gst::PadProbeReturn::Ok
    });
    let started = Instant::now();
    pipeline.set_state(gst::State::Playing).unwrap();
    let message = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::NONE,
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .unwrap();
    assert_eq!(message.type_(), gst::MessageType::Eos, "{message:?}");
    let seconds = started.elapsed().as_secs_f64();
    let end = rss_kib();
    pipeline.set_state(gst::State::Null).unwrap();
    (warm.load(Ordering::Relaxed), end, seconds)
}

fn endure(run: &Run) -> Figures {
    common::init();
    // Warm-up: every pool (GStreamer's, libtorch's) exists before threads are counted.
    state_cycles(1);
    model_swaps(2);
    let threads_warm = threads();
    let stages: [(&str, &dyn Fn()); 5] = [
        ("state cycles", &|| state_cycles(run.cycles)),
        ("pause cycles", &|| pause_cycles(run.cycles)),
        ("model swaps", &|| model_swaps(run.swaps)),
        ("caps changes", &|| caps_changes(run.cycles)),
        ("flushing seeks", &|| flushing_seeks(run.cycles)),
    ];
    for (what, stage) in stages {
        let started = Instant::now();
        stage();
        eprintln!("{what}: {:.1} s", started.elapsed().as_secs_f64());
    }
    let (rss_warm_kib, rss_end_kib, soak_seconds) = soak(run.frames);
    // Give threads that were told to end the time to do so.
    std::thread::sleep(Duration::from_millis(200));
    Figures {
        threads_warm,
        threads_end: threads(),
        rss_warm_kib,
        rss_end_kib,
        soak_frames: run.frames,
        soak_seconds,
    }
}

fn check(figures: &Figures) {
    let growth = figures.rss_end_kib as f64 / figures.rss_warm_kib as f64 - 1.0;
    eprintln!(
        "threads: {} after warm-up, {} at the end\n\
         resident memory: {} KiB after a tenth of the soak, {} KiB at its end ({:+.2}%)\n\
         soak: {} frames in {:.1} s ({:.0} frames/s)",
        figures.threads_warm,
        figures.threads_end,
        figures.rss_warm_kib,
        figures.rss_end_kib,
        growth * 100.0,
        figures.soak_frames,
        figures.soak_seconds,
        figures.soak_frames as f64 / figures.soak_seconds
    );
    assert!(
        figures.threads_end <= figures.threads_warm,
        "threads leaked: {figures:?}"
    );
    assert!(
        growth < 0.05,
        "resident memory grew by {:.1}%: {figures:?}",
        growth * 100.0
    );
}

#[test]
fn state_changes_swaps_and_a_soak_leave_no_thread_and_no_growth() {
    check(&endure(&Run {
        cycles: 20,
        swaps: 10,
        frames: 5_000,
    }));
}

/// The long run: `CYCLES`, `SWAPS` and `FRAMES` from the environment (scripts/endurance.sh).
#[test]
#[ignore = "minutes long: run by scripts/endurance.sh"]
fn long_run() {
    let number = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    check(&endure(&Run {
        cycles: number("CYCLES", 200) as usize,
        swaps: number("SWAPS", 100) as usize,
        frames: number("FRAMES", 100_000),
    }));
}
