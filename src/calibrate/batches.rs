// SPDX-License-Identifier: MIT OR Apache-2.0
//! Whether good parts from several batches agree on one threshold.
//!
//! A threshold speaks for parts like the ones it was calibrated on. A batch that differs (another supplier,
//! other light, surface the rest never showed) can see far more false alarms than the target: on the
//! real-photograph sets, a lawn calibrated on surface without leaves flagged up to a quarter of the frames
//! that had one (docs/quality.md, *Tenth measurement*). So each batch is checked against the threshold that
//! the other batches alone give. Were all batches of one law, how many of its scores reach that threshold
//! follows from the same simulated calibrations that place it; a count that chance explains with less than
//! 1% probability says that this batch differs.

use super::{SimulatedCalibrations, fitted};
use crate::error::{Error, Result};

/// Below this chance of as many flagged scores, a batch is taken to differ from the others.
const SIGNIFICANCE: f64 = 0.01;

/// One batch of good images against the threshold calibrated on all the other batches.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchCheck {
    /// Its good images.
    pub images: usize,
    /// How many of them score at or above that threshold.
    pub flagged: usize,
    /// The threshold from the other batches (raw units).
    pub threshold: f64,
    /// The chance of `flagged` or more, were this batch's scores of the same law as the others'.
    pub chance: f64,
}

impl BatchCheck {
    /// Whether the batch flags more than chance explains.
    pub fn differs(&self) -> bool {
        self.chance < SIGNIFICANCE
    }
}

/// Each batch of good scores against the threshold for `false_alarm_rate` calibrated on the others.
pub fn check_batches(batches: &[Vec<f64>], false_alarm_rate: f64) -> Result<Vec<BatchCheck>> {
    if batches.len() < 2 {
        return Err(Error::Input(format!(
            "checking batches against each other needs two or more, got {}",
            batches.len()
        )));
    }
    (0..batches.len())
        .map(|index| {
            let others: Vec<f64> = batches
                .iter()
                .enumerate()
                .filter(|&(other, _)| other != index)
                .flat_map(|(_, batch)| batch.iter().copied())
                .collect();
            let fit = fitted(&others)?;
            let simulated = SimulatedCalibrations::new(others.len());
            let scales = simulated.scales_for(false_alarm_rate);
            let threshold = fit.mu + fit.beta * scales;
            let batch = &batches[index];
            let flagged = batch.iter().filter(|&&score| score >= threshold).count();
            Ok(BatchCheck {
                images: batch.len(),
                flagged,
                threshold,
                chance: chance_of_at_least(&simulated, scales, flagged, batch.len()),
            })
        })
        .collect()
}

/// The chance that `flagged` or more of `images` new scores reach the threshold μ̂ + scales·β̂ of a
/// calibration on scores of their own law: binomial for each simulated calibration's exceedance, averaged.
fn chance_of_at_least(
    simulated: &SimulatedCalibrations,
    scales: f64,
    flagged: usize,
    images: usize,
) -> f64 {
    let chances: Vec<f64> = simulated
        .exceedances(scales)
        .map(|exceedance| binomial_tail(flagged, images, exceedance))
        .collect();
    chances.iter().sum::<f64>() / chances.len() as f64
}

/// P(K ≥ at_least) for K ~ Binomial(trials, p), as the share of all outcomes' probability that lies at or
/// above it. The terms go by logarithms, so that no power of (1 − p) underflows, and a small tail is summed
/// itself rather than left as 1 minus the rest.
fn binomial_tail(at_least: usize, trials: usize, p: f64) -> f64 {
    if at_least == 0 || p >= 1.0 {
        return 1.0;
    }
    if p <= 0.0 || at_least > trials {
        return 0.0;
    }
    let log_ratio = (p / (1.0 - p)).ln();
    let mut log_term = trials as f64 * (-p).ln_1p();
    let (mut below, mut above) = (0.0, 0.0);
    for k in 0..=trials {
        if k < at_least {
            below += log_term.exp();
        } else {
            above += log_term.exp();
        }
        log_term += ((trials - k) as f64 / (k + 1) as f64).ln() + log_ratio;
    }
    above / (below + above)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::calibrate::Gumbel;

    fn draws(law: Gumbel, n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
        (0..n).map(|_| law.sample(rng)).collect()
    }

    #[test]
    fn binomial_tails_match_their_closed_forms() {
        // P(K ≥ 1) = 1 − (1 − p)^n; P(K ≥ n) = p^n; P(K ≥ 2) of Binomial(30, 0.01) from scipy 1.17.
        assert!((binomial_tail(1, 30, 0.01) - (1.0 - 0.99f64.powi(30))).abs() < 1e-12);
        assert!((binomial_tail(5, 5, 0.3) - 0.3f64.powi(5)).abs() < 1e-12);
        assert!((binomial_tail(2, 30, 0.01) - 0.036_147_998).abs() < 1e-8);
        assert_eq!(binomial_tail(0, 30, 0.2), 1.0);
        // Far beyond where (1 − p)^n underflows.
        assert!(binomial_tail(1, 5000, 0.4) > 0.999_999);
        assert!(binomial_tail(4000, 5000, 0.4) < 1e-100);
        assert_eq!(binomial_tail(31, 30, 0.5), 0.0);
    }

    #[test]
    fn batches_of_one_law_rarely_differ() {
        // A batch of 30 checked against the threshold from 60 others of its law, over many draws: the
        // share found to differ stays at the 1% the check allows, or below (counts are whole).
        let law = Gumbel { mu: 2.0, beta: 0.3 };
        let simulated = SimulatedCalibrations::new(60);
        let scales = simulated.scales_for(0.01);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let trials = 2000;
        let differing = (0..trials)
            .filter(|_| {
                let fit = Gumbel::fit(&draws(law, 60, &mut rng)).unwrap();
                let threshold = fit.mu + fit.beta * scales;
                let flagged = draws(law, 30, &mut rng)
                    .into_iter()
                    .filter(|&score| score >= threshold)
                    .count();
                chance_of_at_least(&simulated, scales, flagged, 30) < SIGNIFICANCE
            })
            .count();
        assert!(differing as f64 / (trials as f64) < 0.015, "{differing}");
    }

    #[test]
    fn a_batch_that_scores_higher_is_found() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let law = Gumbel { mu: 1.0, beta: 0.1 };
        // The third batch's good parts score three scales higher: a leaf the others never showed.
        let shifted = Gumbel { mu: 1.3, beta: 0.1 };
        let batches = vec![
            draws(law, 30, &mut rng),
            draws(law, 30, &mut rng),
            draws(shifted, 30, &mut rng),
        ];
        let checks = check_batches(&batches, 0.01).unwrap();
        assert!(checks[2].differs() && checks[2].flagged >= 3, "{checks:?}");
        assert!(
            checks[..2].iter().all(|check| !check.differs()),
            "{checks:?}"
        );
        assert!(checks.iter().all(|check| check.images == 30));
        // Without it, the first two agree.
        let agreeing = check_batches(&batches[..2], 0.01).unwrap();
        assert!(
            agreeing.iter().all(|check| !check.differs()),
            "{agreeing:?}"
        );
        assert!(check_batches(&batches[..1], 0.01).is_err());
    }
}
