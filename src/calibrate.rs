// SPDX-License-Identifier: MIT OR Apache-2.0
//! Thresholds from good images only, for a target false-alarm rate.
//!
//! An image score is the maximum of an anomaly map over tens of thousands of pixels, and maxima of many
//! weakly dependent values follow a Gumbel distribution (extreme-value theory). Fitting one to the good
//! images' scores gives the threshold for a false-alarm rate far below 1/n, where the empirical quantile of
//! n images cannot reach (it never goes past the largest score seen). The fit is by maximum likelihood,
//! and an Anderson–Darling test, which weighs the tails, says when the scores do not look like a Gumbel
//! sample: a threshold extrapolated from a poor fit may miss its rate by far.
//!
//! The threshold allows for the fit's own uncertainty. The fitted quantile is right on average in score,
//! but the false-alarm rate is convex in the threshold, so thresholds fitted to a few scores give more
//! false alarms on average than their target: 2.7% for a 1% target from 10 scores, as training's hold-out
//! of 100 images has. The threshold is therefore placed where the rate *expected* over calibrations equals
//! the target (a calibrated prediction limit, Beran 1990).

use rand::distributions::Open01;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{TailFit, Thresholds};
use crate::error::{Error, Result};

mod batches;

pub use batches::{BatchCheck, check_batches};

/// Critical value of the Anderson–Darling statistic (small-sample corrected) for a Gumbel distribution with
/// both parameters estimated by maximum likelihood, at the 1% level (Stephens, 1977; as scipy's `anderson`):
/// above it, the good scores do not follow the tail model and the threshold's rate is not to be trusted.
const ANDERSON_DARLING_CRITICAL_1_PERCENT: f64 = 1.038;

/// Simulated calibrations behind the threshold's allowance for the fit: their Monte Carlo error moves the
/// expected rate by about 5% of itself with 10 scores, less with more.
const SIMULATED_CALIBRATIONS: usize = 4000;

/// The standard Gumbel law, from which every other is a shift and a stretch.
const STANDARD: Gumbel = Gumbel { mu: 0.0, beta: 1.0 };

/// A Gumbel (maximum) distribution with location `mu` and scale `beta`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gumbel {
    pub mu: f64,
    pub beta: f64,
}

impl Gumbel {
    /// Maximum-likelihood fit: β solves β = mean − Σ x·e^(−x/β) / Σ e^(−x/β) (one root, found by
    /// bisection), then μ = −β·ln(mean e^(−x/β)). `None` for fewer than two distinct samples.
    pub fn fit(samples: &[f64]) -> Option<Self> {
        let n = samples.len() as f64;
        let mean = samples.iter().sum::<f64>() / n;
        let lowest = samples.iter().copied().fold(f64::INFINITY, f64::min);
        let spread = mean - lowest;
        if samples.len() < 2 || !(spread > 0.0 && spread.is_finite()) {
            return None;
        }
        // Weights relative to the lowest sample, so that no exponential overflows.
        let weighted_mean = |beta: f64| {
            let (sum, weights) = samples.iter().fold((0.0, 0.0), |(sum, weights), &x| {
                let w = (-(x - lowest) / beta).exp();
                (sum + x * w, weights + w)
            });
            (sum / weights, weights / n)
        };
        // mean − weighted_mean(β) − β falls from `spread` at β → 0 to below 0 at β = spread.
        let (mut low, mut high) = (0.0, spread);
        for _ in 0..64 {
            let beta = 0.5 * (low + high);
            if mean - weighted_mean(beta).0 - beta > 0.0 {
                low = beta;
            } else {
                high = beta;
            }
        }
        let beta = 0.5 * (low + high);
        Some(Gumbel {
            mu: lowest - beta * weighted_mean(beta).1.ln(),
            beta,
        })
    }

    /// P(X ≤ x).
    pub fn cdf(&self, x: f64) -> f64 {
        (-(-(x - self.mu) / self.beta).exp()).exp()
    }

    /// P(X > x).
    pub fn exceedance(&self, x: f64) -> f64 {
        1.0 - self.cdf(x)
    }

    /// The x with P(X > x) = rate.
    pub fn quantile_exceeded_with(&self, rate: f64) -> f64 {
        self.mu - self.beta * (-(1.0 - rate).ln()).ln()
    }

    /// A draw from the distribution.
    fn sample(&self, rng: &mut impl Rng) -> f64 {
        let uniform: f64 = rng.sample(Open01);
        self.mu - self.beta * (-uniform.ln()).ln()
    }

    /// Anderson–Darling statistic of `samples` against this distribution, with the small-sample
    /// correction for fitted parameters: A²·(1 + 0.2/√n). It weighs the tails, where thresholds lie.
    pub fn anderson_darling(&self, samples: &[f64]) -> f64 {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let clamped = |p: f64| p.clamp(1e-300, 1.0 - 1e-16);
        let sum: f64 = (0..n)
            .map(|i| {
                let low = clamped(self.cdf(sorted[i]));
                let high = clamped(self.cdf(sorted[n - 1 - i]));
                (2 * i + 1) as f64 * (low.ln() + (1.0 - high).ln())
            })
            .sum();
        let statistic = -(n as f64) - sum / n as f64;
        statistic * (1.0 + 0.2 / (n as f64).sqrt())
    }
}

/// Thresholds for a target false-alarm rate from good-image scores (raw units). The pixel threshold equals
/// the image threshold, so a frame is flagged exactly when some pixel of its map is.
pub fn thresholds_for(scores: &[f64], false_alarm_rate: f64) -> Result<Thresholds> {
    if !(0.0 < false_alarm_rate && false_alarm_rate < 1.0) {
        return Err(Error::Input(format!(
            "false-alarm rate must be between 0 and 1, got {false_alarm_rate}"
        )));
    }
    let fit = fitted(scores)?;
    let scales = scales_above_location(scores.len(), false_alarm_rate);
    let threshold = fit.mu + fit.beta * scales;
    let anderson_darling = fit.anderson_darling(scores);
    let holds = anderson_darling <= ANDERSON_DARLING_CRITICAL_1_PERCENT;
    Ok(Thresholds {
        image: threshold,
        pixel: threshold,
        method: format!(
            "Gumbel fit (mu {:.4}, beta {:.4}; Anderson-Darling {anderson_darling:.2}, {}) to {} good \
             images, threshold mu + {scales:.3} beta for a false-alarm rate of {false_alarm_rate} expected \
             over the fit's uncertainty",
            fit.mu,
            fit.beta,
            if holds { "fits" } else { "poor fit" },
            scores.len()
        ),
        samples: scores.len(),
        false_alarm_rate: Some(false_alarm_rate),
        fit: Some(TailFit {
            anderson_darling,
            holds,
        }),
    })
}

/// The Gumbel fit to good scores, or why there is none.
fn fitted(scores: &[f64]) -> Result<Gumbel> {
    Gumbel::fit(scores).ok_or_else(|| {
        Error::Data(format!(
            "calibration needs at least 2 good images with differing scores, got {}",
            scores.len()
        ))
    })
}

/// Where the threshold lies, in scales β above the fitted location μ, so that the false-alarm rate expected
/// over calibrations on `n` good scores is `rate`. Tends to the fitted quantile's −ln(−ln(1 − rate)) as n
/// grows.
pub fn scales_above_location(n: usize, rate: f64) -> f64 {
    SimulatedCalibrations::new(n).scales_for(rate)
}

/// Gumbel fits to `n` draws of the standard law, many times over. Gumbel laws form a location-scale family,
/// so a fit's (μ̂ − μ)/β and β̂/β depend on n alone: what these calibrations do holds for every law, and is
/// computed once, deterministically.
struct SimulatedCalibrations {
    fits: Vec<Gumbel>,
}

impl SimulatedCalibrations {
    fn new(n: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(n as u64);
        let fits = (0..SIMULATED_CALIBRATIONS)
            .filter_map(|_| {
                let scores: Vec<f64> = (0..n).map(|_| STANDARD.sample(&mut rng)).collect();
                Gumbel::fit(&scores)
            })
            .collect();
        SimulatedCalibrations { fits }
    }

    /// The share of new scores each calibration's threshold μ̂ + scales·β̂ lets through.
    fn exceedances(&self, scales: f64) -> impl Iterator<Item = f64> + '_ {
        self.fits
            .iter()
            .map(move |fit| STANDARD.exceedance(fit.mu + fit.beta * scales))
    }

    /// The scales above location at which the rate expected over these calibrations is `rate`.
    fn scales_for(&self, rate: f64) -> f64 {
        let expected_rate =
            |scales: f64| self.exceedances(scales).sum::<f64>() / self.fits.len() as f64;
        // The expected rate falls as the threshold rises; with two or three scores it may stay above the
        // target far out, and the search stops at its upper end.
        let plug_in = STANDARD.quantile_exceeded_with(rate);
        let (mut low, mut high) = (plug_in - 10.0, plug_in + 40.0);
        for _ in 0..64 {
            let middle = 0.5 * (low + high);
            if expected_rate(middle) > rate {
                low = middle;
            } else {
                high = middle;
            }
        }
        0.5 * (low + high)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gumbel(mu, beta) samples at evenly spaced probabilities: deterministic and exactly distributed.
    fn gumbel_samples(mu: f64, beta: f64, n: usize) -> Vec<f64> {
        (1..=n)
            .map(|i| {
                let p = i as f64 / (n + 1) as f64;
                mu - beta * (-p.ln()).ln()
            })
            .collect()
    }

    #[test]
    fn the_fit_recovers_the_distribution_and_its_tail() {
        let samples = gumbel_samples(3.0, 0.5, 2000);
        let fit = Gumbel::fit(&samples).unwrap();
        assert!(
            (fit.mu - 3.0).abs() < 0.02 && (fit.beta - 0.5).abs() < 0.02,
            "{fit:?}"
        );
        let truth = Gumbel { mu: 3.0, beta: 0.5 };
        let t = fit.quantile_exceeded_with(0.001);
        assert!(
            (truth.exceedance(t) - 0.001).abs() < 0.0003,
            "{}",
            truth.exceedance(t)
        );
        assert!((fit.exceedance(fit.quantile_exceeded_with(0.05)) - 0.05).abs() < 1e-12);
    }

    #[test]
    fn the_fit_and_its_check_agree_with_scipy() {
        // scipy 1.17: stats.gumbel_r.fit(x) and stats.anderson(x, "gumbel_r").statistic, whose critical
        // value is 1.038 / (1 + 0.2/√n) on the uncorrected statistic.
        let scores = [0.61, 0.64, 0.66, 0.67, 0.69, 0.70, 0.72, 0.75, 0.79, 0.86];
        let fit = Gumbel::fit(&scores).unwrap();
        assert!((fit.mu - 0.676_332_66).abs() < 1e-6, "{fit:?}");
        assert!((fit.beta - 0.055_663_52).abs() < 1e-6, "{fit:?}");
        let corrected = 0.102_456_97 * (1.0 + 0.2 / 10f64.sqrt());
        assert!((fit.anderson_darling(&scores) - corrected).abs() < 1e-6);
        let thresholds = thresholds_for(&scores, 0.01).unwrap();
        assert!(thresholds.fit.unwrap().holds, "{}", thresholds.method);
    }

    #[test]
    fn scores_in_two_clusters_fail_the_check() {
        // Two kinds of good frame with their own score levels: no single Gumbel describes them.
        let scores: Vec<f64> = (0..20)
            .map(|i| if i < 10 { 1.0 } else { 2.0 } + (i % 10) as f64 * 0.001)
            .collect();
        let thresholds = thresholds_for(&scores, 0.01).unwrap();
        let fit = thresholds.fit.unwrap();
        assert!(!fit.holds && fit.anderson_darling > 3.0, "{fit:?}");
        assert!(
            thresholds.method.contains("poor fit"),
            "{}",
            thresholds.method
        );
        let warning = thresholds.fit_warning().unwrap();
        assert!(warning.contains("20 good scores"), "{warning}");
        // Gumbel-distributed scores pass, without a warning.
        let fitting = thresholds_for(&gumbel_samples(1.0, 0.1, 20), 0.01).unwrap();
        assert!(fitting.fit.unwrap().holds && fitting.fit_warning().is_none());
    }

    #[test]
    fn thresholds_from_few_scores_keep_their_rate_on_average() {
        // Calibrations on 10 good scores each, as training's hold-out of 100 images, drawn from a law the
        // threshold's own simulation never saw (other location, scale and seed).
        let truth = Gumbel { mu: 3.0, beta: 0.5 };
        let scales = scales_above_location(10, 0.01);
        let mut rng = ChaCha8Rng::seed_from_u64(2026);
        let calibrations = 4000;
        let (mut fitted_quantile, mut allowing) = (0.0, 0.0);
        for _ in 0..calibrations {
            let scores: Vec<f64> = (0..10).map(|_| truth.sample(&mut rng)).collect();
            let fit = Gumbel::fit(&scores).unwrap();
            fitted_quantile += truth.exceedance(fit.quantile_exceeded_with(0.01));
            allowing += truth.exceedance(fit.mu + fit.beta * scales);
        }
        let (fitted_quantile, allowing) = (
            fitted_quantile / calibrations as f64,
            allowing / calibrations as f64,
        );
        assert!(fitted_quantile > 0.02, "{fitted_quantile}");
        assert!((0.008..0.0125).contains(&allowing), "{allowing}");
        // thresholds_for places it there; with many scores the allowance all but vanishes.
        let scores: Vec<f64> = (0..10).map(|_| truth.sample(&mut rng)).collect();
        let fit = Gumbel::fit(&scores).unwrap();
        let threshold = thresholds_for(&scores, 0.01).unwrap().image;
        assert!((threshold - (fit.mu + fit.beta * scales)).abs() < 1e-12);
        let plug_in = -(-(0.99f64).ln()).ln();
        assert!(scales > plug_in + 1.0, "{scales}");
        assert!((scales_above_location(2000, 0.01) - plug_in).abs() < 0.05);
    }

    #[test]
    fn thresholds_go_beyond_the_sample_and_refuse_bad_input() {
        let samples = gumbel_samples(1.0, 0.2, 50);
        let largest = samples.iter().copied().fold(f64::MIN, f64::max);
        let t = thresholds_for(&samples, 0.001).unwrap();
        assert!(
            t.image > largest,
            "a rate below 1/50 needs a threshold above every sample"
        );
        assert_eq!(t.pixel, t.image);
        assert!(thresholds_for(&samples, 0.0).is_err());
        assert!(thresholds_for(&[1.0], 0.01).is_err());
        assert!(thresholds_for(&[1.0, 1.0], 0.01).is_err());
    }
}
