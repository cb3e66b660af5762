// SPDX-License-Identifier: MIT OR Apache-2.0
//! Scoring a labelled test set with a detector and summarising it with the metrics of [`crate::metrics`].

use serde::Serialize;

use crate::anomaly::{AnomalyMap, ScoreMode};
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
    /// The rate the threshold was calibrated for, when the model records it.
    pub target_false_alarm_rate: Option<f64>,
    pub miss_rate: f64,
    /// The same model scored in every [`ScoreMode`], when asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ablation: Vec<ModeQuality>,
    /// Figures per kind of defect, when the defective images come in more than one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub defect_kinds: Vec<KindQuality>,
}

/// Image and pixel AUROC of one way of scoring.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ModeQuality {
    pub mode: ScoreMode,
    pub image_auroc: Option<f64>,
    pub pixel_auroc: Option<f64>,
}

/// How well one kind of defect is found: the defective images of one folder (MVTec AD's defect types).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct KindQuality {
    pub kind: String,
    pub images: usize,
    /// This kind's images against every good image.
    pub image_auroc: Option<f64>,
    /// Share of this kind's images at or above the model's threshold.
    pub caught: f64,
}

/// One test image as the model saw it.
pub struct ScoredImage {
    pub image: LabeledImage,
    /// Raw image score (maximum of the fused map).
    pub score: f64,
    /// The fused map at the model's input size.
    pub map: AnomalyMap,
    /// The ground truth at the model's input size, when the set has masks.
    pub mask: Option<Vec<bool>>,
}

/// Maps and image scores of every image in every mode, in image order.
struct ModeMaps {
    mode: ScoreMode,
    maps: Vec<Vec<f32>>,
    scores: Vec<f32>,
}

/// Scores every image (in every [`ScoreMode`] too when `ablation`); `progress` is called once per image.
pub fn evaluate(
    detector: &Detector,
    images: &[LabeledImage],
    ablation: bool,
    progress: &mut dyn FnMut(),
) -> Result<(Evaluation, Vec<ScoredImage>)> {
    let modes: &[ScoreMode] = if ablation {
        &ScoreMode::ALL
    } else {
        &[ScoreMode::Fused]
    };
    let (mut by_mode, masks) = score_all(detector, images, modes, progress)?;
    let size = detector.config().image_size as usize;
    let defective: Vec<bool> = images.iter().map(|i| i.defective).collect();
    let pixel_truth = masks.as_ref().map(|masks| masks.concat());
    let pixel_auroc = |maps: &[Vec<f32>]| {
        let truth = pixel_truth.as_ref()?;
        metrics::auroc(&maps.concat(), truth)
    };
    let ablation: Vec<ModeQuality> = match ablation {
        true => by_mode
            .iter()
            .map(|m| ModeQuality {
                mode: m.mode,
                image_auroc: metrics::auroc(&m.scores, &defective),
                pixel_auroc: pixel_auroc(&m.maps),
            })
            .collect(),
        false => Vec::new(),
    };

    let fused = by_mode.swap_remove(0);
    let scores = &fused.scores;
    let thresholds = &detector.config().thresholds;
    let threshold = thresholds.image;
    let rates = metrics::rates_at(scores, &defective, threshold as f32);
    let best = metrics::best_f1(scores, &defective);
    let pro = masks.as_ref().and_then(|masks| {
        let samples: Vec<PixelSample<'_>> = fused
            .maps
            .iter()
            .zip(masks)
            .map(|(map, mask)| PixelSample {
                map,
                mask,
                width: size,
                height: size,
            })
            .collect();
        metrics::pro(&samples, 0.3)
    });
    let evaluation = Evaluation {
        images: images.len(),
        defective: defective.iter().filter(|&&d| d).count(),
        image_auroc: metrics::auroc(scores, &defective),
        pixel_auroc: ablation
            .first()
            .map_or_else(|| pixel_auroc(&fused.maps), |fused| fused.pixel_auroc),
        pro,
        best_f1: best.map(|(f1, _)| f1),
        best_f1_threshold: best.map(|(_, t)| t as f64),
        threshold,
        false_alarm_rate: rates.false_alarm,
        target_false_alarm_rate: thresholds.false_alarm_rate,
        miss_rate: rates.miss,
        ablation,
        defect_kinds: by_defect_kind(images, scores, threshold as f32),
    };
    let scored = scored_images(images, fused, masks, size);
    Ok((evaluation, scored))
}

/// The defect kind of a defective image: the folder it is in.
fn defect_kind(image: &LabeledImage) -> Option<String> {
    let folder = image.path.parent()?.file_name()?;
    Some(folder.to_string_lossy().into_owned())
}

/// Each defect kind's images scored against every good image, when there are at least two kinds (a single
/// kind is the whole set).
fn by_defect_kind(images: &[LabeledImage], scores: &[f32], threshold: f32) -> Vec<KindQuality> {
    let mut kinds: Vec<String> = images
        .iter()
        .filter(|i| i.defective)
        .filter_map(defect_kind)
        .collect();
    kinds.sort();
    kinds.dedup();
    if kinds.len() < 2 {
        return Vec::new();
    }
    kinds
        .into_iter()
        .map(|kind| {
            let (kind_scores, defective): (Vec<f32>, Vec<bool>) = images
                .iter()
                .zip(scores)
                .filter(|(i, _)| !i.defective || defect_kind(i).as_ref() == Some(&kind))
                .map(|(i, &score)| (score, i.defective))
                .unzip();
            KindQuality {
                images: defective.iter().filter(|&&d| d).count(),
                image_auroc: metrics::auroc(&kind_scores, &defective),
                caught: 1.0 - metrics::rates_at(&kind_scores, &defective, threshold).miss,
                kind,
            }
        })
        .collect()
}

/// Per image, its ground truth at the model's input size, row-major.
type Masks = Vec<Vec<bool>>;

/// The images with their fused maps and scores, and their masks when there are any.
fn scored_images(
    images: &[LabeledImage],
    fused: ModeMaps,
    masks: Option<Masks>,
    size: usize,
) -> Vec<ScoredImage> {
    let mut masks = masks.into_iter().flatten();
    images
        .iter()
        .zip(fused.maps)
        .zip(fused.scores)
        .map(|((image, values), score)| ScoredImage {
            image: image.clone(),
            score: score as f64,
            map: AnomalyMap::new(size, size, values),
            mask: masks.next(),
        })
        .collect()
}

/// Every image's maps and scores in each of `modes`, and the ground-truth masks at the model's size
/// when the set has any (an image without a mask is all good).
fn score_all(
    detector: &Detector,
    images: &[LabeledImage],
    modes: &[ScoreMode],
    progress: &mut dyn FnMut(),
) -> Result<(Vec<ModeMaps>, Option<Masks>)> {
    let size = detector.config().image_size as u32;
    let has_masks = images.iter().any(|i| i.mask.is_some());
    let mut by_mode: Vec<ModeMaps> = modes
        .iter()
        .map(|&mode| ModeMaps {
            mode,
            maps: Vec::new(),
            scores: Vec::new(),
        })
        .collect();
    let mut masks = Vec::new();
    for image in images {
        let picture = frame::load_rgb(&image.path)?;
        let input = detector.preprocess(&frame::rgb_frame(&picture).to_tensor(detector.device())?);
        for (mode, map) in by_mode
            .iter_mut()
            .zip(detector.anomaly_maps_by(&input, modes)?)
        {
            let map = AnomalyMap::from_tensor(&map)?;
            mode.scores.push(map.max());
            mode.maps.push(map.values);
        }
        if has_masks {
            masks.push(match &image.mask {
                Some(path) => load_mask(path, size)?,
                None => vec![false; (size * size) as usize],
            });
        }
        progress();
    }
    Ok((by_mode, has_masks.then_some(masks)))
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
