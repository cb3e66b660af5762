// SPDX-License-Identifier: MIT OR Apache-2.0
//! Scoring a labelled test set with a detector and summarising it with the metrics of [`crate::metrics`].

use serde::Serialize;

use crate::data::LabeledImage;
use crate::detector::Detector;
use crate::error::{Error, Result};
use crate::frame;
use crate::metrics::{self, PixelSample};

/// Quality of a model on one test set. Metrics that need both classes (or masks) are `None` without them.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Evaluation {
    pub images: usize,
    pub defective: usize,
    pub image_auroc: Option<f64>,
    pub pixel_auroc: Option<f64>,
    /// Per-region overlap integrated to a false-positive rate of 0.3, normalised.
    pub pro: Option<f64>,
    pub best_f1: Option<f64>,
    /// Raw-score threshold reaching `best_f1` (for information: it was chosen on the test set).
    pub best_f1_threshold: Option<f64>,
    /// The model's own threshold and its error rates on this set.
    pub threshold: f64,
    pub false_alarm_rate: f64,
    pub miss_rate: f64,
}

/// Scores every image; `progress` is called once per image.
pub fn evaluate(
    detector: &Detector,
    images: &[LabeledImage],
    progress: &mut dyn FnMut(),
) -> Result<Evaluation> {
    let size = detector.config().image_size as u32;
    let mut scores = Vec::with_capacity(images.len());
    let mut maps = Vec::new();
    let mut masks = Vec::new();
    for image in images {
        let picture = frame::load_rgb(&image.path)?;
        let detection = detector.infer(&frame::rgb_frame(&picture))?;
        scores.push(detection.raw_score as f32);
        if images.iter().any(|i| i.mask.is_some()) {
            masks.push(match &image.mask {
                Some(path) => load_mask(path, size)?,
                None => vec![false; (size * size) as usize],
            });
            maps.push(detection.map.values);
        }
        progress();
    }
    let defective: Vec<bool> = images.iter().map(|i| i.defective).collect();
    let threshold = detector.config().thresholds.image;
    let rates = metrics::rates_at(&scores, &defective, threshold as f32);
    let best = metrics::best_f1(&scores, &defective);
    let (pixel_auroc, pro) = if maps.is_empty() {
        (None, None)
    } else {
        let pixels: Vec<f32> = maps.concat();
        let truth: Vec<bool> = masks.concat();
        let samples: Vec<PixelSample<'_>> = maps
            .iter()
            .zip(&masks)
            .map(|(map, mask)| PixelSample {
                map,
                mask,
                width: size as usize,
                height: size as usize,
            })
            .collect();
        (metrics::auroc(&pixels, &truth), metrics::pro(&samples, 0.3))
    };
    Ok(Evaluation {
        images: images.len(),
        defective: defective.iter().filter(|&&d| d).count(),
        image_auroc: metrics::auroc(&scores, &defective),
        pixel_auroc,
        pro,
        best_f1: best.map(|(f1, _)| f1),
        best_f1_threshold: best.map(|(_, t)| t as f64),
        threshold,
        false_alarm_rate: rates.false_alarm,
        miss_rate: rates.miss,
    })
}

/// A mask resized to size×size with nearest-neighbour sampling, true where it is brighter than mid-grey.
fn load_mask(path: &std::path::Path, size: u32) -> Result<Vec<bool>> {
    let mask = image::open(path)
        .map_err(|e| Error::Image {
            path: path.to_owned(),
            problem: format!("not a readable mask: {e}"),
        })?
        .to_luma8();
    let resized = image::imageops::resize(&mask, size, size, image::imageops::FilterType::Nearest);
    Ok(resized.pixels().map(|p| p.0[0] > 127).collect())
}
