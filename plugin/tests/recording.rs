// SPDX-License-Identifier: MIT OR Apache-2.0
//! The station scripts of pipelines/ as a station runs them, with the plugin cargo built: inspecting a
//! camera, recording (a lossless recording replays to the live verdicts exactly; Ctrl-C leaves every frame
//! inspected in a playable recording; a kill leaves every closed segment playable) and replaying.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::models;
use nfbmr::compare::{Comparison, read_results};

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../pipelines")
        .join(name)
}

/// A script run with the built plugin, on the CPU, from `scratch`.
fn run(name: &str, scratch: &Path) -> Command {
    let mut command = common::with_built_plugin(script(name), scratch);
    command.env("DEVICE", "cpu").current_dir(scratch);
    command
}

fn succeeds(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Replays `recording` into `RESULTS=name` in `scratch`; returns the file.
fn replay(recording: &Path, scratch: &Path, name: &str) -> PathBuf {
    let results = scratch.join(name);
    succeeds(
        run("replay.sh", scratch)
            .env("RESULTS", &results)
            .arg(recording)
            .arg(&models().first),
    );
    results
}

#[test]
fn a_lossless_recording_replays_to_the_live_verdicts_exactly() {
    let scratch = tempfile::tempdir().unwrap();
    let recording = scratch.path().join("recording");
    succeeds(
        run("record.sh", scratch.path())
            .env("LOSSLESS", "1")
            .env("SEGMENT_SECONDS", "1")
            .env(
                "SOURCE",
                "videotestsrc num-buffers=25 pattern=ball ! video/x-raw,width=96,height=64,framerate=10/1",
            )
            .args(["-".as_ref(), models().first.as_os_str(), recording.as_os_str()]),
    );
    let segments = std::fs::read_dir(&recording)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("original-")
        })
        .count();
    assert!(segments >= 2, "rolling segments: {segments}");
    let live = read_results(&recording.join("results.jsonl")).unwrap();
    let replayed = read_results(&replay(&recording, scratch.path(), "replay.jsonl")).unwrap();
    assert_eq!(live.len(), 25);
    let comparison = Comparison::of(&live, &replayed);
    assert!(comparison.agrees_within(0.0), "{comparison:?}");

    // The tiny model flags every frame of this pattern: one defect event, still open at the end of the
    // stream, ends there; its clip holds every frame from the start (within the 5 s pre-roll).
    let events: Vec<serde_json::Value> = std::fs::read_to_string(recording.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .filter(|line: &serde_json::Value| line.get("event").is_some())
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        (&events[1]["event"], &events[1]["pts"]),
        (&"end".into(), &2_500_000_000u64.into())
    );
    let clip = recording.join("clips/event-00001.json");
    let clip: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(clip).unwrap()).unwrap();
    assert_eq!(clip["frames"], 25);
    let frames = read_results(&replay(
        &recording.join("clips/event-00001.mkv"),
        scratch.path(),
        "clip.jsonl",
    ));
    assert_eq!(frames.unwrap().len(), 25, "the clip decodes");

    // A recording folder is not written twice.
    let again = run("record.sh", scratch.path())
        .env("SOURCE", "videotestsrc num-buffers=1")
        .args([
            "-".as_ref(),
            models().first.as_os_str(),
            recording.as_os_str(),
        ])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a recording"));
    // Nor one that cannot be made (inside a file).
    let unwritable = scratch.path().join("replay.jsonl").join("recording");
    let refused = run("record.sh", scratch.path())
        .env("SOURCE", "videotestsrc num-buffers=1")
        .args([
            "-".as_ref(),
            models().first.as_os_str(),
            unwritable.as_os_str(),
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("cannot create"));
}

/// record.sh on a live 15 frames/s source in 1 s segments, running in the background.
fn record_live(scratch: &Path, recording: &Path) -> std::process::Child {
    run("record.sh", scratch)
        .env("SEGMENT_SECONDS", "1")
        .env(
            "SOURCE",
            "videotestsrc is-live=true pattern=ball ! video/x-raw,width=96,height=64,framerate=15/1",
        )
        .args(["-".as_ref(), models().first.as_os_str(), recording.as_os_str()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn ctrl_c_leaves_every_inspected_frame_in_a_playable_recording() {
    let scratch = tempfile::tempdir().unwrap();
    let recording = scratch.path().join("recording");
    let mut child = record_live(scratch.path(), &recording);
    // Once a second of frames has been inspected (start-up scans a fresh registry and loads the model).
    let results = recording.join("results.jsonl");
    let inspected = || read_results(&results).map_or(0, |frames| frames.len());
    for _ in 0..600 {
        if inspected() >= 15 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // SIGINT, as Ctrl-C sends it.
    assert!(
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(
        child.wait().unwrap().success(),
        "record.sh ends cleanly on Ctrl-C"
    );
    let live = read_results(&results).unwrap();
    assert!(live.len() >= 15, "{} frames inspected", live.len());
    // Every segment decodes, and together they hold every inspected frame.
    let replayed = read_results(&replay(&recording, scratch.path(), "replay.jsonl")).unwrap();
    assert_eq!(replayed.len(), live.len());
}

#[test]
fn a_killed_recording_keeps_every_closed_segment_playable() {
    let scratch = tempfile::tempdir().unwrap();
    let recording = scratch.path().join("recording");
    let mut child = record_live(scratch.path(), &recording);
    let segments = || {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&recording)
            .map(|entries| entries.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        names.retain(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("original-")
        });
        names.sort();
        names
    };
    // Segments close at keyframes, every 2 s here: wait for three, then kill as a power cut would.
    for _ in 0..600 {
        if segments().len() >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let written = segments();
    assert!(written.len() >= 3, "{written:?}");
    for (i, segment) in written[..written.len() - 1].iter().enumerate() {
        let name = format!("segment-{i}.jsonl");
        let frames = read_results(&replay(segment, scratch.path(), &name)).unwrap();
        assert!(
            frames.len() >= 15,
            "{}: {} frames",
            segment.display(),
            frames.len()
        );
    }
}

#[test]
fn inspect_camera_takes_any_source_and_writes_every_verdict() {
    let scratch = tempfile::tempdir().unwrap();
    succeeds(
        run("inspect-camera.sh", scratch.path())
            .env(
                "SOURCE",
                "videotestsrc num-buffers=12 ! video/x-raw,width=96,height=64",
            )
            .env("SINK", "fakesink")
            .env("NFBMR_OPTIONS", "inference-interval=3")
            .arg(&models().first),
    );
    // Every third frame is scored.
    let frames = read_results(&scratch.path().join("results.jsonl")).unwrap();
    assert_eq!(
        frames.iter().map(|f| f.frame).collect::<Vec<_>>(),
        [0, 3, 6, 9]
    );
    let missing = run("inspect-camera.sh", scratch.path())
        .arg(scratch.path().join("none.nfbmr"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("none.nfbmr does not exist"));
}

/// `script` with its arguments under a 256 KiB limit on the size of each file it writes: writes past it fail
/// (EFBIG, with SIGXFSZ ignored) as they would on a full disk.
fn on_a_full_disk(script: &Path, scratch: &Path) -> Command {
    let mut command = common::with_built_plugin("bash", scratch);
    command
        .args(["-c", "trap '' XFSZ; ulimit -f 256; exec \"$0\" \"$@\""])
        .arg(script)
        .env("DEVICE", "cpu")
        .current_dir(scratch);
    command
}

#[test]
fn a_full_disk_stops_the_recording_with_a_clear_error_and_what_was_written_stays_readable() {
    let scratch = tempfile::tempdir().unwrap();
    let recording = scratch.path().join("recording");
    let output = on_a_full_disk(&script("record.sh"), scratch.path())
        .env(
            "SOURCE",
            "videotestsrc num-buffers=300 pattern=snow ! video/x-raw,width=160,height=120,framerate=10/1",
        )
        .args(["-".as_ref(), models().first.as_os_str(), recording.as_os_str()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("Error while writing to file"), "{stderr}");
    // Every verdict written is whole, and the segment cut short still plays.
    let live = read_results(&recording.join("results.jsonl")).unwrap();
    assert!(!live.is_empty());
    let original = recording.join("original-00000.ts");
    let replayed = read_results(&replay(&original, scratch.path(), "replay.jsonl")).unwrap();
    assert!(!replayed.is_empty(), "the truncated segment decodes");
}
