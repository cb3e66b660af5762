// SPDX-License-Identifier: MIT OR Apache-2.0
//! Tiny generated data and tiny, quickly trained models shared by the integration tests.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};

use nfbmr::data::synth::{self, Texture};
use nfbmr::model::backbone;
use nfbmr::train::{self, BackboneChoice, TrainOptions, TrainedModel};
use nfbmr::{DeviceSpec, weights};

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

pub fn lite0() -> BackboneChoice {
    BackboneChoice::EfficientNetLite0 {
        weights: weights::backbone_weights(backbone::EFFICIENTNET_LITE0).unwrap(),
        taps: backbone::DEFAULT_LITE0_TAPS.to_vec(),
    }
}

/// Small, fast settings on the CPU.
pub fn tiny_options(image_size: i64, epochs: usize) -> TrainOptions {
    let mut options = TrainOptions::new(lite0());
    options.image_size = image_size;
    options.flow_epochs = epochs;
    options.mapper_epochs = epochs;
    options.batch_size = 8;
    options.blur_sigma = 2.0;
    options.device = DeviceSpec::Cpu;
    options.seed = 7;
    options
}

pub fn train_quietly(images: &[PathBuf], options: &TrainOptions) -> TrainedModel {
    train::train(images, options, &mut |_| {}).unwrap()
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
