// SPDX-License-Identifier: MIT OR Apache-2.0
//! Tiny generated data and tiny, quickly trained models shared by the integration tests.
#![allow(dead_code)] // each test binary uses its own subset

pub mod cli;
mod tiny;

use std::path::{Path, PathBuf};

use nfbmr::data::synth::{self, Texture};
use nfbmr::train::TrainedModel;
pub use tiny::{tiny_options, train_quietly};

/// Generated images of one texture, written as PNG: `good` defect-free and `defective` with a defect.
pub struct Dataset {
    pub dir: tempfile::TempDir,
    pub train: Vec<PathBuf>,
    pub good: Vec<PathBuf>,
    pub defective: Vec<PathBuf>,
}

pub fn dataset(texture: Texture, size: u32, train: usize, test: usize) -> Dataset {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: String, defective: bool, index: u64| {
        let path = dir.path().join(name);
        synth::sample(texture, 11, index, size, defective)
            .image
            .save(&path)
            .unwrap();
        path
    };
    let train_images = (0..train)
        .map(|i| write(format!("train-{i:03}.png"), false, i as u64))
        .collect();
    let good = (0..test)
        .map(|i| write(format!("good-{i:03}.png"), false, (1000 + i) as u64))
        .collect();
    let defective = (0..test)
        .map(|i| write(format!("defect-{i:03}.png"), true, (2000 + i) as u64))
        .collect();
    Dataset {
        dir,
        train: train_images,
        good,
        defective,
    }
}

pub fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// A model that ran no epoch (its weights are the initialisation) at input size `image_size`, on three
/// generated 64×64 images:
/// enough for tests about files and shapes.
pub fn untrained_model(image_size: i64) -> (Dataset, TrainedModel) {
    let data = dataset(Texture::FineNoise, 64, 3, 0);
    let mut options = tiny_options(image_size, 0);
    options.hold_out = 0.0;
    let model = train_quietly(&data.train, &options);
    (data, model)
}
