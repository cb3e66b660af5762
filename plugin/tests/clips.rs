// SPDX-License-Identifier: MIT OR Apache-2.0
//! Defect clips in a real pipeline: a generated stream with known defect intervals through nfbmr, an H.264
//! encoder and nfbmrclips. Each event gets one playable clip covering its interval with pre-roll and
//! post-roll, to within a GOP, and a JSON file beside it, an event open at the end of the stream included;
//! a folder that cannot be written is refused.

mod common;

use std::path::{Path, PathBuf};

use gst::prelude::*;

use common::models;

/// 10 frames/s; a keyframe every 5 frames.
const FRAME_MS: u64 = 100;
const GOP_MS: u64 = 500;
const PRE_ROLL_MS: u64 = 1000;
const POST_ROLL_MS: u64 = 1000;
const FRAMES: u64 = 80;

fn defective(frame: u64) -> bool {
    (20..30).contains(&frame) || (50..55).contains(&frame) || frame >= 75
}

/// Runs the stream through nfbmr, x264enc and nfbmrclips writing to `clips`; the pipeline's error if any.
fn run(clips: &Path) -> Result<(), String> {
    common::init();
    let (good, defect, threshold) = common::good_and_defect_pictures();
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=frames format=time caps=video/x-raw,format=RGB,width=64,height=48,framerate=10/1 \
         ! nfbmr model={} device=cpu threshold={threshold} event-start-frames=2 event-window=3 \
           event-end-frames=2 ! videoconvert \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=5 ! h264parse config-interval=-1 \
         ! nfbmrclips location={}/clip-%03d.mkv pre-roll={} post-roll={} ! fakesink",
        models().first.display(),
        clips.display(),
        PRE_ROLL_MS * 1_000_000,
        POST_ROLL_MS * 1_000_000,
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let appsrc = pipeline
        .by_name("frames")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let bus = pipeline.bus().unwrap();
    if pipeline.set_state(gst::State::Playing).is_err() {
        let error =
            bus.timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Error]);
        pipeline.set_state(gst::State::Null).unwrap();
        return Err(match error.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Error(err)) => format!("{:?}", err.debug()),
            _ => "the pipeline does not start".to_owned(),
        });
    }
    for i in 0..FRAMES {
        let picture = if defective(i) { &defect } else { &good };
        let mut buffer = gst::Buffer::from_slice(picture.clone());
        let b = buffer.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(i * FRAME_MS));
        b.set_duration(gst::ClockTime::from_mseconds(FRAME_MS));
        if appsrc.push_buffer(buffer).is_err() {
            break;
        }
    }
    let _ = appsrc.end_of_stream();
    let end = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(120),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("the stream ends");
    pipeline.set_state(gst::State::Null).unwrap();
    match end.view() {
        gst::MessageView::Error(err) => Err(err.error().to_string()),
        _ => Ok(()),
    }
}

/// The presentation times of every frame a clip decodes to, in milliseconds.
fn decoded_frames(clip: &Path) -> Vec<u64> {
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! matroskademux ! h264parse ! avdec_h264 ! appsink name=frames sync=false",
        clip.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let appsink = pipeline
        .by_name("frames")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut times = Vec::new();
    while let Some(sample) = appsink.try_pull_sample(gst::ClockTime::from_seconds(10)) {
        times.push(sample.buffer().unwrap().pts().unwrap().mseconds());
    }
    pipeline.set_state(gst::State::Null).unwrap();
    times
}

fn ms(json: &serde_json::Value) -> u64 {
    json.as_u64().expect("a time in ns") / 1_000_000
}

#[test]
fn each_event_gets_a_playable_clip_with_pre_roll_and_post_roll() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path()).unwrap();
    let clip = |id: u64| -> PathBuf { dir.path().join(format!("clip-{id:03}.mkv")) };
    // Starts are confirmed by the second defect frame and dated at the first; ends by the second good
    // frame and dated at the first good one.
    // The third event is still open when the stream ends: it ends there, after the last frame.
    for (id, (first_defect, first_good)) in [(1, (20, 30)), (2, (50, 55)), (3, (75, FRAMES))] {
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(clip(id).with_extension("json")).unwrap(),
        )
        .unwrap();
        let (start, end) = (
            ms(&json["start"]["running-time"]),
            ms(&json["end"]["running-time"]),
        );
        assert_eq!(
            (start, end),
            (first_defect * FRAME_MS, first_good * FRAME_MS)
        );
        assert_eq!(json["start"]["id"], id);
        assert!(json["end"]["peak-score"].as_f64().unwrap() > 1.0);
        assert_eq!(json["clip"], clip(id).to_str().unwrap());

        // Pre-roll from the keyframe before it; post-roll to the frame.
        let (clip_start, clip_end) = (
            ms(&json["clip-start-running-time"]),
            ms(&json["clip-end-running-time"]),
        );
        let wanted_start = start - PRE_ROLL_MS;
        assert!(
            clip_start <= wanted_start && clip_start + GOP_MS > wanted_start,
            "clip {id} starts at {clip_start} ms for {wanted_start} ms"
        );
        let last_frame = (FRAMES - 1) * FRAME_MS;
        assert_eq!(clip_end, last_frame.min(end + POST_ROLL_MS), "clip {id}");

        // It decodes: every frame, from 0 in the file.
        let decoded = decoded_frames(&clip(id));
        let expected: Vec<u64> = (0..=(clip_end - clip_start) / FRAME_MS)
            .map(|i| i * FRAME_MS)
            .collect();
        assert_eq!(decoded, expected, "clip {id}");
        assert_eq!(json["frames"], decoded.len());
    }
    assert!(!clip(4).exists());
}

#[test]
fn a_clip_folder_that_cannot_be_written_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none");
    let err = run(&missing).unwrap_err();
    assert!(err.contains("Cannot write clips to"), "{err}");
}

#[test]
fn a_clip_that_cannot_be_written_is_a_warning_and_the_stream_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // Each file written is limited to 64 KiB: the clip's writes fail as on a full disk (SIGXFSZ ignored).
    let pipeline = format!(
        "gst-launch-1.0 videotestsrc num-buffers=40 pattern=snow ! video/x-raw,width=160,height=120,framerate=10/1 \
         ! videoconvert ! nfbmr model={} device=cpu ! videoconvert ! x264enc tune=zerolatency key-int-max=5 \
         ! h264parse config-interval=-1 ! nfbmrclips location={}/clip-%d.mkv ! fakesink",
        models().first.display(),
        dir.path().display()
    );
    let output = common::with_built_plugin("bash", dir.path())
        .args([
            "-c",
            &format!("trap '' XFSZ; ulimit -f 64; exec {pipeline}"),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("Cannot write clip"), "{stdout}");
    assert!(stdout.contains("Got EOS"), "{stdout}");
}
