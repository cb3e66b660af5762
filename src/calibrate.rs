// SPDX-License-Identifier: MIT OR Apache-2.0
//! Thresholds from good images only, for a target false-alarm rate.
//!
//! An image score is the maximum of an anomaly map over tens of thousands of pixels, and maxima of many
//! weakly dependent values follow a Gumbel distribution (extreme-value theory). Fitting one to the good
//! images' scores gives the threshold for a false-alarm rate far below 1/n, where the empirical quantile of
//! n images cannot reach (it never goes past the largest score seen).

use crate::config::Thresholds;
use crate::error::{Error, Result};

/// Euler–Mascheroni constant: the mean of a standard Gumbel variable.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// A Gumbel (maximum) distribution with location `mu` and scale `beta`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gumbel {
    pub mu: f64,
    pub beta: f64,
}

impl Gumbel {
    /// Method-of-moments fit: β = s·√6/π, μ = mean − γ·β.
    pub fn fit(samples: &[f64]) -> Option<Self> {
        let n = samples.len() as f64;
        if samples.len() < 2 {
            return None;
        }
        let mean = samples.iter().sum::<f64>() / n;
        let variance = samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let beta = variance.sqrt() * 6f64.sqrt() / std::f64::consts::PI;
        (beta > 0.0 && beta.is_finite()).then_some(Gumbel {
            mu: mean - EULER_GAMMA * beta,
            beta,
        })
    }

    /// P(X > x).
    pub fn exceedance(&self, x: f64) -> f64 {
        1.0 - (-(-(x - self.mu) / self.beta).exp()).exp()
    }

    /// The x with P(X > x) = rate.
    pub fn quantile_exceeded_with(&self, rate: f64) -> f64 {
        self.mu - self.beta * (-(1.0 - rate).ln()).ln()
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
    let fit = Gumbel::fit(scores).ok_or_else(|| {
        Error::Data(format!(
            "calibration needs at least 2 good images with differing scores, got {}",
            scores.len()
        ))
    })?;
    let threshold = fit.quantile_exceeded_with(false_alarm_rate);
    Ok(Thresholds {
        image: threshold,
        pixel: threshold,
        method: format!(
            "Gumbel fit (mu {:.4}, beta {:.4}) to {} good images, false-alarm rate {false_alarm_rate}",
            fit.mu,
            fit.beta,
            scores.len()
        ),
        samples: scores.len(),
    })
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
