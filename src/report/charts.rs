// SPDX-License-Identifier: MIT OR Apache-2.0
//! The report's charts: an ROC curve and a histogram of good and defective scores.

use ab_glyph::{FontVec, PxScale};
use image::{Rgb, RgbImage};
use imageproc::drawing::{self, draw_filled_rect_mut, draw_line_segment_mut, draw_text_mut};
use imageproc::rect::Rect;

use super::ClassResult;
use super::tables::figure;

const INK: Rgb<u8> = Rgb([30, 30, 30]);
const GRID: Rgb<u8> = Rgb([225, 225, 225]);
const GOOD: Rgb<u8> = Rgb([40, 110, 200]);
const DEFECT: Rgb<u8> = Rgb([215, 60, 40]);

/// A white chart with a framed plot area, ticks and labels, mapping data coordinates to pixels.
struct Chart<'a> {
    image: RgbImage,
    font: Option<&'a FontVec>,
    area: (f32, f32, f32, f32),
    x: (f64, f64),
    y: (f64, f64),
}

impl<'a> Chart<'a> {
    fn new(
        title: &str,
        labels: (&str, &str),
        x: (f64, f64),
        y: (f64, f64),
        font: Option<&'a FontVec>,
    ) -> Self {
        let (width, height) = (560u32, 440u32);
        let mut chart = Chart {
            image: RgbImage::from_pixel(width, height, Rgb([255, 255, 255])),
            font,
            area: (70.0, 40.0, width as f32 - 20.0, height as f32 - 60.0),
            x,
            y,
        };
        let (left, top, right, bottom) = chart.area;
        for step in 0..=5 {
            let t = step as f64 / 5.0;
            let (vx, vy) = (x.0 + t * (x.1 - x.0), y.0 + t * (y.1 - y.0));
            let (px, py) = chart.point(vx, vy);
            draw_line_segment_mut(&mut chart.image, (px, top), (px, bottom), GRID);
            draw_line_segment_mut(&mut chart.image, (left, py), (right, py), GRID);
            chart.text(&tick(vx, x), px, bottom + 6.0, 14.0, 0.5);
            chart.text(&tick(vy, y), left - 6.0, py - 7.0, 14.0, 1.0);
        }
        for (a, b) in [
            ((left, top), (right, top)),
            ((right, top), (right, bottom)),
            ((right, bottom), (left, bottom)),
            ((left, bottom), (left, top)),
        ] {
            draw_line_segment_mut(&mut chart.image, a, b, INK);
        }
        chart.text(title, width as f32 / 2.0, 10.0, 18.0, 0.5);
        chart.text(labels.0, (left + right) / 2.0, bottom + 28.0, 15.0, 0.5);
        chart.text(labels.1, 8.0, top - 24.0, 15.0, 0.0);
        chart
    }

    /// Pixel position of a data point.
    fn point(&self, x: f64, y: f64) -> (f32, f32) {
        let (left, top, right, bottom) = self.area;
        let fx = ((x - self.x.0) / (self.x.1 - self.x.0)) as f32;
        let fy = ((y - self.y.0) / (self.y.1 - self.y.0)) as f32;
        (left + fx * (right - left), bottom - fy * (bottom - top))
    }

    /// Text of height `size` whose left edge, centre or right edge (`anchor` 0, ½, 1) is at `x`.
    fn text(&mut self, text: &str, x: f32, y: f32, size: f32, anchor: f32) {
        let Some(font) = self.font else { return };
        let scale = PxScale::from(size);
        let (width, _) = drawing::text_size(scale, font, text);
        let left = x - anchor * width as f32;
        draw_text_mut(
            &mut self.image,
            INK,
            left.round() as i32,
            y.round() as i32,
            scale,
            font,
            text,
        );
    }

    /// A polyline three pixels wide.
    fn line(&mut self, points: &[(f64, f64)], colour: Rgb<u8>) {
        for pair in points.windows(2) {
            let (a, b) = (
                self.point(pair[0].0, pair[0].1),
                self.point(pair[1].0, pair[1].1),
            );
            for (dx, dy) in [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)] {
                draw_line_segment_mut(
                    &mut self.image,
                    (a.0 + dx, a.1 + dy),
                    (b.0 + dx, b.1 + dy),
                    colour,
                );
            }
        }
    }

    /// A colour key in the top-right corner of the plot area, one line per entry.
    fn legend(&mut self, entries: &[(&str, Rgb<u8>)]) {
        let (_, top, right, _) = self.area;
        let left = right - 110.0;
        for (i, (label, colour)) in entries.iter().enumerate() {
            let y = top + 10.0 + 20.0 * i as f32;
            draw_filled_rect_mut(
                &mut self.image,
                Rect::at(left as i32, y as i32 + 3).of_size(14, 10),
                *colour,
            );
            self.text(label, left + 20.0, y, 14.0, 0.0);
        }
    }
}

/// A tick label with as many decimals as the axis range needs.
fn tick(value: f64, range: (f64, f64)) -> String {
    let decimals = (1.0 - (range.1 - range.0).abs().log10().floor()).clamp(0.0, 6.0) as usize;
    format!("{value:.decimals$}")
}

pub(super) fn roc_chart(
    curve: &[(f64, f64)],
    class: &ClassResult,
    font: Option<&FontVec>,
) -> RgbImage {
    let title = format!(
        "{}: image ROC, AUROC {}",
        class.name,
        figure(class.evaluation.image_auroc)
    );
    let mut chart = Chart::new(
        &title,
        ("false-positive rate", "true-positive rate"),
        (0.0, 1.0),
        (0.0, 1.0),
        font,
    );
    chart.line(&[(0.0, 0.0), (1.0, 1.0)], GRID);
    chart.line(curve, DEFECT);
    chart.image
}

pub(super) fn histogram_chart(class: &ClassResult, font: Option<&FontVec>) -> RgbImage {
    const BINS: usize = 30;
    let threshold = class.evaluation.threshold;
    let scores = class.scored.iter().map(|s| s.score).chain([threshold]);
    let low = scores.clone().fold(f64::INFINITY, f64::min);
    let high = scores.fold(f64::NEG_INFINITY, f64::max);
    let span = (high - low).max(1e-9) * 1.05;
    let bin = |score: f64| (((score - low) / span) * BINS as f64) as usize;
    let mut counts = [[0usize; BINS]; 2];
    for s in &class.scored {
        counts[s.image.defective as usize][bin(s.score).min(BINS - 1)] += 1;
    }
    // A count axis in steps of whole images.
    let tallest = counts.iter().flatten().copied().max().unwrap_or(1);
    let count_axis = (tallest * 11 / 10).div_ceil(5).max(1) as f64 * 5.0;
    let title = format!("{}: image scores, threshold {:.3}", class.name, threshold);
    let mut chart = Chart::new(
        &title,
        ("raw score", "images"),
        (low, low + span),
        (0.0, count_axis),
        font,
    );
    let width = span / BINS as f64;
    for (kind, colour) in [(0, GOOD), (1, DEFECT)] {
        for (i, &count) in counts[kind].iter().enumerate().filter(|(_, c)| **c > 0) {
            let x0 = low + i as f64 * width;
            // Good bars fill the left half of a bin, defective bars the right half, so neither hides the other.
            let x0 = x0 + kind as f64 * width / 2.0;
            let (left, top) = chart.point(x0, count as f64);
            let (right, bottom) = chart.point(x0 + width / 2.0, 0.0);
            let rect = Rect::at(left as i32, top as i32).of_size(
                ((right - left) as u32).max(1),
                ((bottom - top) as u32).max(1),
            );
            draw_filled_rect_mut(&mut chart.image, rect, colour);
        }
    }
    chart.line(&[(threshold, 0.0), (threshold, count_axis)], INK);
    chart.legend(&[("good", GOOD), ("defective", DEFECT), ("threshold", INK)]);
    chart.image
}
