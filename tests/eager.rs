// SPDX-License-Identifier: MIT OR Apache-2.0
//! The native detector against the PyTorch eager reference (`scripts/eager_reference.py`, run by the
//! set-up venv's Python) on the same model file: the fused maps agree within 1e-4 of their peak, although
//! the native one folds BatchNorm, batches, normalises with prepared constants and blurs as matrix
//! products. On Lite0 without feature pooling and on Lite2, whose blocks and widths differ, with it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use nfbmr::data::synth::Texture;
use nfbmr::frame;
use nfbmr::model::backbone::Lite;
use nfbmr::train::BackboneChoice;
use nfbmr::{CodePolicy, Detector, DeviceSpec};

/// The set-up venv's Python (scripts/env.sh: `NFBMR_VENV`, by default `.venv` in the checkout).
fn python() -> PathBuf {
    let venv = std::env::var_os("NFBMR_VENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv"),
        PathBuf::from,
    );
    venv.join("bin").join("python")
}

#[test]
fn the_detector_agrees_with_the_pytorch_eager_reference() {
    let data = common::dataset(Texture::FineNoise, 64, 6, 1);
    for (lite, feature_pooling) in [(Lite::Lite0, 1), (Lite::Lite2, 3)] {
        let mut options = common::tiny_options(64, 2);
        options.backbone = BackboneChoice::lite(lite);
        options.feature_pooling = feature_pooling;
        let model = common::train_quietly(&data.train, &options);
        let path = data.dir.path().join(format!("{}.nfbmr", lite.id()));
        model.save(&path).unwrap();
        for image in [&data.good[0], &data.defective[0]] {
            assert_agrees(&path, image);
        }
    }
}

/// The native and the eager fused maps of `image` agree within 1e-4 of the peak.
fn assert_agrees(model: &Path, image: &Path) {
    let detector = Detector::load(model, DeviceSpec::Cpu, CodePolicy::Refuse).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/eager_reference.py");
    let map_file = model.with_extension("f32");
    let output = Command::new(python())
        .arg(&script)
        .arg(model)
        .arg("--image")
        .arg(image)
        .arg("--map")
        .arg(&map_file)
        .output()
        .expect("the set-up venv's Python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let eager: Vec<f32> = std::fs::read(&map_file)
        .unwrap()
        .chunks_exact(4)
        .map(|bytes| f32::from_le_bytes(bytes.try_into().unwrap()))
        .collect();
    let picture = frame::load_rgb(image).unwrap();
    let native = detector.infer(&frame::rgb_frame(&picture)).unwrap().map;
    assert_eq!(native.values.len(), eager.len());
    let peak = native.max();
    let difference = native
        .values
        .iter()
        .zip(&eager)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        difference <= 1e-4 * peak,
        "{} on {}: largest difference {difference} against a peak of {peak}",
        model.display(),
        image.display()
    );
}
