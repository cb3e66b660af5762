// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `nfbmr` element in real pipelines: errors before PAUSED, bus messages and JSON lines, metas across
//! other elements, gst-launch-1.0 with the built plugin, the integrator examples and bus handlers.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{init, models};
use gst::prelude::*;
use gstnfbmr::NfbmrMeta;

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
            "videotestsrc ! nfbmr model={} device=cuda device-index=1 ! fakesink",
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
fn results_reach_the_bus_and_the_json_lines_file() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.jsonl");
    let pipeline = five_frames("width=96,height=64", "", &results);
    let mut scores = Vec::new();
    for (_, s) in common::observe::nfbmr_messages(&pipeline) {
        let score: f64 = s.get("score").unwrap();
        let raw: f64 = s.get("raw-score").unwrap();
        let threshold: f64 = s.get("threshold").unwrap();
        assert!((score - raw / threshold).abs() < 1e-9);
        assert_eq!(s.get::<bool>("is-anomaly").unwrap(), score >= 1.0);
        assert!(s.get::<gst::ClockTime>("running-time").is_ok());
        assert!(s.get::<gst::Array>("regions").is_ok());
        scores.push(score);
    }
    assert_eq!(scores.len(), 5);
    let lines = frame_lines(&results);
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

#[test]
fn the_same_frames_scored_twice_give_identical_results() {
    let dir = tempfile::tempdir().unwrap();
    let runs: Vec<PathBuf> = ["first.jsonl", "second.jsonl"]
        .iter()
        .map(|name| {
            let results = dir.path().join(name);
            let pipeline = five_frames("width=80,height=60", "", &results);
            pipeline.set_state(gst::State::Playing).unwrap();
            let bus = pipeline.bus().unwrap();
            let end = bus.timed_pop_filtered(
                gst::ClockTime::from_seconds(120),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            );
            assert_eq!(end.map(|m| m.type_()), Some(gst::MessageType::Eos));
            pipeline.set_state(gst::State::Null).unwrap();
            results
        })
        .collect();
    let first = nfbmr::compare::read_results(&runs[0]).unwrap();
    let second = nfbmr::compare::read_results(&runs[1]).unwrap();
    let comparison = nfbmr::compare::Comparison::of(&first, &second);
    assert_eq!(comparison.frames, (5, 5));
    assert!(comparison.agrees_within(0.0), "{comparison:?}");
}

/// The lines of a results file that are scored frames (event lines have an `event` field).
fn frame_lines(results: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(results)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|line| line.get("event").is_none())
        .collect()
}

/// Five test frames of `size` (caps fields) through `nfbmr` with the first model, `properties` and
/// `results-location` set, into a fakesink.
fn five_frames(size: &str, properties: &str, results: &Path) -> gst::Pipeline {
    init();
    let description = format!(
        "videotestsrc num-buffers=5 ! video/x-raw,{size} ! videoconvert ! \
         nfbmr {properties} model={} results-location={} ! fakesink",
        models().first.display(),
        results.display()
    );
    gst::parse::launch(&description)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap()
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
    let output = common::with_built_plugin("gst-launch-1.0", registry.path())
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
    let rust = common::with_built_plugin(
        common::profile_dir().join("examples/read_meta"),
        registry.path(),
    )
    .args([model, "3"])
    .output()
    .unwrap();
    let rust = stdout_of(&rust);
    let frames = rust
        .lines()
        .filter(|l| l.contains("score=") && l.contains("map=64x64"));
    assert_eq!(frames.count(), 3, "{rust}");

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/python/read_meta.py");
    let python = common::with_built_plugin("/usr/bin/python3", registry.path())
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
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.jsonl");
    let pipeline = five_frames("width=64,height=48", "name=detector", &results);
    let detector = pipeline.by_name("detector").unwrap();
    let second = models().second.to_str().unwrap().to_string();
    // Called on the streaming thread, inside the element's posting of its message about the first frame.
    pipeline
        .bus()
        .unwrap()
        .set_sync_handler(move |_bus, message| {
            if let gst::MessageView::Element(e) = message.view()
                && e.structure().is_some_and(|s| s.name() == "nfbmr")
                && detector.property::<Option<String>>("model").as_deref() != Some(&second)
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
    let ids: Vec<String> = frame_lines(&results)
        .iter()
        .map(|line| line["model-id"].as_str().unwrap().to_owned())
        .collect();
    let (first, second) = (
        common::Models::id(&models().first),
        common::Models::id(&models().second),
    );
    assert_eq!(
        ids,
        [
            first,
            second.clone(),
            second.clone(),
            second.clone(),
            second
        ]
    );
}
