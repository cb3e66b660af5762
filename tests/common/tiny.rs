// SPDX-License-Identifier: MIT OR Apache-2.0
//! Tiny models trained in seconds on the CPU: the set-up shared by the core's tests and the plugin's
//! (plugin/tests includes this file), so that both train alike.

use std::path::{Path, PathBuf};

use nfbmr::DeviceSpec;
use nfbmr::train::{self, TrainOptions, TrainedModel};

/// Small, fast settings on the CPU.
pub fn tiny_options(image_size: i64, epochs: usize) -> TrainOptions {
    TrainOptions {
        image_size,
        flow_epochs: epochs,
        mapper_epochs: epochs,
        batch_size: 8,
        blur_sigma: 2.0,
        // At 64–128 px the coarsest maps are 4×4 to 8×8, where a 3×3 window averages most of the map.
        feature_pooling: 1,
        device: DeviceSpec::Cpu,
        seed: 7,
        ..TrainOptions::default()
    }
}

pub fn train_quietly(images: &[PathBuf], options: &TrainOptions) -> TrainedModel {
    train::train(images, options, &mut |_| {}).unwrap()
}

/// `count` different grey `size`×`size` textures (value noise of a seeded hash, with fine grain on top)
/// written as PNG into `dir`. Made without the `synth` feature, which the plugin builds without.
pub fn textured_images(dir: &Path, count: usize, size: u32, seed: u64) -> Vec<PathBuf> {
    (0..count as u64)
        .map(|index| {
            let hash = |x: i64, y: i64| {
                // splitmix64 of the lattice point, the image and the seed.
                let mut z = (x as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    ^ (y as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
                    ^ (seed << 32 | index).wrapping_mul(0x1656_67B1_9E37_79F9);
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
            };
            let smooth = |x: f32, y: f32| {
                let (x0, y0) = (x.floor(), y.floor());
                let (tx, ty) = (x - x0, y - y0);
                let (x0, y0) = (x0 as i64, y0 as i64);
                let top = hash(x0, y0) * (1.0 - tx) + hash(x0 + 1, y0) * tx;
                let bottom = hash(x0, y0 + 1) * (1.0 - tx) + hash(x0 + 1, y0 + 1) * tx;
                top * (1.0 - ty) + bottom * ty
            };
            let image = image::GrayImage::from_fn(size, size, |x, y| {
                let (x, y) = (x as f32, y as f32);
                let value = 0.6 * smooth(x / 8.0, y / 8.0) + 0.4 * hash(x as i64, y as i64 + 7919);
                image::Luma([(value * 255.0) as u8])
            });
            let path = dir.join(format!("texture-{seed}-{index:03}.png"));
            image.save(&path).unwrap();
            path
        })
        .collect()
}
