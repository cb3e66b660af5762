// SPDX-License-Identifier: MIT OR Apache-2.0
//! The normalizing flow that builds the target domain: a FastFlow-style 2D flow (Yu et al., "FastFlow:
//! Unsupervised Anomaly Detection and Localization via 2D Normalizing Flows", arXiv 2111.07677) made of
//! affine coupling steps equivalent to FrEIA's `AllInOneBlock`: coupling on a channel split with soft-clamped
//! log-scales, a learned global affine, then a fixed channel permutation. Spatial layout is preserved, so the
//! latent aligns with the source features position by position.

use std::f64::consts::PI;

use tch::{Kind, Tensor, nn};

use super::conv::Conv;
use crate::config::FlowConfig;

/// FrEIA scales the subnet output down so that an untrained flow starts close to the identity.
const SUBNET_OUTPUT_SCALE: f64 = 0.1;

#[derive(Debug)]
struct CouplingStep {
    /// The subnet, named like torch.nn.Sequential(conv, ReLU, conv).
    first: Conv,
    last: Conv,
    global_log_scale: Tensor,
    global_offset: Tensor,
    permutation: Tensor,
    /// Channels passed through unchanged (the conditioning half).
    split: i64,
    clamp: f64,
}

impl CouplingStep {
    fn new(p: nn::Path, channels: i64, kernel: i64, config: &FlowConfig) -> Self {
        let split = channels / 2;
        let transformed = channels - split;
        let hidden = ((channels as f64 * config.hidden_ratio).round() as i64).max(1);
        let first = Conv::new(&p / "subnet" / 0, split, hidden, kernel, true);
        let last = Conv::new(&p / "subnet" / 2, hidden, 2 * transformed, kernel, true);
        let global_log_scale = p.zeros("global_log_scale", &[channels]);
        let global_offset = p.zeros("global_offset", &[channels]);
        // A fixed random permutation, stored with the model so that files never depend on an RNG.
        let permutation = p.add(
            "permutation",
            Tensor::randperm(channels, (Kind::Int64, p.device())),
            false,
        );
        CouplingStep {
            first,
            last,
            global_log_scale,
            global_offset,
            permutation,
            split,
            clamp: config.clamp,
        }
    }

    /// Log-scale and shift for the transformed half, from the conditioning half.
    fn coefficients(&self, condition: &Tensor) -> (Tensor, Tensor) {
        let out = condition.apply(&self.first).relu().apply(&self.last) * SUBNET_OUTPUT_SCALE;
        let halves = out.chunk(2, 1);
        let log_scale = (&halves[0] / self.clamp).atan() * (self.clamp * 2.0 / PI);
        (log_scale, halves[1].shallow_clone())
    }

    fn global_scale(&self) -> (Tensor, Tensor) {
        (
            self.global_log_scale.exp().view([1, -1, 1, 1]),
            self.global_offset.view([1, -1, 1, 1]),
        )
    }

    /// The step's output and its per-element coupling log-scales (whose sum, with the global scale's,
    /// is the log-determinant).
    fn forward(&self, xs: &Tensor) -> (Tensor, Tensor) {
        let channels = xs.size()[1];
        let (x1, x2) = (
            xs.narrow(1, 0, self.split),
            xs.narrow(1, self.split, channels - self.split),
        );
        let (log_scale, shift) = self.coefficients(&x1);
        let y2 = x2 * log_scale.exp() + shift;
        let (scale, offset) = self.global_scale();
        let ys = (Tensor::cat(&[x1, y2], 1) * scale + offset).index_select(1, &self.permutation);
        (ys, log_scale)
    }

    /// The step with the subnet's output scale, the clamp's divisor and the transformed half's global affine
    /// folded into the last convolution's output channels: a ← a · 0.1/c, s ← (s · 0.1) · exp(g₂) + o₂.
    fn folded(&self, kind: Kind) -> FoldedStep {
        let channels = self.global_log_scale.size()[0];
        let transformed = channels - self.split;
        let (kept_log_scale, transformed_log_scale) = (
            self.global_log_scale.narrow(0, 0, self.split),
            self.global_log_scale.narrow(0, self.split, transformed),
        );
        let (kept_offset, transformed_offset) = (
            self.global_offset.narrow(0, 0, self.split),
            self.global_offset.narrow(0, self.split, transformed),
        );
        let output_scale = Tensor::cat(
            &[
                transformed_log_scale.ones_like() * (SUBNET_OUTPUT_SCALE / self.clamp),
                transformed_log_scale.exp() * SUBNET_OUTPUT_SCALE,
            ],
            0,
        );
        let output_shift = Tensor::cat(&[transformed_offset.zeros_like(), transformed_offset], 0);
        let column = |t: Tensor| t.view([1, -1, 1, 1]).to_kind(kind);
        FoldedStep {
            first: self.first.to_kind(kind),
            last: self.last.scaled(&output_scale, &output_shift, kind),
            transformed_log_scale: column(transformed_log_scale),
            kept_scale: column(kept_log_scale.exp()),
            kept_offset: column(kept_offset),
            permutation: self.permutation.shallow_clone(),
            split: self.split,
            log_scale_range: self.clamp * 2.0 / PI,
        }
    }

    fn log_det(&self, log_scale: &Tensor) -> Tensor {
        let positions = (log_scale.size()[2] * log_scale.size()[3]) as f64;
        log_scale.sum_dim_intlist([1, 2, 3].as_slice(), false, Kind::Float)
            + self.global_log_scale.sum(Kind::Float) * positions
    }

    // Detection only maps S to T; the inverse exists to test that the flow is a bijection.
    #[cfg(test)]
    fn inverse(&self, ys: &Tensor) -> Tensor {
        let channels = ys.size()[1];
        let (scale, offset) = self.global_scale();
        let inverse_permutation = self.permutation.argsort(0, false);
        let ys = (ys.index_select(1, &inverse_permutation) - offset) / scale;
        let (y1, y2) = (
            ys.narrow(1, 0, self.split),
            ys.narrow(1, self.split, channels - self.split),
        );
        let (log_scale, shift) = self.coefficients(&y1);
        let x2 = (y2 - shift) * (-log_scale).exp();
        Tensor::cat(&[y1, x2], 1)
    }
}

/// One scale's flow: `steps` coupling steps whose subnets alternate 3×3 and 1×1 kernels.
#[derive(Debug)]
pub struct Flow {
    steps: Vec<CouplingStep>,
}

impl Flow {
    pub fn new(p: &nn::Path, channels: i64, config: &FlowConfig) -> Self {
        let steps = (0..config.steps)
            .map(|i| {
                let kernel = if i % 2 == 0 { 3 } else { 1 };
                CouplingStep::new(p / "steps" / i, channels, kernel, config)
            })
            .collect();
        Flow { steps }
    }

    /// Latent z and log|det ∂z/∂x| per sample, for training.
    pub fn forward_with_log_det(&self, xs: &Tensor) -> (Tensor, Tensor) {
        let batch = xs.size()[0];
        let mut log_det = Tensor::zeros([batch], (Kind::Float, xs.device()));
        let mut z = xs.shallow_clone();
        for step in &self.steps {
            let (next, log_scale) = step.forward(&z);
            log_det += step.log_det(&log_scale);
            z = next;
        }
        (z, log_det)
    }

    #[cfg(test)]
    pub fn inverse(&self, zs: &Tensor) -> Tensor {
        self.steps
            .iter()
            .rev()
            .fold(zs.shallow_clone(), |x, step| step.inverse(&x))
    }
}

/// A flow that can be reduced for inference in a number format.
pub trait Fold {
    /// This flow for inference in `kind`, its constants folded. Call under `no_grad`.
    fn folded(&self, kind: Kind) -> FoldedFlow;
}

impl Fold for Flow {
    fn folded(&self, kind: Kind) -> FoldedFlow {
        FoldedFlow {
            steps: self.steps.iter().map(|step| step.folded(kind)).collect(),
        }
    }
}

/// Latent z.
impl nn::Module for Flow {
    fn forward(&self, xs: &Tensor) -> Tensor {
        self.steps
            .iter()
            .fold(xs.shallow_clone(), |x, step| step.forward(&x).0)
    }
}

/// A flow reduced for inference: it maps S to T as [`Flow`] does, in fewer passes over memory.
#[derive(Debug)]
pub struct FoldedFlow {
    steps: Vec<FoldedStep>,
}

/// Already folded: the same flow in `kind`.
impl Fold for FoldedFlow {
    fn folded(&self, kind: Kind) -> FoldedFlow {
        FoldedFlow {
            steps: self.steps.iter().map(|step| step.to_kind(kind)).collect(),
        }
    }
}

impl nn::Module for FoldedFlow {
    fn forward(&self, xs: &Tensor) -> Tensor {
        self.steps
            .iter()
            .fold(xs.shallow_clone(), |x, step| step.forward(&x))
    }
}

/// A coupling step with its constants folded: the subnet's output scale, the clamp's divisor and the
/// transformed half's global affine live in the subnet's last convolution, so that the step is
/// y₂ = x₂ · exp(atan(a) · 2c/π + g₂) + s and y₁ = x₁ · exp(g₁) + o₁, each one pass.
#[derive(Debug)]
struct FoldedStep {
    first: Conv,
    last: Conv,
    /// The transformed half's global log-scale g₂ [1, C₂, 1, 1].
    transformed_log_scale: Tensor,
    /// The conditioning half's global scale exp(g₁) and offset o₁ [1, C₁, 1, 1].
    kept_scale: Tensor,
    kept_offset: Tensor,
    permutation: Tensor,
    split: i64,
    /// 2c/π: atan's range onto the clamp's.
    log_scale_range: f64,
}

impl FoldedStep {
    fn forward(&self, xs: &Tensor) -> Tensor {
        let channels = xs.size()[1];
        let (x1, x2) = (
            xs.narrow(1, 0, self.split),
            xs.narrow(1, self.split, channels - self.split),
        );
        let mut hidden = x1.apply(&self.first);
        let _ = hidden.relu_();
        let halves = hidden.apply(&self.last).chunk(2, 1);
        // One temporary, updated in place: the coupling's scale times the global one.
        let mut scale = halves[0].atan();
        let _ = scale
            .g_mul_scalar_(self.log_scale_range)
            .g_add_(&self.transformed_log_scale)
            .exp_();
        let y2 = halves[1].addcmul(&x2, &scale);
        let y1 = self.kept_offset.addcmul(&x1, &self.kept_scale);
        Tensor::cat(&[y1, y2], 1).index_select(1, &self.permutation)
    }

    fn to_kind(&self, kind: Kind) -> FoldedStep {
        FoldedStep {
            first: self.first.to_kind(kind),
            last: self.last.to_kind(kind),
            transformed_log_scale: self.transformed_log_scale.to_kind(kind),
            kept_scale: self.kept_scale.to_kind(kind),
            kept_offset: self.kept_offset.to_kind(kind),
            permutation: self.permutation.shallow_clone(),
            ..*self
        }
    }
}

/// Negative log-likelihood per dimension under a standard normal latent, averaged over the batch.
pub fn nll_per_dim(z: &Tensor, log_det: &Tensor) -> Tensor {
    let dims = (z.numel() / z.size()[0] as usize) as f64;
    let half_norm = z
        .square()
        .sum_dim_intlist([1, 2, 3].as_slice(), false, Kind::Float)
        * 0.5;
    ((half_norm - log_det) / dims).mean(Kind::Float)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;
    use tch::nn::Module;

    fn tiny_flow(vs: &nn::VarStore, channels: i64) -> Flow {
        let flow = Flow::new(&vs.root(), channels, &FlowConfig::default());
        // Move every parameter away from its identity-like initialisation so the test exercises real maps.
        tch::no_grad(|| {
            for (name, mut var) in vs.variables() {
                if !name.ends_with("permutation") {
                    let _ = var.g_add_(&(var.randn_like() * 0.3));
                }
            }
        });
        flow
    }

    #[test]
    fn inverse_undoes_forward() {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let flow = tiny_flow(&vs, 5);
        let xs = Tensor::randn([2, 5, 4, 3], (Kind::Float, Device::Cpu));
        let (z, _) = flow.forward_with_log_det(&xs);
        assert!(z.equal(&flow.forward(&xs)));
        let back = flow.inverse(&z);
        let error = (back - &xs).abs().max().double_value(&[]);
        assert!(error < 1e-5, "reconstruction error {error}");
        assert!(
            (z - xs).abs().max().double_value(&[]) > 1e-2,
            "flow is the identity"
        );
    }

    #[test]
    fn the_folded_flow_maps_as_the_flow() {
        tch::manual_seed(4);
        let vs = nn::VarStore::new(Device::Cpu);
        let flow = tiny_flow(&vs, 7);
        let xs = Tensor::randn([2, 7, 5, 4], (Kind::Float, Device::Cpu));
        let (plain, folded) =
            tch::no_grad(|| (flow.forward(&xs), flow.folded(Kind::Float).forward(&xs)));
        let error = (&plain - folded).abs().max().double_value(&[]);
        let peak = plain.abs().max().double_value(&[]);
        assert!(
            error < 1e-5 * peak,
            "error {error} against a peak of {peak}"
        );
    }

    #[test]
    fn log_det_matches_the_numerical_jacobian() {
        tch::manual_seed(5);
        let mut vs = nn::VarStore::new(Device::Cpu);
        let flow = tiny_flow(&vs, 3);
        vs.double(); // finite differences need double precision
        let shape = [1i64, 3, 2, 2];
        let dims = 12;
        let x = Tensor::randn(shape, (Kind::Double, Device::Cpu));
        let (_, log_det) = flow.forward_with_log_det(&x);
        let eps = 1e-6;
        let mut columns = Vec::with_capacity(dims);
        for i in 0..dims {
            let delta = Tensor::zeros([dims as i64], (Kind::Double, Device::Cpu));
            let _ = delta.get(i as i64).fill_(eps);
            let delta = delta.view(shape);
            let plus = flow.forward(&(&x + &delta));
            let minus = flow.forward(&(&x - &delta));
            columns.push(((plus - minus) / (2.0 * eps)).view([dims as i64]));
        }
        let jacobian = Tensor::stack(&columns, 1);
        let numeric = Tensor::linalg_slogdet(&jacobian).1.double_value(&[]);
        let analytic = log_det.double_value(&[0]);
        assert!(
            (numeric - analytic).abs() < 1e-5,
            "numeric {numeric} vs analytic {analytic}"
        );
    }
}
