// SPDX-License-Identifier: MIT OR Apache-2.0
//! `scripts/calibration_check.py` (docs/quality.md, *Calibration frames*) on a tiny model: each half of the
//! held-out frames is counted and named at the threshold `nfbmr calibrate` sets on the other half's
//! calibration frames, frames straddling the middle are left out, the model itself is left as it was, and
//! calibrate, given both halves as batches, finds the one that differs.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use nfbmr::data::synth::Texture;

/// Copies `images` into `dir` as frame-NNNN.png, numbered from `first`; returns the names.
fn frames(images: &[PathBuf], dir: &Path, first: usize) -> Vec<String> {
    fs::create_dir_all(dir).unwrap();
    images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            let name = format!("frame-{:04}.png", first + i);
            fs::copy(image, dir.join(&name)).unwrap();
            name
        })
        .collect()
}

#[test]
fn each_half_is_checked_at_the_threshold_calibrated_on_the_other() {
    let data = common::dataset(Texture::Grain, 64, 12, 8);
    let models = data.dir.path().join("models");
    fs::create_dir(&models).unwrap();
    let model = models.join("part.nfbmr");
    common::train_quietly(&data.train, &common::tiny_options(64, 1))
        .save(&model)
        .unwrap();
    let trained_bytes = fs::read(&model).unwrap();

    // Held-out frames on both halves, defective ones among them so that thresholds matter; one straddles.
    let part = data.dir.path().join("photos/part");
    let left = [&data.good[0..2], &data.defective[0..1]].concat();
    let right = [&data.good[2..4], &data.defective[1..2]].concat();
    let good = part.join("good");
    let (mut sides, mut names, mut first) = (String::new(), Vec::new(), 0);
    for (images, side) in [
        (&left, "left"),
        (&right, "right"),
        (&data.good[4..5].to_vec(), "middle"),
    ] {
        let side_names = frames(images, &good, first);
        first += images.len();
        sides.extend(side_names.iter().map(|name| format!("{name} {side}\n")));
        names.push(side_names);
    }
    fs::write(part.join("held-out-sides"), sides).unwrap();
    // Calibrated on views of the trained surface on the left, on defective frames on the right.
    frames(&data.train[0..6], &part.join("calibration-left"), 0);
    frames(&data.defective[2..8], &part.join("calibration-right"), 0);

    let report = data.dir.path().join("check.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/calibration_check.py");
    common::cli::stdout_of(
        Command::new("python3")
            .arg(script)
            .arg(data.dir.path().join("photos"))
            .arg(&models)
            .arg("--json")
            .arg(&report)
            .args(["--nfbmr", env!("CARGO_BIN_EXE_nfbmr")]),
    );
    assert_eq!(
        fs::read(&model).unwrap(),
        trained_bytes,
        "the model is unchanged"
    );

    let report: serde_json::Value = serde_json::from_slice(&fs::read(&report).unwrap()).unwrap();
    let material = &report["materials"][0];
    assert_eq!(material["material"], "part");
    assert_eq!(material["frames"], 6, "the straddling frame is left out");
    let trained_threshold = nfbmr::modelfile::read(&model)
        .unwrap()
        .config
        .thresholds
        .image;
    let (mut calibrated_thresholds, mut named) = (Vec::new(), 0);
    for fold in material["folds"].as_array().unwrap() {
        let (checked, checked_names) = if fold["calibrated-on"] == "left" {
            (&right, &names[1])
        } else {
            (&left, &names[0])
        };
        let scores = common::cli::raw_scores(&model, checked);
        for (key, expected_threshold) in [
            ("trained-threshold", Some(trained_threshold)),
            ("calibrated-threshold", None),
        ] {
            let threshold = fold[key][0].as_f64().unwrap();
            if let Some(expected) = expected_threshold {
                assert!(
                    (threshold - expected).abs() < 1e-9,
                    "{threshold} against {expected}"
                );
            }
            let flagged: Vec<&String> = checked_names
                .iter()
                .zip(&scores)
                .filter(|&(_, &score)| score >= threshold)
                .map(|(name, _)| name)
                .collect();
            assert_eq!(fold[key][1], flagged.len(), "{key} of {fold}");
            assert_eq!(fold[key][2], serde_json::json!(flagged), "{key} of {fold}");
            named += flagged.len();
        }
        calibrated_thresholds.push(fold["calibrated-threshold"][0].as_f64().unwrap());
    }
    assert_eq!(calibrated_thresholds.len(), 2);
    assert_ne!(calibrated_thresholds[0], calibrated_thresholds[1]);
    assert!(named > 0, "some frame is flagged and named");

    // Given both halves as two batches, calibrate finds the defective half above what the other allows,
    // and the other half within what it allows.
    let differing = material["halves-that-differ"].as_object().unwrap();
    assert_eq!(
        differing.keys().collect::<Vec<_>>(),
        ["right"],
        "{differing:?}"
    );
    let [flagged, frames, chance] = differing["right"].as_array().unwrap().as_slice() else {
        panic!("{differing:?}")
    };
    assert_eq!(frames, 6);
    assert!(flagged.as_u64().unwrap() >= 3, "{flagged}");
    assert!(chance.as_f64().unwrap() < 0.01, "{chance}");
}
