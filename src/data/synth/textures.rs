// SPDX-License-Identifier: MIT OR Apache-2.0
//! The defect-free texture of each class.

use std::f32::consts::PI;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::Texture;
use super::noise::{
    Lattice, Placement, dots, fbm, on_line, render, render_placed, stripe, voronoi,
};

/// The defect-free texture in [0, 1], before lighting.
pub(super) fn texture(kind: Texture, rng: &mut ChaCha8Rng, size: u32) -> Vec<f32> {
    match kind {
        Texture::FineNoise => fine_noise(rng, size),
        Texture::Grain => grain(rng, size),
        Texture::Fabric => fabric(rng, size),
        Texture::Clouds => clouds(rng, size),
        Texture::BrushedMetal => brushed_metal(rng, size),
        Texture::Speckle => speckle(rng, size),
        Texture::Mesh => mesh(rng, size),
        Texture::Cells => cells(rng, size),
        Texture::Stripes => stripes(rng, size),
        Texture::Paper => paper(rng, size),
    }
}

/// Isotropic band-pass noise.
fn fine_noise(rng: &mut ChaCha8Rng, size: u32) -> Vec<f32> {
    let place = Placement::new(rng, size, PI);
    let (fine, coarse) = (Lattice::new(rng, 256), Lattice::new(rng, 64));
    render_placed(size, &place, |u, v| {
        0.25 + 0.35 * fine.at(u / 2.0, v / 2.0) + 0.2 * coarse.at(u / 16.0, v / 16.0)
    })
}

/// Oriented wood-like grain.
fn grain(rng: &mut ChaCha8Rng, size: u32) -> Vec<f32> {
    let place = Placement::new(rng, size, 0.15);
    let period = rng.gen_range(9.0f32..12.0);
    let phase: f32 = rng.gen_range(0.0..2.0 * PI);
    let (warp, fibre) = (Lattice::new(rng, 32), Lattice::new(rng, 128));
    render_placed(size, &place, |u, v| {
        let wave = stripe(u, period, phase + 6.0 * warp.at(u / 24.0, v / 24.0));
        0.45 + 0.2 * wave + 0.1 * fibre.at(u / 3.0, v / 3.0)
    })
}

/// Woven threads.
fn fabric(rng: &mut ChaCha8Rng, size: u32) -> Vec<f32> {
    let place = Placement::new(rng, size, 0.05);
    let period = rng.gen_range(7.0f32..9.0);
    let fuzz = Lattice::new(rng, 256);
    render_placed(size, &place, |u, v| {
        let over = if ((u / period).floor() + (v / period).floor()) as i64 % 2 == 0 {
            stripe(u, period, 0.0)
        } else {
            stripe(v, period, 0.0)
        };
        0.5 + 0.18 * over + 0.12 * fuzz.at(u / 2.0, v / 2.0)
    })
}

/// Fractal clouds (fBm).
fn clouds(rng: &mut ChaCha8Rng, size: u32) -> Vec<f32> {
    let place = Placement::new(rng, size, PI);
    let octaves: Vec<Lattice> = (0..5).map(|_| Lattice::new(rng, 64)).collect();
    render_placed(size, &place, |u, v| {
        0.5 + 0.9 * (fbm(&octaves, u, v, 48.0) - 0.5)
    })
}

/// Streaks along one direction.
fn brushed_metal(rng: &mut ChaCha8Rng, size: u32) -> Vec<f32> {
    let place = Placement::new(rng, size, 0.04);
    let (streaks, fine) = (Lattice::new(rng, 256), Lattice::new(rng, 256));
    render_placed(size, &place, |u, v| {
        0.55 + 0.3 * (streaks.at(u / 90.0, v / 1.3) - 0.5)
            + 0.08 * (fine.at(u / 1.5, v / 1.5) - 0.5)
    })
}

/// Sand-like dots on a flat ground.
fn speckle(rng: &mut ChaCha8Rng, size: u32) -> Vec<f32> {
    let ground = Lattice::new(rng, 64);
    let layer = dots(rng, size, 14.0, 0.35, 0.6..1.6);
    let place = Placement::new(rng, size, PI);
    let n = size as usize;
    render(size, |x, y| {
        let (u, v) = place.map(x, y, 0.0);
        0.5 + 0.08 * (ground.at(u / 20.0, v / 20.0) - 0.5) + layer[y as usize * n + x as usize]
    })
}

/// A square grid of threads.
fn mesh(rng: &mut ChaCha8Rng, size: u32) -> Vec<f32> {
    let place = Placement::new(rng, size, 0.03);
    let period = rng.gen_range(13.0f32..15.0);
    let grain = Lattice::new(rng, 256);
    render_placed(size, &place, |u, v| {
        let thread = on_line(u, period, 1.2).max(on_line(v, period, 1.2));
        0.68 - 0.32 * thread + 0.1 * (grain.at(u / 2.0, v / 2.0) - 0.5)
    })
}

/// Voronoi cells like leather.
fn cells(rng: &mut ChaCha8Rng, size: u32) -> Vec<f32> {
    let place = Placement::new(rng, size, PI);
    let (seeds, jitter, pores) = (
        Lattice::new(rng, 128),
        Lattice::new(rng, 128),
        Lattice::new(rng, 256),
    );
    render_placed(size, &place, |u, v| {
        let (value, border) = voronoi(&seeds, &jitter, u, v, 16.0);
        let groove = (-border * border / 3.0).exp();
        0.5 + 0.16 * (value - 0.5) - 0.28 * groove + 0.08 * (pores.at(u, v) - 0.5)
    })
}

/// Oriented stripes with phase jitter.
fn stripes(rng: &mut ChaCha8Rng, size: u32) -> Vec<f32> {
    let place = Placement::new(rng, size, 0.08);
    let period = rng.gen_range(8.0f32..10.0);
    let jitter = Lattice::new(rng, 64);
    render(size, |x, y| stripes_at(&place, &jitter, period, x, y, 0.0))
}

/// Faint paper fibre.
fn paper(rng: &mut ChaCha8Rng, size: u32) -> Vec<f32> {
    let place = Placement::new(rng, size, PI);
    let octaves: Vec<Lattice> = (0..4).map(|_| Lattice::new(rng, 256)).collect();
    let fibres = Lattice::new(rng, 256);
    render_placed(size, &place, |u, v| {
        0.62 + 0.12 * (fbm(&octaves, u, v, 24.0) - 0.5) + 0.08 * (fibres.at(u / 6.0, v / 0.8) - 0.5)
    })
}

/// The Stripes texture at pixel (x, y), its stripes turned by `extra` radians.
pub(super) fn stripes_at(
    place: &Placement,
    jitter: &Lattice,
    period: f32,
    x: f32,
    y: f32,
    extra: f32,
) -> f32 {
    let (u, v) = place.map(x, y, PI / 6.0 + extra);
    0.5 + 0.22 * stripe(u, period, 2.5 * jitter.at(u / 40.0, v / 40.0))
}
