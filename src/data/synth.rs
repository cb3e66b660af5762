// SPDX-License-Identifier: MIT OR Apache-2.0
//! Procedural textures with defects and pixel-exact masks, in the spirit of DAGM 2007: every image of a
//! class is a fresh draw of the same stochastic texture under its own shift, orientation and lighting, so
//! normal images are never copies; defects range from faint to obvious. Seeded and deterministic.

use std::f32::consts::PI;

use image::GrayImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Texture classes, in class order (class 1 is `TEXTURES[0]`).
pub const TEXTURES: [Texture; 3] = [Texture::FineNoise, Texture::Grain, Texture::Fabric];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Texture {
    /// Isotropic fine-grained noise; defect: scratches.
    FineNoise,
    /// Oriented wood-like grain; defect: spots.
    Grain,
    /// Woven threads; defect: stains.
    Fabric,
}

/// One generated sample.
pub struct Sample {
    pub image: GrayImage,
    /// 255 where the defect is, 0 elsewhere; all zero for a good sample.
    pub mask: GrayImage,
}

/// Smooth random field in [0, 1]: bilinear interpolation of a random lattice with the given cell size.
fn value_noise(rng: &mut ChaCha8Rng, size: u32, cell: f32) -> Vec<f32> {
    let lattice = (size as f32 / cell).ceil() as usize + 2;
    let grid: Vec<f32> = (0..lattice * lattice).map(|_| rng.r#gen()).collect();
    let mut out = Vec::with_capacity((size * size) as usize);
    for y in 0..size {
        for x in 0..size {
            let (fx, fy) = (x as f32 / cell, y as f32 / cell);
            let (x0, y0) = (fx as usize, fy as usize);
            let (tx, ty) = (fx - x0 as f32, fy - y0 as f32);
            let at = |gx: usize, gy: usize| grid[gy * lattice + gx];
            let top = at(x0, y0) * (1.0 - tx) + at(x0 + 1, y0) * tx;
            let bottom = at(x0, y0 + 1) * (1.0 - tx) + at(x0 + 1, y0 + 1) * tx;
            out.push(top * (1.0 - ty) + bottom * ty);
        }
    }
    out
}

/// The defect-free texture in [0, 1], before lighting.
fn texture(kind: Texture, rng: &mut ChaCha8Rng, size: u32) -> Vec<f32> {
    let n = size as usize;
    match kind {
        Texture::FineNoise => {
            let fine = value_noise(rng, size, 2.0);
            let coarse = value_noise(rng, size, 16.0);
            fine.iter()
                .zip(&coarse)
                .map(|(f, c)| 0.25 + 0.35 * f + 0.2 * c)
                .collect()
        }
        Texture::Grain => {
            let angle = rng.gen_range(-0.15f32..0.15) + PI / 2.0;
            let period = rng.gen_range(9.0f32..12.0);
            let phase: f32 = rng.gen_range(0.0..2.0 * PI);
            let warp = value_noise(rng, size, 24.0);
            let fibre = value_noise(rng, size, 3.0);
            (0..n * n)
                .map(|i| {
                    let (x, y) = ((i % n) as f32, (i / n) as f32);
                    let u = x * angle.cos() + y * angle.sin();
                    let wave = (2.0 * PI * u / period + phase + 6.0 * warp[i]).sin();
                    0.45 + 0.2 * wave + 0.1 * fibre[i]
                })
                .collect()
        }
        Texture::Fabric => {
            let period = rng.gen_range(7.0f32..9.0);
            let (sx, sy): (f32, f32) = (rng.gen_range(0.0..period), rng.gen_range(0.0..period));
            let fuzz = value_noise(rng, size, 2.0);
            (0..n * n)
                .map(|i| {
                    let (x, y) = ((i % n) as f32 + sx, (i / n) as f32 + sy);
                    let warp = (2.0 * PI * x / period).sin();
                    let weft = (2.0 * PI * y / period).sin();
                    let over = if ((x / period) as i32 + (y / period) as i32) % 2 == 0 {
                        warp
                    } else {
                        weft
                    };
                    0.5 + 0.18 * over + 0.12 * fuzz[i]
                })
                .collect()
        }
    }
}

/// Paints the class's defect into `pixels` and marks it in `mask`.
fn add_defect(kind: Texture, rng: &mut ChaCha8Rng, size: u32, pixels: &mut [f32], mask: &mut [u8]) {
    let n = size as usize;
    let s = size as f32;
    // Low- and high-contrast defects, darker or brighter than the surface.
    let contrast = rng.gen_range(0.12f32..0.45) * if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
    let (cx, cy) = (
        rng.gen_range(0.2 * s..0.8 * s),
        rng.gen_range(0.2 * s..0.8 * s),
    );
    let mut paint = |inside: &dyn Fn(f32, f32) -> f32| {
        for i in 0..n * n {
            let weight = inside((i % n) as f32, (i / n) as f32);
            if weight > 0.0 {
                pixels[i] += contrast * weight;
                if weight >= 0.25 {
                    mask[i] = 255;
                }
            }
        }
    };
    match kind {
        Texture::FineNoise => {
            let angle = rng.gen_range(0.0..PI);
            let half_length = rng.gen_range(0.12 * s..0.3 * s);
            let width = rng.gen_range(1.0f32..2.5);
            let (dx, dy) = (angle.cos(), angle.sin());
            paint(&|x, y| {
                let (rx, ry) = (x - cx, y - cy);
                let along = rx * dx + ry * dy;
                let across = (-rx * dy + ry * dx).abs();
                if along.abs() <= half_length && across <= width {
                    1.0
                } else {
                    0.0
                }
            });
        }
        Texture::Grain => {
            let radius = rng.gen_range(0.03 * s..0.08 * s);
            paint(&|x, y| {
                let d = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt();
                if d <= radius { 1.0 } else { 0.0 }
            });
        }
        Texture::Fabric => {
            let (rx, ry) = (
                rng.gen_range(0.05 * s..0.12 * s),
                rng.gen_range(0.04 * s..0.1 * s),
            );
            paint(&|x, y| {
                let d = ((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2);
                if d <= 1.0 { 1.0 - 0.5 * d } else { 0.0 }
            });
        }
    }
}

/// Sample `index` of a class: the same (kind, seed, index, defective) always gives the same pixels.
pub fn sample(kind: Texture, seed: u64, index: u64, size: u32, defective: bool) -> Sample {
    let class = TEXTURES.iter().position(|&t| t == kind).unwrap_or(0) as u64;
    let stream = (class << 40) ^ (index << 1) ^ defective as u64;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut pixels = texture(kind, &mut rng, size);
    let mut mask = vec![0u8; pixels.len()];
    if defective {
        add_defect(kind, &mut rng, size, &mut pixels, &mut mask);
    }
    // Lighting: a gain and a gentle gradient in a random direction.
    let gain = rng.gen_range(0.85f32..1.15);
    let (gx, gy) = (rng.gen_range(-0.1f32..0.1), rng.gen_range(-0.1f32..0.1));
    let n = size as usize;
    let bytes: Vec<u8> = pixels
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let (x, y) = (
                (i % n) as f32 / size as f32 - 0.5,
                (i / n) as f32 / size as f32 - 0.5,
            );
            ((v * gain + gx * x + gy * y).clamp(0.0, 1.0) * 255.0).round() as u8
        })
        .collect();
    Sample {
        image: GrayImage::from_raw(size, size, bytes).expect("size matches"),
        mask: GrayImage::from_raw(size, size, mask).expect("size matches"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_deterministic_distinct_and_masked() {
        for kind in TEXTURES {
            let a = sample(kind, 7, 0, 64, true);
            let again = sample(kind, 7, 0, 64, true);
            assert_eq!(a.image, again.image, "{kind:?}");
            assert_eq!(a.mask, again.mask);
            assert!(
                a.mask.pixels().any(|p| p.0[0] == 255),
                "{kind:?} defect has a mask"
            );
            let good = sample(kind, 7, 1, 64, false);
            assert!(good.mask.pixels().all(|p| p.0[0] == 0));
            assert_ne!(good.image, sample(kind, 7, 2, 64, false).image, "no copies");
            assert_ne!(
                good.image,
                sample(kind, 8, 1, 64, false).image,
                "seed matters"
            );
        }
    }
}
