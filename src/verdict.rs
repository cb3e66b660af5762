// SPDX-License-Identifier: MIT OR Apache-2.0
//! From a detection to a verdict: the threshold in force, the normalised score, the decision and the defect
//! regions in the pixels of the frame that was scored. Everything that reports a result (the element's meta,
//! bus messages and JSON lines, `nfbmr score`) reads it from here, so they can never disagree.

use serde::Serialize;

use crate::anomaly::AnomalyMap;
use crate::detector::Detection;

/// What a verdict is judged by besides the model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Criteria {
    /// Image threshold on the raw score; `None` takes the model's calibrated one. The pixel threshold of
    /// the regions keeps its ratio to the image threshold.
    pub threshold: Option<f64>,
    /// Smallest region reported, in frame pixels.
    pub min_region_area: u32,
}

impl Criteria {
    pub const DEFAULT_MIN_REGION_AREA: u32 = 16;
}

impl Default for Criteria {
    fn default() -> Self {
        Criteria {
            threshold: None,
            min_region_area: Self::DEFAULT_MIN_REGION_AREA,
        }
    }
}

/// A defect region in frame pixels.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FrameRegion {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    /// Peak of the region, normalised like the score (1.0 = threshold).
    pub score: f64,
}

/// The decision on one frame. Serialises as the fields every results format shares: `score`,
/// `raw-score`, `threshold`, `is-anomaly` and `regions`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Verdict {
    /// `raw_score / threshold`: 1.0 is the decision boundary on every model.
    pub score: f64,
    /// Maximum of the anomaly map, in the model's raw units.
    pub raw_score: f64,
    /// Image threshold in force, raw units.
    pub threshold: f64,
    pub is_anomaly: bool,
    /// Highest peak first.
    pub regions: Vec<FrameRegion>,
    /// Pixel threshold in force, raw units: the level regions and the overlay's gate are cut at.
    #[serde(skip)]
    pub pixel_threshold: f64,
    /// The anomaly map at the model's resolution, raw units.
    #[serde(skip)]
    pub map: AnomalyMap,
}

impl Detection {
    /// Judges this detection of a `frame_width`×`frame_height` frame.
    pub fn verdict(self, criteria: &Criteria, frame_width: usize, frame_height: usize) -> Verdict {
        let threshold = criteria.threshold.unwrap_or(self.image_threshold);
        let pixel_threshold = threshold * self.pixel_threshold / self.image_threshold;
        let score = self.raw_score / threshold;
        let regions = frame_regions(
            &self.map,
            pixel_threshold,
            criteria.min_region_area,
            (frame_width, frame_height),
        )
        .map(|region| FrameRegion {
            score: region.score / threshold,
            ..region
        })
        .collect();
        Verdict {
            score,
            raw_score: self.raw_score,
            threshold,
            is_anomaly: score >= 1.0,
            regions,
            pixel_threshold,
            map: self.map,
        }
    }
}

/// Regions of `map` at or above `pixel_threshold` scaled to a frame of `(width, height)` pixels, boxes
/// grown outwards to whole pixels and clipped to the frame; `score` holds the raw peak.
fn frame_regions(
    map: &AnomalyMap,
    pixel_threshold: f64,
    min_area: u32,
    (width, height): (usize, usize),
) -> impl Iterator<Item = FrameRegion> {
    let sx = width as f64 / map.width as f64;
    let sy = height as f64 / map.height as f64;
    let min_map_area = (f64::from(min_area) / (sx * sy)).ceil() as usize;
    map.regions(pixel_threshold as f32, min_map_area.max(1))
        .into_iter()
        .map(move |r| {
            let x0 = (r.x as f64 * sx).floor();
            let y0 = (r.y as f64 * sy).floor();
            let x1 = ((r.x + r.width) as f64 * sx).ceil().min(width as f64);
            let y1 = ((r.y + r.height) as f64 * sy).ceil().min(height as f64);
            FrameRegion {
                x: x0 as u32,
                y: y0 as u32,
                width: (x1 - x0) as u32,
                height: (y1 - y0) as u32,
                score: f64::from(r.peak),
            }
        })
}

impl Verdict {
    /// The map reduced to at most `side`×`side` by block maxima and normalised like the score, as the
    /// element's meta carries it.
    pub fn normalised_map(&self, side: usize) -> AnomalyMap {
        let mut pooled = self.map.max_pooled(side);
        let threshold = self.threshold as f32;
        pooled.values.iter_mut().for_each(|v| *v /= threshold);
        pooled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4×4 map with a hot 2×1 spot at (1, 1) peaking at 3.0, from a model with thresholds 2 (image)
    /// and 1 (pixel).
    fn detection() -> Detection {
        let mut values = vec![0.1f32; 16];
        values[5] = 3.0;
        values[6] = 1.5;
        Detection {
            raw_score: 3.0,
            map: AnomalyMap::new(4, 4, values),
            image_threshold: 2.0,
            pixel_threshold: 1.0,
        }
    }

    #[test]
    fn the_model_threshold_decides_and_regions_land_in_frame_pixels() {
        let criteria = Criteria {
            min_region_area: 1,
            ..Criteria::default()
        };
        let verdict = detection().verdict(&criteria, 40, 20);
        assert_eq!(
            (verdict.score, verdict.threshold, verdict.is_anomaly),
            (1.5, 2.0, true)
        );
        assert_eq!(verdict.pixel_threshold, 1.0);
        // Map pixels (1, 1)–(2, 1) at 10×5 frame pixels each.
        assert_eq!(
            verdict.regions,
            [FrameRegion {
                x: 10,
                y: 5,
                width: 20,
                height: 5,
                score: 1.5
            }]
        );
        let map = verdict.normalised_map(2);
        assert_eq!((map.width, map.height), (2, 2));
        assert_eq!(map.values, [1.5, 0.75, 0.05, 0.05]);
    }

    #[test]
    fn an_overridden_threshold_moves_the_pixel_threshold_with_it() {
        let criteria = Criteria {
            threshold: Some(6.0),
            min_region_area: 1,
        };
        let verdict = detection().verdict(&criteria, 4, 4);
        assert_eq!((verdict.score, verdict.is_anomaly), (0.5, false));
        // Pixel threshold 6 × 1/2 = 3: only the peak pixel is left.
        assert_eq!(verdict.pixel_threshold, 3.0);
        assert_eq!(verdict.regions.len(), 1);
        assert_eq!(
            (verdict.regions[0].width, verdict.regions[0].score),
            (1, 0.5)
        );
    }

    #[test]
    fn the_minimum_area_counts_frame_pixels_and_odd_scales_round_outwards() {
        // Each map pixel covers 10×5 = 50 frame pixels: the 2-pixel spot has 100.
        let area = |min_region_area| {
            let criteria = Criteria {
                threshold: None,
                min_region_area,
            };
            detection().verdict(&criteria, 40, 20).regions.len()
        };
        assert_eq!((area(100), area(101)), (1, 0));
        // 3 frame pixels per 4 map pixels: the box (1, 1)–(3, 2) grows to whole pixels, inside the frame.
        let criteria = Criteria {
            min_region_area: 1,
            ..Criteria::default()
        };
        let region = &detection().verdict(&criteria, 3, 3).regions[0];
        assert_eq!(
            (region.x, region.y, region.width, region.height),
            (0, 0, 3, 2)
        );
    }

    #[test]
    fn verdicts_serialise_with_the_documented_names() {
        let verdict = detection().verdict(&Criteria::default(), 40, 20);
        let json = serde_json::to_value(&verdict).unwrap();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["is-anomaly", "raw-score", "regions", "score", "threshold"]
        );
        assert_eq!(json["regions"][0]["width"], 20);
    }
}
