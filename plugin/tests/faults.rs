// SPDX-License-Identifier: MIT OR Apache-2.0
//! Bad things a station meets, each with a clear message and nothing lost: a model carrying code, paths
//! that would overwrite something, a full disk, a model file deleted or damaged under a running element, a
//! missing GPU, and an end of stream or a stop during an inference.

mod common;

use std::path::Path;
use std::time::Duration;

use gst::prelude::*;

use common::{meta, models};

fn launch(description: &str) -> gst::Pipeline {
    common::init();
    gst::parse::launch(description).unwrap().downcast().unwrap()
}

/// `count` 64×48 RGB test frames into `nfbmr model=MODEL properties`.
fn inspect(count: u32, model: &Path, properties: &str) -> gst::Pipeline {
    launch(&format!(
        "videotestsrc num-buffers={count} pattern=ball ! video/x-raw,format=RGB,width=64,height=48 ! \
         nfbmr name=inspector model={} {properties} ! fakesink name=sink",
        model.display()
    ))
}

/// Plays `pipeline` to its end: the error's text, or `None` at the end of the stream; and its warnings.
fn play(pipeline: &gst::Pipeline) -> (Option<String>, Vec<String>) {
    let bus = pipeline.bus().unwrap();
    let outcome = pipeline.set_state(gst::State::Playing);
    let mut warnings = Vec::new();
    let error = loop {
        let message = bus
            .timed_pop_filtered(
                gst::ClockTime::from_seconds(60),
                &[
                    gst::MessageType::Eos,
                    gst::MessageType::Error,
                    gst::MessageType::Warning,
                ],
            )
            .expect("an end or an error, not a hang");
        match message.view() {
            gst::MessageView::Eos(_) => break None,
            gst::MessageView::Error(e) => break Some(format!("{} {:?}", e.error(), e.debug())),
            gst::MessageView::Warning(w) => warnings.push(format!("{} {:?}", w.error(), w.debug())),
            _ => unreachable!(),
        }
    };
    assert!(outcome.is_ok() || error.is_some());
    pipeline.set_state(gst::State::Null).unwrap();
    (error, warnings)
}

fn assert_error(pipeline: &gst::Pipeline, words: &[&str]) {
    let error = play(pipeline).0.expect("an error");
    for word in words {
        assert!(error.contains(word), "'{word}' missing from: {error}");
    }
}

#[test]
fn a_model_carrying_code_runs_only_with_allow_code() {
    let dir = tempfile::tempdir().unwrap();
    let images = common::tiny::textured_images(dir.path(), 4, 64, 9);
    let mut options = common::tiny::tiny_options(64, 1);
    options.hold_out = 0.0;
    options.backbone = nfbmr::train::BackboneChoice::TorchScript {
        path: nfbmr::weights::cache_dir().join("reference/efficientnet-lite0-taps.pt"),
        taps: None,
    };
    let model = dir.path().join("scripted.nfbmr");
    common::tiny::train_quietly(&images, &options)
        .save(&model)
        .unwrap();

    assert_error(&inspect(2, &model, ""), &["scripted.nfbmr", "allow-code"]);
    assert_eq!(play(&inspect(2, &model, "allow-code=true")).0, None);
}

#[test]
fn results_location_never_writes_over_a_surprise() {
    let dir = tempfile::tempdir().unwrap();
    let with_results = |path: &Path| format!("results-location={}", path.display());
    let model = &models().first;

    assert_error(&inspect(1, model, &with_results(dir.path())), &["folder"]);
    let orphan = dir.path().join("missing/results.jsonl");
    assert_error(
        &inspect(1, model, &with_results(&orphan)),
        &["missing", "does not exist"],
    );
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "shift notes\n").unwrap();
    assert_error(
        &inspect(1, model, &with_results(&notes)),
        &["notes.txt", "does not hold nfbmr results"],
    );
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "shift notes\n");

    // A results file is appended to, run after run.
    let results = dir.path().join("results.jsonl");
    let lines = || std::fs::read_to_string(&results).unwrap().lines().count();
    assert_eq!(play(&inspect(3, model, &with_results(&results))).0, None);
    let first_run = lines();
    assert!(first_run >= 3);
    assert_eq!(play(&inspect(3, model, &with_results(&results))).0, None);
    assert_eq!(lines(), 2 * first_run);
}

#[test]
fn a_full_disk_stops_the_results_file_not_the_inspection() {
    let pipeline = inspect(5, &models().first, "results-location=/dev/full");
    let seen = common::observe::watch(&pipeline);
    let (error, warnings) = play(&pipeline);
    assert_eq!(error, None);
    assert_eq!(seen.frames(), 5);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("Cannot write results to /dev/full"),
        "{warnings:?}"
    );
}

#[test]
fn clips_are_never_written_over() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("event-00001.mkv"), "an earlier clip").unwrap();
    let pipeline = launch(&format!(
        "videotestsrc num-buffers=1 ! x264enc ! nfbmrclips location={}/event-%05d.mkv ! fakesink",
        dir.path().display()
    ));
    assert_error(&pipeline, &["event-00001.mkv", "never overwritten"]);
}

#[test]
fn a_model_file_deleted_or_damaged_under_a_running_element() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("part.nfbmr");
    std::fs::copy(&models().first, &model).unwrap();
    let mut h = common::harness("", common::RGB);
    let element = h.element().unwrap();
    let bus = gst::Bus::new();
    element.set_bus(Some(&bus));
    element.set_property("model", model.to_str().unwrap());
    let id =
        |h: &mut gst_check::Harness| meta(&common::push(h, common::frame(64, 48, 3, 0))).model_id;
    let first = common::Models::id(&models().first);
    assert_eq!(id(&mut h), first);

    // The model in use lives in memory: deleting its file changes nothing.
    std::fs::remove_file(&model).unwrap();
    assert_eq!(id(&mut h), first);
    // Reloading it, or a truncated copy, is refused with a warning; the model in use stays.
    let warned = |h: &mut gst_check::Harness, words: &str| {
        element.set_property("model", model.to_str().unwrap());
        assert_eq!(id(h), first);
        let debug = common::next_warning(&bus);
        assert!(debug.contains(words), "{debug}");
    };
    warned(&mut h, "does not exist");
    let bytes = std::fs::read(&models().second).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 3]).unwrap();
    warned(&mut h, "truncated");
    // Copied again, it loads.
    std::fs::write(&model, &bytes).unwrap();
    element.set_property("model", model.to_str().unwrap());
    assert_eq!(id(&mut h), common::Models::id(&models().second));
}

#[test]
fn cuda_on_a_machine_without_it_is_a_clear_error() {
    if tch::Cuda::is_available() {
        return; // the machine has CUDA: nothing to refuse
    }
    assert_error(
        &inspect(1, &models().first, "device=cuda"),
        &["CUDA is not available"],
    );
}

#[test]
fn cuda_graphs_on_the_cpu_are_a_clear_error() {
    assert_error(
        &inspect(1, &models().first, "device=cpu cuda-graphs=true"),
        &["CUDA graphs need a CUDA device"],
    );
}

/// Large frames, so that the end of the stream and a stop both come while one is being scored.
fn large_frames(count: usize) -> (gst::Pipeline, gst_app::AppSrc) {
    let pipeline = launch(&format!(
        "appsrc name=frames format=time caps=video/x-raw,format=RGB,width=1920,height=1080,framerate=30/1 ! \
         nfbmr model={} ! fakesink name=sink sync=false",
        models().first.display()
    ));
    let appsrc: gst_app::AppSrc = pipeline.by_name("frames").unwrap().downcast().unwrap();
    for index in 0..count {
        let mut buffer = common::frame(1920, 1080, 3, index);
        buffer
            .get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(33 * index as u64));
        appsrc.push_buffer(buffer).unwrap();
    }
    (pipeline, appsrc)
}

#[test]
fn end_of_stream_or_a_stop_during_an_inference() {
    // The end of the stream waits for the frames before it: each leaves with its verdict.
    let (pipeline, appsrc) = large_frames(3);
    let seen = common::observe::watch(&pipeline);
    appsrc.end_of_stream().unwrap();
    assert_eq!(play(&pipeline).0, None);
    assert_eq!(seen.frames(), 3);

    // A stop while a frame is being scored returns, and the element starts again.
    for _ in 0..3 {
        let (pipeline, _appsrc) = large_frames(4);
        let seen = common::observe::watch(&pipeline);
        pipeline.set_state(gst::State::Playing).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        pipeline.set_state(gst::State::Null).unwrap();
        assert!(seen.frames() < 4);
    }
}
