// SPDX-License-Identifier: MIT OR Apache-2.0
//! Detection-quality metrics as reported on MVTec AD and DAGM: image and pixel AUROC, PRO up to a false
//! positive rate of 0.3, the best F1 over thresholds, and the error rates at a given threshold. Equal scores
//! are always treated as one threshold step (a tie counts half in AUROC).

use std::cmp::Ordering;

use crate::regions::Components;

/// Area under the ROC curve: the probability that a random positive scores above a random negative, ties
/// counting one half (Mann–Whitney U with average ranks). `None` without both classes.
pub fn auroc(scores: &[f32], positive: &[bool]) -> Option<f64> {
    assert_eq!(scores.len(), positive.len());
    let positives = positive.iter().filter(|&&p| p).count();
    let negatives = positive.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut positive_rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        // Ranks start + 1 ..= end share their average.
        let average_rank = (start + 1 + end) as f64 / 2.0;
        let tied_positives = order[start..end].iter().filter(|&&i| positive[i]).count();
        positive_rank_sum += average_rank * tied_positives as f64;
        start = end;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((positive_rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Indices grouped by equal score, highest score first.
fn descending_groups(scores: &[f32]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for i in order {
        match groups.last_mut() {
            Some(group) if scores[group[0]].total_cmp(&scores[i]) == Ordering::Equal => {
                group.push(i)
            }
            _ => groups.push(vec![i]),
        }
    }
    groups
}

/// The best F1 over all thresholds "score ≥ t", and the threshold reaching it. `None` without positives.
pub fn best_f1(scores: &[f32], positive: &[bool]) -> Option<(f64, f32)> {
    let positives = positive.iter().filter(|&&p| p).count() as f64;
    if positives == 0.0 {
        return None;
    }
    let (mut true_positives, mut flagged) = (0.0, 0.0);
    let mut best: Option<(f64, f32)> = None;
    for group in descending_groups(scores) {
        flagged += group.len() as f64;
        true_positives += group.iter().filter(|&&i| positive[i]).count() as f64;
        let f1 = 2.0 * true_positives / (flagged + positives);
        if best.is_none_or(|(b, _)| f1 > b) {
            best = Some((f1, scores[group[0]]));
        }
    }
    best
}

/// The ROC curve as (false-positive rate, true-positive rate) points from (0, 0) to (1, 1), one point per
/// distinct score (ties move both rates at once). `None` without both classes.
pub fn roc_curve(scores: &[f32], positive: &[bool]) -> Option<Vec<(f64, f64)>> {
    let positives = positive.iter().filter(|&&p| p).count() as f64;
    let negatives = positive.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    let (mut true_positives, mut false_positives) = (0.0, 0.0);
    let mut curve = vec![(0.0, 0.0)];
    for group in descending_groups(scores) {
        let hits = group.iter().filter(|&&i| positive[i]).count() as f64;
        true_positives += hits;
        false_positives += group.len() as f64 - hits;
        curve.push((false_positives / negatives, true_positives / positives));
    }
    Some(curve)
}

/// Error rates when "score ≥ threshold" flags a defect.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rates {
    /// Good samples flagged, over good samples (NaN without good samples).
    pub false_alarm: f64,
    /// Defective samples not flagged, over defective samples (NaN without defective samples).
    pub miss: f64,
}

pub fn rates_at(scores: &[f32], positive: &[bool], threshold: f32) -> Rates {
    let count = |want: bool, flagged: bool| {
        scores
            .iter()
            .zip(positive)
            .filter(|&(&s, &p)| p == want && (s >= threshold) == flagged)
            .count() as f64
    };
    let ratio = |part: f64, rest: f64| part / (part + rest);
    Rates {
        false_alarm: ratio(count(false, true), count(false, false)),
        miss: ratio(count(true, false), count(true, true)),
    }
}

/// One image's anomaly map and ground-truth mask, same size, row-major.
pub struct PixelSample<'a> {
    pub map: &'a [f32],
    pub mask: &'a [bool],
    pub width: usize,
    pub height: usize,
}

/// Per-region overlap (Bergmann et al., MVTec AD): the mean over all ground-truth regions of the fraction
/// of each region above the threshold, as a curve over the pixel false-positive rate, integrated up to
/// `max_fpr` and divided by it (1.0 is perfect). `None` without regions or without good pixels.
pub fn pro(samples: &[PixelSample<'_>], max_fpr: f64) -> Option<f64> {
    let mut scores = Vec::new();
    // Per pixel: the weight it adds to the mean overlap when it passes (0 for good pixels).
    let mut weights = Vec::new();
    let mut good = Vec::new();
    let mut sizes: Vec<usize> = Vec::new();
    let mut region_of = Vec::new();
    for sample in samples {
        let components = Components::of(sample.mask, sample.width);
        let base = sizes.len();
        sizes.resize(base + components.count as usize, 0);
        for ((_, columns), &component) in components.runs.iter().zip(&components.of_run) {
            sizes[base + component as usize] += columns.len();
        }
        let labels = components.labels(sample.width, sample.height);
        for (i, &label) in labels.iter().enumerate() {
            scores.push(sample.map[i]);
            good.push(label == 0);
            region_of.push((label > 0).then(|| base + label as usize - 1));
        }
    }
    let regions = sizes.len() as f64;
    let good_pixels = good.iter().filter(|&&g| g).count() as f64;
    if regions == 0.0 || good_pixels == 0.0 {
        return None;
    }
    for region in &region_of {
        weights.push(region.map_or(0.0, |r| 1.0 / (sizes[r] as f64 * regions)));
    }
    let (mut fpr, mut overlap, mut area) = (0.0f64, 0.0f64, 0.0f64);
    for group in descending_groups(&scores) {
        let next_fpr = fpr + group.iter().filter(|&&i| good[i]).count() as f64 / good_pixels;
        let next_overlap = overlap + group.iter().map(|&i| weights[i]).sum::<f64>();
        if next_fpr >= max_fpr {
            // Interpolate the segment up to max_fpr.
            let t = if next_fpr > fpr {
                (max_fpr - fpr) / (next_fpr - fpr)
            } else {
                1.0
            };
            let at_max = overlap + t * (next_overlap - overlap);
            area += (max_fpr - fpr) * (overlap + at_max) / 2.0;
            return Some(area / max_fpr);
        }
        area += (next_fpr - fpr) * (overlap + next_overlap) / 2.0;
        (fpr, overlap) = (next_fpr, next_overlap);
    }
    Some(area / max_fpr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roc_curve_steps_through_distinct_scores_and_its_area_is_the_auroc() {
        let scores = [0.1, 0.4, 0.35, 0.8];
        let truth = [false, false, true, true];
        let curve = roc_curve(&scores, &truth).unwrap();
        assert_eq!(
            curve,
            [(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]
        );
        let area: f64 = curve
            .windows(2)
            .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
            .sum();
        assert!((area - auroc(&scores, &truth).unwrap()).abs() < 1e-12);
        // A tie between a positive and a negative is one diagonal step.
        assert_eq!(
            roc_curve(&[1.0, 1.0], &[true, false]).unwrap(),
            [(0.0, 0.0), (1.0, 1.0)]
        );
        assert_eq!(roc_curve(&[1.0], &[true]), None);
    }

    #[test]
    fn auroc_counts_ties_as_half() {
        // scikit-learn's documented example.
        let auc = auroc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap();
        assert!((auc - 0.75).abs() < 1e-12);
        // Pairs (pos, neg): (1,1) tie ½, (1,2) 0, (2,1) 1, (2,2) tie ½ → 2 / 4.
        let auc = auroc(&[1.0, 1.0, 2.0, 2.0], &[false, true, false, true]).unwrap();
        assert!((auc - 0.5).abs() < 1e-12);
        assert_eq!(auroc(&[1.0, 2.0], &[true, true]), None);
        assert_eq!(auroc(&[3.0, 1.0, 2.0], &[true, false, false]), Some(1.0));
    }

    #[test]
    fn best_f1_sweeps_every_threshold_and_groups_ties() {
        // ≥0.9: P 1, R ½ → ⅔; ≥0.8: ½; ≥0.7: P ⅔, R 1 → 0.8; ≥0.1: ⅔.
        let (f1, at) = best_f1(&[0.9, 0.8, 0.7, 0.1], &[true, false, true, false]).unwrap();
        assert!((f1 - 0.8).abs() < 1e-12);
        assert_eq!(at, 0.7);
        // A tie between a positive and a negative can only be taken together: F1 = 2·1 / (2 + 1).
        let (f1, _) = best_f1(&[0.5, 0.5], &[true, false]).unwrap();
        assert!((f1 - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn rates_at_a_threshold() {
        let rates = rates_at(&[0.2, 0.6, 0.5, 0.9], &[false, false, true, true], 0.6);
        assert_eq!(
            rates,
            Rates {
                false_alarm: 0.5,
                miss: 0.5
            }
        );
    }

    #[test]
    fn pro_averages_regions_not_pixels() {
        // One 6×1 image: region A = pixels 1, 2; region B = pixel 4; good pixels 0, 3, 5.
        let mask = [false, true, true, false, true, false];
        let map = [0.6, 0.9, 0.5, 0.1, 0.7, 0.2];
        let sample = PixelSample {
            map: &map,
            mask: &mask,
            width: 6,
            height: 1,
        };
        // Above 0.7 and before any false positive, A is half covered and B fully: overlap ¾, held until
        // the first good pixel lifts the FPR to ⅓ (beyond 0.3), so the normalised area is ¾.
        let value = pro(&[sample], 0.3).unwrap();
        assert!((value - 0.75).abs() < 1e-12, "{value}");
    }
}
