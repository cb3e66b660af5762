// SPDX-License-Identifier: MIT OR Apache-2.0
//! The defect family of each class, painted into a texture with its mask.

use std::f32::consts::PI;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::Texture;
use super::noise::{Lattice, Placement, dots};
use super::textures::stripes_at;

/// The picture a defect is painted into, with its mask.
pub(super) struct Surface<'a> {
    pub size: u32,
    pub pixels: &'a mut [f32],
    pub mask: &'a mut [u8],
}

impl Surface<'_> {
    /// Where a defect is: `weight` in [0, 1] per pixel (1 = fully defective), and what the defect makes
    /// of a pixel at (x, y) of value `old`. Pixels of weight ≥ ¼ are masked, so a soft edge is labelled
    /// where it is visible.
    fn paint(
        &mut self,
        weight: impl Fn(f32, f32) -> f32,
        defect_value: impl Fn(f32, f32, f32) -> f32,
    ) {
        let n = self.size as usize;
        for i in 0..n * n {
            let (x, y) = ((i % n) as f32, (i / n) as f32);
            let w = weight(x, y);
            if w > 0.0 {
                self.pixels[i] =
                    self.pixels[i] * (1.0 - w) + defect_value(x, y, self.pixels[i]) * w;
                if w >= 0.25 {
                    self.mask[i] = 255;
                }
            }
        }
    }

    /// An additive defect, darker or brighter than the surface by `contrast`.
    fn shift(&mut self, weight: impl Fn(f32, f32) -> f32, contrast: f32) {
        self.paint(weight, move |_, _, old| old + contrast);
    }
}

/// Where a defect lies and which way it goes, drawn first for every class.
struct Placing {
    /// Side of the picture, pixels.
    s: f32,
    /// +1 or -1: brighter or darker than the surface.
    sign: f32,
    centre: (f32, f32),
}

/// (d / r)² of an ellipse around `centre` with semi-axes `rx`, `ry` turned by `angle`: below 1 inside.
pub(super) fn ellipse(
    centre: (f32, f32),
    rx: f32,
    ry: f32,
    angle: f32,
) -> impl Fn(f32, f32) -> f32 {
    let (sin, cos) = angle.sin_cos();
    move |x: f32, y: f32| {
        let (dx, dy) = (x - centre.0, y - centre.1);
        ((cos * dx + sin * dy) / rx).powi(2) + ((-sin * dx + cos * dy) / ry).powi(2)
    }
}

/// A randomly sized and turned ellipse around `centre`, its semi-axes drawn as fractions of `side`.
pub(super) fn random_ellipse(
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
pub(super) fn segment_distance(x: f32, y: f32, a: (f32, f32), b: (f32, f32)) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let t = (((x - a.0) * dx + (y - a.1) * dy) / (dx * dx + dy * dy).max(1e-6)).clamp(0.0, 1.0);
    ((x - a.0 - t * dx).powi(2) + (y - a.1 - t * dy).powi(2)).sqrt()
}

/// Weight of a line of half-width `half_width` along a polyline, with a one-pixel soft edge.
pub(super) fn polyline_weight(points: &[(f32, f32)], half_width: f32, x: f32, y: f32) -> f32 {
    let d = points
        .windows(2)
        .map(|s| segment_distance(x, y, s[0], s[1]))
        .fold(f32::MAX, f32::min);
    (1.0 + half_width - d).clamp(0.0, 1.0)
}

/// A random walk of `steps` points `step` pixels apart from `start`, its heading drifting by up to `turn`.
pub(super) fn walk(
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

/// Paints the class's defect into the surface and marks it in its mask.
pub(super) fn add_defect(kind: Texture, rng: &mut ChaCha8Rng, surface: &mut Surface) {
    let s = surface.size as f32;
    let sign = if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
    let centre = (
        rng.gen_range(0.2 * s..0.8 * s),
        rng.gen_range(0.2 * s..0.8 * s),
    );
    let at = Placing { s, sign, centre };
    match kind {
        Texture::FineNoise => scratch(rng, surface, &at),
        Texture::Grain => spot(rng, surface, &at),
        Texture::Fabric => stain(rng, surface, &at),
        Texture::Clouds => crack(rng, surface, &at),
        Texture::BrushedMetal => dent(rng, surface, &at),
        Texture::Speckle => clump(rng, surface, &at),
        Texture::Mesh => thread_break(rng, surface, &at),
        Texture::Cells => blob(rng, surface, &at),
        Texture::Stripes => misoriented_patch(rng, surface, &at),
        Texture::Paper => fold(rng, surface, &at),
    }
}

/// A thin scratch: a short polyline.
fn scratch(rng: &mut ChaCha8Rng, surface: &mut Surface, at: &Placing) {
    let contrast = at.sign * rng.gen_range(0.08f32..0.45);
    let half_width = rng.gen_range(0.5f32..1.5);
    let (segments, length) = (rng.gen_range(2..5), rng.gen_range(0.06 * at.s..0.14 * at.s));
    let points = walk(rng, at.centre, segments, length, 0.5);
    surface.shift(|x, y| polyline_weight(&points, half_width, x, y), contrast);
}

/// A round spot.
fn spot(rng: &mut ChaCha8Rng, surface: &mut Surface, at: &Placing) {
    let contrast = at.sign * rng.gen_range(0.12f32..0.45);
    let radius = rng.gen_range(0.03 * at.s..0.08 * at.s);
    let inside = ellipse(at.centre, radius, radius, 0.0);
    surface.shift(|x, y| (2.0 - 2.0 * inside(x, y)).clamp(0.0, 1.0), contrast);
}

/// A stain with a ragged edge.
fn stain(rng: &mut ChaCha8Rng, surface: &mut Surface, at: &Placing) {
    let contrast = at.sign * rng.gen_range(0.08f32..0.45);
    let inside = random_ellipse(rng, at.centre, at.s, 0.05..0.12, 0.04..0.1);
    let ragged = Lattice::new(rng, 64);
    let weight = |x: f32, y: f32| {
        (3.0 * (1.0 - inside(x, y)) + 1.5 * (ragged.at(x / 6.0, y / 6.0) - 0.5)).clamp(0.0, 1.0)
    };
    surface.shift(weight, contrast);
}

/// A crack: a thin dark random walk.
fn crack(rng: &mut ChaCha8Rng, surface: &mut Surface, at: &Placing) {
    let contrast = -rng.gen_range(0.08f32..0.5);
    let steps = rng.gen_range(30..90);
    let points = walk(rng, at.centre, steps, 2.0, 0.45);
    let half_width = rng.gen_range(0.3f32..1.2);
    surface.shift(|x, y| polyline_weight(&points, half_width, x, y), contrast);
}

/// A dent, lit on one side and shaded on the other.
fn dent(rng: &mut ChaCha8Rng, surface: &mut Surface, at: &Placing) {
    let contrast = rng.gen_range(0.05f32..0.35);
    let radius = rng.gen_range(0.04 * at.s..0.1 * at.s);
    let light = rng.gen_range(0.0..2.0 * PI);
    let (ls, lc) = light.sin_cos();
    let (cx, cy) = at.centre;
    let inside = ellipse(at.centre, radius, radius, 0.0);
    surface.paint(
        |x, y| (4.0 * (1.0 - inside(x, y))).clamp(0.0, 1.0),
        // The dent's slope facing the light is brighter, the other side darker.
        |x, y, old| old + contrast * ((x - cx) * lc + (y - cy) * ls) / radius,
    );
}

/// A clump of coarser grains, all darker or all brighter than the surface.
fn clump(rng: &mut ChaCha8Rng, surface: &mut Surface, at: &Placing) {
    let inside = random_ellipse(rng, at.centre, at.s, 0.04..0.1, 0.03..0.08);
    let density = rng.gen_range(6.0..12.0);
    let grains = dots(rng, surface.size, density, 0.4, 1.2..2.5);
    let (n, sign) = (surface.size as usize, at.sign);
    surface.paint(
        |x, y| (3.0 * (1.0 - inside(x, y))).clamp(0.0, 1.0),
        |x, y, old| old + sign * grains[y as usize * n + x as usize].abs(),
    );
}

/// A cut across the threads: a short band where they are missing.
fn thread_break(rng: &mut ChaCha8Rng, surface: &mut Surface, at: &Placing) {
    let (cx, cy) = at.centre;
    let length = rng.gen_range(0.05 * at.s..0.2 * at.s);
    let end = if rng.gen_bool(0.5) {
        (cx + length, cy)
    } else {
        (cx, cy + length)
    };
    let half_width = rng.gen_range(1.0f32..4.0);
    let grain = Lattice::new(rng, 256);
    surface.paint(
        |x, y| polyline_weight(&[at.centre, end], half_width, x, y),
        |x, y, _| 0.68 + 0.1 * (grain.at(x / 2.0, y / 2.0) - 0.5),
    );
}

/// A blob with a soft edge.
fn blob(rng: &mut ChaCha8Rng, surface: &mut Surface, at: &Placing) {
    let contrast = at.sign * rng.gen_range(0.18f32..0.45);
    let inside = random_ellipse(rng, at.centre, at.s, 0.04..0.1, 0.03..0.08);
    surface.shift(|x, y| (-inside(x, y).powi(2)).exp(), contrast);
}

/// A patch of stripes in another orientation.
fn misoriented_patch(rng: &mut ChaCha8Rng, surface: &mut Surface, at: &Placing) {
    let turn = at.sign * rng.gen_range(0.15f32..0.9);
    let inside = random_ellipse(rng, at.centre, at.s, 0.06..0.12, 0.05..0.1);
    let place = Placement::new(rng, surface.size, 0.0);
    let period = rng.gen_range(8.0f32..10.0);
    let jitter = Lattice::new(rng, 64);
    surface.paint(
        |x, y| (3.0 * (1.0 - inside(x, y))).clamp(0.0, 1.0),
        |x, y, _| stripes_at(&place, &jitter, period, x, y, turn),
    );
}

/// A long, low-contrast fold line.
fn fold(rng: &mut ChaCha8Rng, surface: &mut Surface, at: &Placing) {
    let (cx, cy) = at.centre;
    let contrast = at.sign * rng.gen_range(0.04f32..0.2);
    let angle = rng.gen_range(0.0..PI);
    let half_length = rng.gen_range(0.2 * at.s..0.35 * at.s);
    let (dx, dy) = (half_length * angle.cos(), half_length * angle.sin());
    let half_width = rng.gen_range(1.0f32..2.5);
    let fold = [(cx - dx, cy - dy), (cx + dx, cy + dy)];
    surface.shift(|x, y| polyline_weight(&fold, half_width, x, y), contrast);
}
