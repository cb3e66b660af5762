// SPDX-License-Identifier: MIT OR Apache-2.0
//! Learning from video as an engineer at the line does it: learn-from-video.sh turns a generated video of
//! good parts into a model (every Nth frame, the repeats of a part at rest skipped) that flags the defects
//! of a test video replayed through the element.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use nfbmr::compare::read_results;

/// Frames a part stays under the camera.
const FRAMES_PER_PART: usize = 5;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../pipelines")
        .join(name)
}

fn succeeds(command: &mut Command) -> String {
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    stderr
}

/// A lossless 10 frames/s video of `pictures`, each shown for `repeat` frames.
fn video(pictures: &[image::GrayImage], repeat: usize, path: &Path) {
    let frames = tempfile::tempdir().unwrap();
    for (i, picture) in pictures.iter().enumerate() {
        for r in 0..repeat {
            let name = format!("frame-{:03}.png", i * repeat + r);
            picture.save(frames.path().join(name)).unwrap();
        }
    }
    succeeds(Command::new("gst-launch-1.0").args([
        "-q",
        "multifilesrc",
        &format!("location={}/frame-%03d.png", frames.path().display()),
        "caps=image/png,framerate=10/1",
        "!",
        "pngdec",
        "!",
        "videoconvert",
        "!",
        "video/x-raw,format=BGRx",
        "!",
        "avenc_ffv1",
        "!",
        "matroskamux",
        "!",
        "filesink",
        &format!("location={}", path.display()),
    ]));
}

fn textures(dir: &Path, count: usize, seed: u64) -> Vec<image::GrayImage> {
    common::tiny::textured_images(dir, count, 64, seed)
        .iter()
        .map(|path| image::open(path).unwrap().to_luma8())
        .collect()
}

#[test]
fn a_model_learnt_from_a_video_of_good_parts_flags_the_defects_of_another() {
    let scratch = tempfile::tempdir().unwrap();
    let good = scratch.path().join("good.mkv");
    video(&textures(scratch.path(), 16, 11), FRAMES_PER_PART, &good);
    let model = scratch.path().join("learnt.nfbmr");
    let log = succeeds(
        common::with_built_plugin(script("learn-from-video.sh"), scratch.path())
            .args([&good, &model])
            .env("DEVICE", "cpu")
            .env("EVERY", "2")
            .env(
                "TRAIN_OPTIONS",
                "--image-size 64 --epochs 2 --hold-out 0.25",
            ),
    );
    // 80 frames, every second offered; each of the 16 parts kept once, its repeats skipped.
    assert!(
        log.contains("read 80 frames: kept 16 ") && log.contains("24 near-duplicates skipped"),
        "{log}"
    );
    // A quarter held out for the threshold, as `nfbmr train` does with a folder of 16 images.
    assert!(
        log.contains("training on 16 good images") && log.contains("to 4 good images"),
        "{log}"
    );

    // New parts of the same kind, then the same parts with a dark patch.
    let parts = textures(scratch.path(), 6, 12);
    let defective: Vec<image::GrayImage> = parts
        .iter()
        .map(|part| {
            let mut part = part.clone();
            for y in 20..40 {
                for x in 24..44 {
                    part.put_pixel(x, y, image::Luma([0]));
                }
            }
            part
        })
        .collect();
    let test = scratch.path().join("test.mkv");
    video(&[parts, defective].concat(), 1, &test);
    let results = scratch.path().join("results.jsonl");
    succeeds(
        common::with_built_plugin(script("replay.sh"), scratch.path())
            .args([&test, &model])
            .env("DEVICE", "cpu")
            .env("RESULTS", &results),
    );
    let frames = read_results(&results).unwrap();
    let flags: Vec<bool> = frames.iter().map(|f| f.is_anomaly).collect();
    let scores: Vec<f64> = frames.iter().map(|f| f.score).collect();
    assert_eq!(flags.len(), 12);
    assert!(flags[6..].iter().all(|&flagged| flagged), "{scores:?}");
    let lowest_defect = scores[6..].iter().copied().fold(f64::INFINITY, f64::min);
    assert!(
        scores[..6].iter().all(|&good| good < lowest_defect),
        "{scores:?}"
    );
    assert!(
        flags[..6].iter().filter(|&&flagged| flagged).count() <= 1,
        "{scores:?}"
    );
}
