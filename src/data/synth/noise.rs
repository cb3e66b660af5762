// SPDX-License-Identifier: MIT OR Apache-2.0
//! Building blocks of the textures: value noise, placements, stripes, grids, dots and cells.

use std::f32::consts::PI;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A periodic lattice of random values, sampled with smooth interpolation: value noise.
pub(super) struct Lattice {
    side: usize,
    values: Vec<f32>,
}

impl Lattice {
    pub(super) fn new(rng: &mut ChaCha8Rng, side: usize) -> Self {
        Lattice {
            side,
            values: (0..side * side).map(|_| rng.r#gen()).collect(),
        }
    }

    /// Value in [0, 1] at lattice coordinates (x, y), wrapping around.
    pub(super) fn at(&self, x: f32, y: f32) -> f32 {
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
pub(super) struct Placement {
    shift: (f32, f32),
    angle: f32,
    centre: f32,
}

impl Placement {
    pub(super) fn new(rng: &mut ChaCha8Rng, size: u32, max_angle: f32) -> Self {
        Placement {
            shift: (rng.gen_range(0.0..1000.0), rng.gen_range(0.0..1000.0)),
            angle: rng.gen_range(-max_angle..=max_angle),
            centre: size as f32 / 2.0,
        }
    }

    /// Texture coordinates of pixel (x, y), rotated by the placement angle plus `extra` radians.
    pub(super) fn map(&self, x: f32, y: f32, extra: f32) -> (f32, f32) {
        let (s, c) = (self.angle + extra).sin_cos();
        let (dx, dy) = (x - self.centre, y - self.centre);
        (
            c * dx + s * dy + self.shift.0,
            -s * dx + c * dy + self.shift.1,
        )
    }
}

/// Fractal sum of value noise, in [0, 1]: octaves from `cell` pixels down, each half the size and weight.
pub(super) fn fbm(lattices: &[Lattice], u: f32, v: f32, cell: f32) -> f32 {
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
pub(super) fn stripe(u: f32, period: f32, phase: f32) -> f32 {
    (2.0 * PI * u / period + phase).sin()
}

/// Row-major pixels from a per-pixel function of the image coordinates.
pub(super) fn render(size: u32, pixel: impl Fn(f32, f32) -> f32) -> Vec<f32> {
    let n = size as usize;
    (0..n * n)
        .map(|i| pixel((i % n) as f32, (i / n) as f32))
        .collect()
}

/// Row-major pixels from a per-pixel function of the texture coordinates under a placement.
pub(super) fn render_placed(
    size: u32,
    place: &Placement,
    pixel: impl Fn(f32, f32) -> f32,
) -> Vec<f32> {
    render(size, |x, y| {
        let (u, v) = place.map(x, y, 0.0);
        pixel(u, v)
    })
}

/// Grid lines of `period` pixels and half-width `half_width` in texture coordinates: 1 on a line.
pub(super) fn on_line(u: f32, period: f32, half_width: f32) -> f32 {
    let offset = (u.rem_euclid(period) - period / 2.0).abs();
    (1.0 - (period / 2.0 - offset - half_width).max(0.0)).clamp(0.0, 1.0)
}

/// Random dots in a `size`×`size` layer: about one per `area` pixels, each ±`contrast`, of radii in `radii`.
pub(super) fn dots(
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
pub(super) fn voronoi(seeds: &Lattice, jitter: &Lattice, u: f32, v: f32, cell: f32) -> (f32, f32) {
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
