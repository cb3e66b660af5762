// SPDX-License-Identifier: MIT OR Apache-2.0
//! The last step into the model: resizing with antialiasing and per-channel normalisation, with the
//! constants prepared once on the device.

use tch::{Device, Tensor};

/// Resizing and per-channel normalisation into the model's input, with its constants on the device.
#[derive(Debug)]
pub struct Normaliser {
    size: i64,
    /// 1 / (255 std) and −mean / std, [1, 3, 1, 1].
    scale: Tensor,
    offset: Tensor,
}

impl Normaliser {
    pub fn new(size: i64, mean: [f64; 3], std: [f64; 3], device: Device) -> Self {
        let constant = |values: [f64; 3]| {
            Tensor::from_slice(&values.map(|v| v as f32))
                .view([1, 3, 1, 1])
                .to_device(device)
        };
        Normaliser {
            size,
            scale: constant([0, 1, 2].map(|c| 1.0 / (255.0 * std[c]))),
            offset: constant([0, 1, 2].map(|c| -mean[c] / std[c])),
        }
    }

    /// Model input [B, 3, S, S] from R'G'B' [B, 3, H, W] in 0–255 (float), resized with antialiasing.
    pub fn apply(&self, rgb: &Tensor) -> Tensor {
        let size = self.size;
        let resized = if rgb.size()[2..] == [size, size] {
            rgb.shallow_clone()
        } else {
            rgb.internal_upsample_bilinear2d_aa([size, size], false, None, None)
        };
        resized * &self.scale + &self.offset
    }
}

/// Model input [B, 3, size, size] from R'G'B' [B, 3, H, W] in 0–255: a one-off [`Normaliser`].
pub fn normalise(rgb: &Tensor, size: i64, mean: [f64; 3], std: [f64; 3]) -> Tensor {
    Normaliser::new(size, mean, std, rgb.device()).apply(rgb)
}
