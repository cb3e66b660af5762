// SPDX-License-Identifier: MIT OR Apache-2.0
//! The report's heatmap galleries: worst misses and false alarms first.

use std::fmt::Write as _;
use std::path::Path;

use image::{Rgb, RgbImage};

use super::{ClassResult, GALLERY_SIZE, save};
use crate::error::Result;
use crate::evaluate::ScoredImage;
use crate::frame;
use crate::heatmap::{Canvas, Colormap};

/// Overlays of the worst misses (defective images with the lowest scores) and false alarms (good images
/// with the highest), written as PNG; returns their Markdown section.
pub(super) fn gallery(class: &ClassResult, folder: &Path) -> Result<String> {
    let threshold = class.evaluation.threshold;
    let mut defective: Vec<&ScoredImage> =
        class.scored.iter().filter(|s| s.image.defective).collect();
    let mut good: Vec<&ScoredImage> = class.scored.iter().filter(|s| !s.image.defective).collect();
    defective.sort_by(|a, b| a.score.total_cmp(&b.score));
    good.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut md = String::new();
    for (heading, kind, images) in [
        (
            "Defective images, lowest scores first (misses when below 1.00)",
            "miss",
            defective,
        ),
        (
            "Good images, highest scores first (false alarms when at or above 1.00)",
            "false-alarm",
            good,
        ),
    ] {
        if images.is_empty() {
            continue;
        }
        let _ = writeln!(
            md,
            "\n### {heading}\n\nLeft: the heatmap (red is at twice the threshold); right: the ground truth in green.\n\n| | image | score / threshold |\n|---|---|---:|"
        );
        for (rank, scored) in images.iter().take(GALLERY_SIZE).enumerate() {
            let name = format!("{kind}-{:02}.png", rank + 1);
            save(
                &overlay(scored, threshold as f32)?,
                &folder.join("gallery").join(&name),
            )?;
            let _ = writeln!(
                md,
                "| ![{name}]({}/gallery/{name}) | `{}` | {:.2} |",
                class.name,
                scored.image.path.display(),
                scored.score / threshold
            );
        }
    }
    Ok(md)
}

/// The image at the model's input size twice side by side: with the heatmap, and with the mask outlined.
fn overlay(scored: &ScoredImage, threshold: f32) -> Result<RgbImage> {
    let (width, height) = (scored.map.width, scored.map.height);
    let picture = image::imageops::resize(
        &frame::load_rgb(&scored.image.path)?,
        width as u32,
        height as u32,
        image::imageops::FilterType::Triangle,
    );
    let mut heat = picture.clone();
    Canvas::rgb_image(&mut heat).blend_map(
        &scored.map,
        threshold,
        &Colormap::Turbo.lut(),
        0.5,
        false,
    );
    let mut truth = picture;
    if let Some(mask) = &scored.mask {
        let at = |x: i64, y: i64| {
            x >= 0
                && y >= 0
                && (x as usize) < width
                && (y as usize) < height
                && mask[y as usize * width + x as usize]
        };
        for (x, y, pixel) in truth.enumerate_pixels_mut() {
            let (x, y) = (x as i64, y as i64);
            let edge = at(x, y) && !(at(x - 1, y) && at(x + 1, y) && at(x, y - 1) && at(x, y + 1));
            if edge {
                *pixel = Rgb([0, 255, 0]);
            }
        }
    }
    let mut tile = RgbImage::new(2 * width as u32 + 4, height as u32);
    image::imageops::replace(&mut tile, &heat, 0, 0);
    image::imageops::replace(&mut tile, &truth, width as i64 + 4, 0);
    Ok(tile)
}
