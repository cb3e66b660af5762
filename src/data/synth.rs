// SPDX-License-Identifier: MIT OR Apache-2.0
//! Procedural textures with defects and pixel-exact masks, in the spirit of DAGM 2007: ten classes, each
//! with its own texture model and defect family. Every image of a class is a fresh draw of the same
//! stochastic texture under its own shift, orientation and lighting, so normal images are never copies;
//! defects range from faint to obvious and are darker or brighter than the surface. Seeded and
//! deterministic.

use std::f32::consts::PI;

use image::GrayImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Texture classes, in class order (class 1 is `TEXTURES[0]`).
pub const TEXTURES: [Texture; 10] = [
    Texture::FineNoise,
    Texture::Grain,
    Texture::Fabric,
    Texture::Clouds,
    Texture::BrushedMetal,
    Texture::Speckle,
    Texture::Mesh,
    Texture::Cells,
    Texture::Stripes,
    Texture::Paper,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Texture {
    /// Isotropic band-pass noise; defect: a thin scratch (a polyline).
    FineNoise,
    /// Oriented wood-like grain; defect: a round spot.
    Grain,
    /// Woven threads; defect: a stain with a ragged edge.
    Fabric,
    /// Fractal clouds (fBm); defect: a crack (a thin dark random walk).
    Clouds,
    /// Streaks along one direction; defect: a dent, lit on one side and shaded on the other.
    BrushedMetal,
    /// Sand-like dots on a flat ground; defect: a clump of coarser grains.
    Speckle,
    /// A square grid of threads; defect: a thread break (a gap in one thread).
    Mesh,
    /// Voronoi cells like leather; defect: a blob with a soft edge.
    Cells,
    /// Oriented stripes with phase jitter; defect: a patch of stripes in another orientation.
    Stripes,
    /// Faint paper fibre under strong uneven lighting; defect: a long, low-contrast fold line.
    Paper,
}

/// One generated sample.
pub struct Sample {
    pub image: GrayImage,
    /// 255 where the defect is, 0 elsewhere; all zero for a good sample.
    pub mask: GrayImage,
}

/// A periodic lattice of random values, sampled with smooth interpolation: value noise.
struct Lattice {
    side: usize,
    values: Vec<f32>,
}

impl Lattice {
    fn new(rng: &mut ChaCha8Rng, side: usize) -> Self {
        Lattice {
            side,
            values: (0..side * side).map(|_| rng.r#gen()).collect(),
        }
    }

    /// Value in [0, 1] at lattice coordinates (x, y), wrapping around.
    fn at(&self, x: f32, y: f32) -> f32 {
        let smooth = |t: f32| t * t * (3.0 - 2.0 * t);
        let (x0, y0) = (x.floor(), y.floor());
        let (tx, ty) = (smooth(x - x0), smooth(y - y0));
        let wrap = |v: f32| (v as i64).rem_euclid(self.side as i64) as usize;
        let (x0, y0, x1, y1) = (wrap(x0), wrap(y0), wrap(x0 + 1.0), wrap(y0 + 1.0));
        let v = |x: usize, y: usize| self.values[y * self.side + x];
        let top = v(x0, y0) * (1.0 - tx) + v(x1, y0) * tx;
        let bottom = v(x0, y1) * (1.0 - tx) + v(x1, y1) * tx;
        top * (1.0 - ty) + bottom * ty
    }
}

/// Per-image placement of a texture: a random shift and a rotation around the image centre.
struct Placement {
    shift: (f32, f32),
    angle: f32,
    centre: f32,
}

impl Placement {
    fn new(rng: &mut ChaCha8Rng, size: u32, max_angle: f32) -> Self {
        Placement {
            shift: (rng.gen_range(0.0..1000.0), rng.gen_range(0.0..1000.0)),
            angle: rng.gen_range(-max_angle..=max_angle),
            centre: size as f32 / 2.0,
        }
    }

    /// Texture coordinates of pixel (x, y), rotated by the placement angle plus `extra` radians.
    fn map(&self, x: f32, y: f32, extra: f32) -> (f32, f32) {
        let (s, c) = (self.angle + extra).sin_cos();
        let (dx, dy) = (x - self.centre, y - self.centre);
        (
            c * dx + s * dy + self.shift.0,
            -s * dx + c * dy + self.shift.1,
        )
    }
}

/// Fractal sum of value noise, in [0, 1]: octaves from `cell` pixels down, each half the size and weight.
fn fbm(lattices: &[Lattice], u: f32, v: f32, cell: f32) -> f32 {
    let (mut total, mut weight, mut norm, mut scale) = (0.0, 1.0, 0.0, cell);
    for lattice in lattices {
        total += weight * lattice.at(u / scale, v / scale);
        norm += weight;
        weight *= 0.5;
        scale *= 0.5;
    }
    total / norm
}

/// Stripe profile in [-1, 1] along texture coordinate `u`.
fn stripe(u: f32, period: f32, phase: f32) -> f32 {
    (2.0 * PI * u / period + phase).sin()
}

/// Row-major pixels from a per-pixel function of the image coordinates.
fn render(size: u32, pixel: impl Fn(f32, f32) -> f32) -> Vec<f32> {
    let n = size as usize;
    (0..n * n)
        .map(|i| pixel((i % n) as f32, (i / n) as f32))
        .collect()
}

/// Row-major pixels from a per-pixel function of the texture coordinates under a placement.
fn render_placed(size: u32, place: &Placement, pixel: impl Fn(f32, f32) -> f32) -> Vec<f32> {
    render(size, |x, y| {
        let (u, v) = place.map(x, y, 0.0);
        pixel(u, v)
    })
}

/// Grid lines of `period` pixels and half-width `half_width` in texture coordinates: 1 on a line.
fn on_line(u: f32, period: f32, half_width: f32) -> f32 {
    let offset = (u.rem_euclid(period) - period / 2.0).abs();
    (1.0 - (period / 2.0 - offset - half_width).max(0.0)).clamp(0.0, 1.0)
}

/// Random dots in a `size`×`size` layer: about one per `area` pixels, each ±`contrast`, of radii in `radii`.
fn dots(
    rng: &mut ChaCha8Rng,
    size: u32,
    area: f32,
    contrast: f32,
    radii: std::ops::Range<f32>,
) -> Vec<f32> {
    let n = size as usize;
    let mut layer = vec![0f32; n * n];
    let count = (n * n) as f32 / area;
    for _ in 0..count as usize {
        let (cx, cy) = (rng.gen_range(0.0..n as f32), rng.gen_range(0.0..n as f32));
        let radius = rng.gen_range(radii.clone());
        let sign = if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
        let amplitude = sign * contrast * rng.gen_range(0.5f32..1.0);
        let reach = radius.ceil() as i64 + 1;
        for y in (cy as i64 - reach).max(0)..(cy as i64 + reach + 1).min(n as i64) {
            for x in (cx as i64 - reach).max(0)..(cx as i64 + reach + 1).min(n as i64) {
                let d2 = (x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2);
                layer[y as usize * n + x as usize] += amplitude * (-d2 / (radius * radius)).exp();
            }
        }
    }
    layer
}

/// Voronoi cells of about `cell` pixels: (random value of the nearest cell, distance to its border).
fn voronoi(seeds: &Lattice, jitter: &Lattice, u: f32, v: f32, cell: f32) -> (f32, f32) {
    let (gx, gy) = ((u / cell).floor(), (v / cell).floor());
    let (mut best, mut second, mut value) = (f32::MAX, f32::MAX, 0.0);
    for dy in -1..=1 {
        for dx in -1..=1 {
            let (cx, cy) = (gx + dx as f32, gy + dy as f32);
            // Lattice values at integer points are the raw random values: one point per cell.
            let px = (cx + seeds.at(cx, cy)) * cell;
            let py = (cy + jitter.at(cx, cy)) * cell;
            let d = ((u - px).powi(2) + (v - py).powi(2)).sqrt();
            if d < best {
                second = best;
                best = d;
                value = seeds.at(cy + 17.0, cx + 5.0);
            } else if d < second {
                second = d;
            }
        }
    }
    (value, (second - best) / 2.0)
}

/// The defect-free texture in [0, 1], before lighting.
fn texture(kind: Texture, rng: &mut ChaCha8Rng, size: u32) -> Vec<f32> {
    match kind {
        Texture::FineNoise => {
            let place = Placement::new(rng, size, PI);
            let (fine, coarse) = (Lattice::new(rng, 256), Lattice::new(rng, 64));
            render_placed(size, &place, |u, v| {
                0.25 + 0.35 * fine.at(u / 2.0, v / 2.0) + 0.2 * coarse.at(u / 16.0, v / 16.0)
            })
        }
        Texture::Grain => {
            let place = Placement::new(rng, size, 0.15);
            let period = rng.gen_range(9.0f32..12.0);
            let phase: f32 = rng.gen_range(0.0..2.0 * PI);
            let (warp, fibre) = (Lattice::new(rng, 32), Lattice::new(rng, 128));
            render_placed(size, &place, |u, v| {
                let wave = stripe(u, period, phase + 6.0 * warp.at(u / 24.0, v / 24.0));
                0.45 + 0.2 * wave + 0.1 * fibre.at(u / 3.0, v / 3.0)
            })
        }
        Texture::Fabric => {
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
        Texture::Clouds => {
            let place = Placement::new(rng, size, PI);
            let octaves: Vec<Lattice> = (0..5).map(|_| Lattice::new(rng, 64)).collect();
            render_placed(size, &place, |u, v| {
                0.5 + 0.9 * (fbm(&octaves, u, v, 48.0) - 0.5)
            })
        }
        Texture::BrushedMetal => {
            let place = Placement::new(rng, size, 0.04);
            let (streaks, fine) = (Lattice::new(rng, 256), Lattice::new(rng, 256));
            render_placed(size, &place, |u, v| {
                0.55 + 0.3 * (streaks.at(u / 90.0, v / 1.3) - 0.5)
                    + 0.08 * (fine.at(u / 1.5, v / 1.5) - 0.5)
            })
        }
        Texture::Speckle => {
            let ground = Lattice::new(rng, 64);
            let layer = dots(rng, size, 14.0, 0.35, 0.6..1.6);
            let place = Placement::new(rng, size, PI);
            let n = size as usize;
            render(size, |x, y| {
                let (u, v) = place.map(x, y, 0.0);
                0.5 + 0.08 * (ground.at(u / 20.0, v / 20.0) - 0.5)
                    + layer[y as usize * n + x as usize]
            })
        }
        Texture::Mesh => {
            let place = Placement::new(rng, size, 0.03);
            let period = rng.gen_range(13.0f32..15.0);
            let grain = Lattice::new(rng, 256);
            render_placed(size, &place, |u, v| {
                let thread = on_line(u, period, 1.2).max(on_line(v, period, 1.2));
                0.68 - 0.32 * thread + 0.1 * (grain.at(u / 2.0, v / 2.0) - 0.5)
            })
        }
        Texture::Cells => {
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
        Texture::Stripes => {
            let place = Placement::new(rng, size, 0.08);
            let period = rng.gen_range(8.0f32..10.0);
            let jitter = Lattice::new(rng, 64);
            render(size, |x, y| stripes_at(&place, &jitter, period, x, y, 0.0))
        }
        Texture::Paper => {
            let place = Placement::new(rng, size, PI);
            let octaves: Vec<Lattice> = (0..4).map(|_| Lattice::new(rng, 256)).collect();
            let fibres = Lattice::new(rng, 256);
            render_placed(size, &place, |u, v| {
                0.62 + 0.12 * (fbm(&octaves, u, v, 24.0) - 0.5)
                    + 0.08 * (fibres.at(u / 6.0, v / 0.8) - 0.5)
            })
        }
    }
}

/// The Stripes texture at pixel (x, y), its stripes turned by `extra` radians.
fn stripes_at(place: &Placement, jitter: &Lattice, period: f32, x: f32, y: f32, extra: f32) -> f32 {
    let (u, v) = place.map(x, y, PI / 6.0 + extra);
    0.5 + 0.22 * stripe(u, period, 2.5 * jitter.at(u / 40.0, v / 40.0))
}

/// Where a defect is: `weight` in [0, 1] per pixel (1 = fully defective). Pixels of weight ≥ ¼ are masked,
/// so a soft edge is labelled where it is visible.
fn apply(
    size: u32,
    pixels: &mut [f32],
    mask: &mut [u8],
    weight: impl Fn(f32, f32) -> f32,
    defect_value: impl Fn(f32, f32, f32) -> f32,
) {
    let n = size as usize;
    for i in 0..n * n {
        let (x, y) = ((i % n) as f32, (i / n) as f32);
        let w = weight(x, y);
        if w > 0.0 {
            pixels[i] = pixels[i] * (1.0 - w) + defect_value(x, y, pixels[i]) * w;
            if w >= 0.25 {
                mask[i] = 255;
            }
        }
    }
}

/// (d / r)² of an ellipse around `centre` with semi-axes `rx`, `ry` turned by `angle`: below 1 inside.
fn ellipse(centre: (f32, f32), rx: f32, ry: f32, angle: f32) -> impl Fn(f32, f32) -> f32 {
    let (sin, cos) = angle.sin_cos();
    move |x: f32, y: f32| {
        let (dx, dy) = (x - centre.0, y - centre.1);
        ((cos * dx + sin * dy) / rx).powi(2) + ((-sin * dx + cos * dy) / ry).powi(2)
    }
}

/// A randomly sized and turned ellipse around `centre`, its semi-axes drawn as fractions of `side`.
fn random_ellipse(
    rng: &mut ChaCha8Rng,
    centre: (f32, f32),
    side: f32,
    rx: std::ops::Range<f32>,
    ry: std::ops::Range<f32>,
) -> impl Fn(f32, f32) -> f32 + use<> {
    let rx = rng.gen_range(rx.start * side..rx.end * side);
    let ry = rng.gen_range(ry.start * side..ry.end * side);
    ellipse(centre, rx, ry, rng.gen_range(0.0..PI))
}

/// Distance from (x, y) to the segment a–b.
fn segment_distance(x: f32, y: f32, a: (f32, f32), b: (f32, f32)) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let t = (((x - a.0) * dx + (y - a.1) * dy) / (dx * dx + dy * dy).max(1e-6)).clamp(0.0, 1.0);
    ((x - a.0 - t * dx).powi(2) + (y - a.1 - t * dy).powi(2)).sqrt()
}

/// Weight of a line of half-width `half_width` along a polyline, with a one-pixel soft edge.
fn polyline_weight(points: &[(f32, f32)], half_width: f32, x: f32, y: f32) -> f32 {
    let d = points
        .windows(2)
        .map(|s| segment_distance(x, y, s[0], s[1]))
        .fold(f32::MAX, f32::min);
    (1.0 + half_width - d).clamp(0.0, 1.0)
}

/// A random walk of `steps` points `step` pixels apart from `start`, its heading drifting by up to `turn`.
fn walk(
    rng: &mut ChaCha8Rng,
    start: (f32, f32),
    steps: usize,
    step: f32,
    turn: f32,
) -> Vec<(f32, f32)> {
    let mut heading = rng.gen_range(0.0..2.0 * PI);
    let mut points = vec![start];
    for _ in 0..steps {
        heading += rng.gen_range(-turn..=turn);
        let (x, y) = *points.last().expect("starts with one point");
        points.push((x + step * heading.cos(), y + step * heading.sin()));
    }
    points
}

/// Paints the class's defect into `pixels` and marks it in `mask`.
fn add_defect(kind: Texture, rng: &mut ChaCha8Rng, size: u32, pixels: &mut [f32], mask: &mut [u8]) {
    let s = size as f32;
    let sign = if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
    let centre = (
        rng.gen_range(0.2 * s..0.8 * s),
        rng.gen_range(0.2 * s..0.8 * s),
    );
    let (cx, cy) = centre;
    // Additive defects: low- to high-contrast, darker or brighter than the surface.
    let shift = |contrast: f32| move |_: f32, _: f32, old: f32| old + contrast;
    match kind {
        Texture::FineNoise => {
            let contrast = sign * rng.gen_range(0.08f32..0.45);
            let half_width = rng.gen_range(0.5f32..1.5);
            let (segments, length) = (rng.gen_range(2..5), rng.gen_range(0.06 * s..0.14 * s));
            let points = walk(rng, centre, segments, length, 0.5);
            apply(
                size,
                pixels,
                mask,
                |x, y| polyline_weight(&points, half_width, x, y),
                shift(contrast),
            );
        }
        Texture::Grain => {
            let contrast = sign * rng.gen_range(0.12f32..0.45);
            let radius = rng.gen_range(0.03 * s..0.08 * s);
            let inside = ellipse(centre, radius, radius, 0.0);
            apply(
                size,
                pixels,
                mask,
                |x, y| (2.0 - 2.0 * inside(x, y)).clamp(0.0, 1.0),
                shift(contrast),
            );
        }
        Texture::Fabric => {
            let contrast = sign * rng.gen_range(0.08f32..0.45);
            let inside = random_ellipse(rng, centre, s, 0.05..0.12, 0.04..0.1);
            let ragged = Lattice::new(rng, 64);
            apply(
                size,
                pixels,
                mask,
                |x, y| {
                    (3.0 * (1.0 - inside(x, y)) + 1.5 * (ragged.at(x / 6.0, y / 6.0) - 0.5))
                        .clamp(0.0, 1.0)
                },
                shift(contrast),
            );
        }
        Texture::Clouds => {
            let contrast = -rng.gen_range(0.08f32..0.5);
            let steps = rng.gen_range(30..90);
            let points = walk(rng, centre, steps, 2.0, 0.45);
            let half_width = rng.gen_range(0.3f32..1.2);
            apply(
                size,
                pixels,
                mask,
                |x, y| polyline_weight(&points, half_width, x, y),
                shift(contrast),
            );
        }
        Texture::BrushedMetal => {
            let contrast = rng.gen_range(0.05f32..0.35);
            let radius = rng.gen_range(0.04 * s..0.1 * s);
            let light = rng.gen_range(0.0..2.0 * PI);
            let (ls, lc) = light.sin_cos();
            let inside = ellipse(centre, radius, radius, 0.0);
            apply(
                size,
                pixels,
                mask,
                |x, y| (4.0 * (1.0 - inside(x, y))).clamp(0.0, 1.0),
                // The dent's slope facing the light is brighter, the other side darker.
                |x, y, old| old + contrast * ((x - cx) * lc + (y - cy) * ls) / radius,
            );
        }
        Texture::Speckle => {
            // A clump of coarser grains, all darker or all brighter than the surface.
            let inside = random_ellipse(rng, centre, s, 0.04..0.1, 0.03..0.08);
            let density = rng.gen_range(6.0..12.0);
            let grains = dots(rng, size, density, 0.4, 1.2..2.5);
            let n = size as usize;
            apply(
                size,
                pixels,
                mask,
                |x, y| (3.0 * (1.0 - inside(x, y))).clamp(0.0, 1.0),
                |x, y, old| old + sign * grains[y as usize * n + x as usize].abs(),
            );
        }
        Texture::Mesh => {
            // A cut across the threads: a short band where they are missing.
            let length = rng.gen_range(0.05 * s..0.2 * s);
            let end = if rng.gen_bool(0.5) {
                (cx + length, cy)
            } else {
                (cx, cy + length)
            };
            let half_width = rng.gen_range(1.0f32..4.0);
            let grain = Lattice::new(rng, 256);
            apply(
                size,
                pixels,
                mask,
                |x, y| polyline_weight(&[centre, end], half_width, x, y),
                |x, y, _| 0.68 + 0.1 * (grain.at(x / 2.0, y / 2.0) - 0.5),
            );
        }
        Texture::Cells => {
            let contrast = sign * rng.gen_range(0.18f32..0.45);
            let inside = random_ellipse(rng, centre, s, 0.04..0.1, 0.03..0.08);
            apply(
                size,
                pixels,
                mask,
                |x, y| (-inside(x, y).powi(2)).exp(),
                shift(contrast),
            );
        }
        Texture::Stripes => {
            let turn = sign * rng.gen_range(0.15f32..0.9);
            let inside = random_ellipse(rng, centre, s, 0.06..0.12, 0.05..0.1);
            let place = Placement::new(rng, size, 0.0);
            let period = rng.gen_range(8.0f32..10.0);
            let jitter = Lattice::new(rng, 64);
            apply(
                size,
                pixels,
                mask,
                |x, y| (3.0 * (1.0 - inside(x, y))).clamp(0.0, 1.0),
                |x, y, _| stripes_at(&place, &jitter, period, x, y, turn),
            );
        }
        Texture::Paper => {
            let contrast = sign * rng.gen_range(0.04f32..0.2);
            let angle = rng.gen_range(0.0..PI);
            let half_length = rng.gen_range(0.2 * s..0.35 * s);
            let (dx, dy) = (half_length * angle.cos(), half_length * angle.sin());
            let half_width = rng.gen_range(1.0f32..2.5);
            let fold = [(cx - dx, cy - dy), (cx + dx, cy + dy)];
            apply(
                size,
                pixels,
                mask,
                |x, y| polyline_weight(&fold, half_width, x, y),
                shift(contrast),
            );
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
    // Lighting: a gain and a gradient in a random direction; Paper is lit unevenly on purpose.
    let uneven = if kind == Texture::Paper { 0.3 } else { 0.1 };
    let gain = rng.gen_range(0.85f32..1.15);
    let (gx, gy) = (
        rng.gen_range(-uneven..uneven),
        rng.gen_range(-uneven..uneven),
    );
    let bytes: Vec<u8> = render(size, |x, y| {
        let i = y as usize * size as usize + x as usize;
        let (x, y) = (x / size as f32 - 0.5, y / size as f32 - 0.5);
        ((pixels[i] * gain + gx * x + gy * y).clamp(0.0, 1.0) * 255.0).round()
    })
    .into_iter()
    .map(|v| v as u8)
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
