// SPDX-License-Identifier: MIT OR Apache-2.0
//! The defects rendered onto photographs. Each works on the photograph's own pixels (multiplied, warped,
//! smeared or covered), so the picture's lighting carries over; where one removes fine detail, the canvas
//! puts the same grain back. Sizes are fractions of the shorter side, widths in units of a 256-pixel side.

use std::f32::consts::PI;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::canvas::{Bounds, Canvas, Photo, Stroke, gaussian};
use crate::data::synth::defects::{ellipse, polyline_weight, walk};
use crate::data::synth::noise::Lattice;

/// What a defect is drawn on: the canvas, and the photograph smoothed to its lighting.
pub(super) struct Scene<'a, 'b> {
    pub canvas: &'b mut Canvas<'a>,
    pub smooth: &'b Photo,
}

impl Scene<'_, '_> {
    fn side(&self) -> f32 {
        self.canvas.original.side()
    }

    /// One width unit: a pixel of a 256-pixel picture.
    fn unit(&self) -> f32 {
        (self.side() / 256.0).max(1.0)
    }

    /// A point at least an eighth of the shorter side from every edge.
    fn centre(&self, rng: &mut ChaCha8Rng) -> (f32, f32) {
        let photo = self.canvas.original;
        let margin = self.side() / 8.0;
        let within = |rng: &mut ChaCha8Rng, length: usize| {
            rng.gen_range(margin..(length as f32 - margin).max(margin + 1.0))
        };
        (within(rng, photo.width), within(rng, photo.height))
    }
}

/// Multiplies a pixel by per-channel gains.
fn times(pixel: [f32; 3], gains: [f32; 3]) -> [f32; 3] {
    std::array::from_fn(|k| pixel[k] * gains[k])
}

/// Per-channel gains at a `magnitude` drawn from the range from 1 in a random colour direction (brightness alone on a grey
/// photograph, where a change of hue would vanish).
fn tint(rng: &mut ChaCha8Rng, grey: bool, magnitude: std::ops::Range<f32>) -> [f32; 3] {
    let magnitude = rng.gen_range(magnitude);
    if grey {
        let sign = if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
        return [1.0 + sign * magnitude; 3];
    }
    let direction: [f32; 3] = std::array::from_fn(|_| gaussian(rng));
    let norm = direction
        .iter()
        .map(|d| d * d)
        .sum::<f32>()
        .sqrt()
        .max(1e-6);
    direction.map(|d| 1.0 + magnitude * d / norm)
}

/// An irregular blob of mean radius `radius`, stretched by a factor drawn from `elongation`: its distance function is 1 at the edge, below inside.
fn blob(
    rng: &mut ChaCha8Rng,
    centre: (f32, f32),
    radius: f32,
    elongation: std::ops::Range<f32>,
    wobble: f32,
) -> impl Fn(f32, f32) -> f32 + use<> {
    let elongation = rng.gen_range(elongation);
    let shape = ellipse(
        centre,
        radius * elongation.sqrt(),
        radius / elongation.sqrt(),
        rng.gen_range(0.0..PI),
    );
    let lattice = Lattice::new(rng, 8);
    let cell = radius * 0.6;
    move |x, y| shape(x, y).sqrt() + wobble * 2.0 * (lattice.at(x / cell, y / cell) - 0.5)
}

/// Weight of a soft edge `soft` pixels wide at distance function `d` (1 at the edge) of a shape of
/// `radius`: ½ on the edge.
fn edge(d: f32, radius: f32, soft: f32) -> f32 {
    ((1.0 - d) * radius / soft + 0.5).clamp(0.0, 1.0)
}

/// A bead of glue: the texture under it filled in, tinted, a darker rim and a glossy highlight.
pub(super) fn glue(rng: &mut ChaCha8Rng, scene: &mut Scene) {
    let centre = scene.centre(rng);
    let radius = rng.gen_range(0.035..0.09) * scene.side();
    let shape = blob(rng, centre, radius, 1.0..1.8, 0.2);
    let (fill, gloss, rim) = (
        rng.gen_range(0.5..0.9),
        rng.gen_range(0.06..0.3),
        rng.gen_range(0.04..0.15),
    );
    // Amber to clear: more red than blue, less of each as the bead is thinner.
    let amber = rng.gen_range(0.0..0.12);
    let gains = match scene.canvas.grey {
        true => [1.0 - amber / 2.0; 3],
        false => [1.0 + amber / 3.0, 1.0, 1.0 - amber],
    };
    let light = rng.gen_range(0.0..2.0 * PI);
    let shine = (
        centre.0 + 0.35 * radius * light.cos(),
        centre.1 + 0.35 * radius * light.sin(),
    );
    let (smooth, soft) = (scene.smooth, 1.5 * scene.unit());
    let bounds = Bounds::around(centre, 2.0 * radius, scene.canvas.original);
    scene.canvas.paint(rng, bounds, |x, y, pixel| {
        let d = shape(x, y);
        let weight = edge(d, radius, soft);
        (weight > 0.0).then(|| {
            let under = smooth.pixels[y as usize * smooth.width + x as usize];
            let filled: [f32; 3] =
                std::array::from_fn(|k| pixel[k] * (1.0 - fill) + under[k] * fill);
            let ring = 1.0 - rim * (-((d - 1.0) * radius / (2.0 * soft)).powi(2)).exp();
            let highlight = gloss
                * (-((x - shine.0).powi(2) + (y - shine.1).powi(2)) / (0.18 * radius * radius))
                    .exp();
            let value = times(filled, gains).map(|v| v * ring + highlight * (1.0 - v * ring));
            Stroke {
                weight,
                value,
                smoothed: fill,
                labelled: weight >= 0.5,
            }
        })
    });
}

/// A loose fibre or hair lying on the surface, with its shadow.
pub(super) fn fibre(rng: &mut ChaCha8Rng, scene: &mut Scene) {
    let unit = scene.unit();
    let length = rng.gen_range(0.15..0.4) * scene.side();
    let step = 2.0 * unit;
    let start = scene.centre(rng);
    let points = walk(rng, start, (length / step) as usize, step, 0.15);
    let half_width = rng.gen_range(0.3..1.1) * unit;
    let opacity = rng.gen_range(0.4..0.9);
    let gains: [f32; 3] = match rng.gen_range(0..3) {
        0 => [rng.gen_range(0.2..0.6); 3],
        1 => [rng.gen_range(1.3..1.8); 3],
        _ => std::array::from_fn(|_| rng.gen_range(0.3..1.6)),
    };
    let light = rng.gen_range(0.0..2.0 * PI);
    let shadow_points: Vec<(f32, f32)> = points
        .iter()
        .map(|&(x, y)| (x + 1.5 * unit * light.cos(), y + 1.5 * unit * light.sin()))
        .collect();
    let shadow = rng.gen_range(0.1..0.3);
    let (min, max) = points.iter().fold(
        ((f32::MAX, f32::MAX), (f32::MIN, f32::MIN)),
        |(lo, hi), &(x, y)| ((lo.0.min(x), lo.1.min(y)), (hi.0.max(x), hi.1.max(y))),
    );
    let centre = ((min.0 + max.0) / 2.0, (min.1 + max.1) / 2.0);
    let reach = (max.0 - min.0).max(max.1 - min.1) / 2.0 + 4.0 * unit;
    let bounds = Bounds::around(centre, reach, scene.canvas.original);
    let smooth = scene.smooth;
    // The shadow darkens what is under it and is not part of the defect's label.
    scene.canvas.paint(rng, bounds.clone(), |x, y, _| {
        let weight = shadow * polyline_weight(&shadow_points, half_width + 0.5 * unit, x, y);
        (weight > 0.0).then_some(Stroke {
            weight,
            value: [0.0; 3],
            smoothed: 0.0,
            labelled: false,
        })
    });
    scene.canvas.paint(rng, bounds, |x, y, _| {
        let weight = opacity * polyline_weight(&points, half_width, x, y);
        (weight > 0.0).then(|| Stroke {
            weight,
            value: times(smooth.pixels[y as usize * smooth.width + x as usize], gains),
            smoothed: 1.0,
            labelled: weight >= 0.25 * opacity,
        })
    });
}

/// A patch of changed colour (or brightness, on a grey photograph) with a wide soft edge; the texture
/// is untouched.
pub(super) fn discolouration(rng: &mut ChaCha8Rng, scene: &mut Scene) {
    let centre = scene.centre(rng);
    let radius = rng.gen_range(0.06..0.16) * scene.side();
    let shape = blob(rng, centre, radius, 1.0..2.5, 0.3);
    let gains = tint(rng, scene.canvas.grey, 0.05..0.2);
    let bounds = Bounds::around(centre, 2.0 * radius, scene.canvas.original);
    scene.canvas.paint(rng, bounds, |x, y, pixel| {
        let weight = edge(shape(x, y), radius, 0.3 * radius);
        (weight > 0.0).then(|| Stroke {
            weight,
            value: times(pixel, gains),
            smoothed: 0.0,
            labelled: weight >= 0.5,
        })
    });
}

/// Where a pixel lies against a polyline: signed distance across it, and the unit normal and the
/// position along it (from its start) of the nearest point.
fn across(points: &[(f32, f32)], x: f32, y: f32) -> (f32, (f32, f32), f32) {
    let (mut best, mut nearest, mut start) = (f32::MAX, ((0.0, 0.0), 0.0, 0.0), 0.0);
    for s in points.windows(2) {
        let (a, b) = (s[0], s[1]);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let length = (dx * dx + dy * dy).sqrt().max(1e-6);
        let t = (((x - a.0) * dx + (y - a.1) * dy) / (length * length)).clamp(0.0, 1.0);
        let normal = (-dy / length, dx / length);
        let (ox, oy) = (x - a.0 - t * dx, y - a.1 - t * dy);
        let distance = (ox * ox + oy * oy).sqrt();
        if distance < best {
            best = distance;
            nearest = (normal, start + t * length, ox * normal.0 + oy * normal.1);
        }
        start += length;
    }
    let (normal, along, signed) = nearest;
    (best.copysign(signed), normal, along)
}

/// A crease: the surface pushed together along a gently bent line, lit on one side of the ridge and
/// shaded on the other.
pub(super) fn crease(rng: &mut ChaCha8Rng, scene: &mut Scene) {
    let unit = scene.unit();
    let length = rng.gen_range(0.3..0.75) * scene.side();
    let start = scene.centre(rng);
    let points = walk(rng, start, 3, length / 3.0, 0.25);
    let total: f32 = points
        .windows(2)
        .map(|s| ((s[1].0 - s[0].0).powi(2) + (s[1].1 - s[0].1).powi(2)).sqrt())
        .sum();
    let width = rng.gen_range(1.5..5.0) * unit;
    let push = rng.gen_range(0.6..2.0) * unit;
    let shade = rng.gen_range(0.06..0.3);
    let original = scene.canvas.original;
    let bounds = Bounds::around(points[0], length + 4.0 * width, original);
    scene.canvas.paint(rng, bounds, |x, y, _| {
        let (s, normal, along) = across(&points, x, y);
        if s.abs() > 4.0 * width {
            return None;
        }
        let taper = (along.min(total - along) / (3.0 * width)).clamp(0.0, 1.0);
        let bump = (-(s / width).powi(2)).exp() * taper;
        let shift = push * (s / width) * bump;
        let moved = original.sample(x + normal.0 * shift, y + normal.1 * shift);
        let lighting = 1.0 + shade * 2.33 * (s / width) * bump;
        Some(Stroke {
            weight: 1.0,
            value: moved.map(|v| v * lighting),
            smoothed: 0.0,
            labelled: bump >= 0.3,
        })
    });
}

/// A rubbed patch: the texture smeared along one direction and slightly polished.
pub(super) fn abrasion(rng: &mut ChaCha8Rng, scene: &mut Scene) {
    let centre = scene.centre(rng);
    let radius = rng.gen_range(0.05..0.12) * scene.side();
    let shape = blob(rng, centre, radius, 1.5..3.0, 0.15);
    let direction = rng.gen_range(0.0..PI);
    let reach = rng.gen_range(3.0..8.0) * scene.unit();
    let polish = rng.gen_range(0.0..0.25);
    let original = scene.canvas.original;
    let bounds = Bounds::around(centre, 2.0 * radius, original);
    const TAPS: usize = 9;
    scene.canvas.paint(rng, bounds, |x, y, _| {
        let weight = edge(shape(x, y), radius, 0.25 * radius);
        (weight > 0.0).then(|| {
            let mut sum = [0.0f32; 3];
            for tap in 0..TAPS {
                let t = reach * (2.0 * tap as f32 / (TAPS - 1) as f32 - 1.0);
                let v = original.sample(x + t * direction.cos(), y + t * direction.sin());
                (0..3).for_each(|k| sum[k] += v[k]);
            }
            Stroke {
                weight,
                // Polished towards white: little on a bright surface, more on a dark one.
                value: sum.map(|v| {
                    let mean = v / TAPS as f32;
                    mean + polish * (1.0 - mean) * mean
                }),
                smoothed: 0.8,
                labelled: weight >= 0.5,
            }
        })
    });
}
