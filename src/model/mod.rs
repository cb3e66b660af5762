// SPDX-License-Identifier: MIT OR Apache-2.0
//! NF-BMR (Zhang et al., "A Normalizing Flow-Based Bidirectional Mapping Residual Network for Unsupervised
//! Defect Detection", Computers, Materials & Continua 78(2), 2024): per scale, a trainable LayerNorm turns
//! frozen backbone features into the source domain S, a normalizing flow turns S into the target domain T,
//! and the BMR mappers predict each domain from the other. Their residuals are the anomaly evidence.
//! docs/model.md records how this reconstruction was made.

pub mod backbone;
pub(crate) mod bmr;
mod conv;
mod flow;

use std::sync::{Mutex, MutexGuard};

use tch::{Kind, Tensor, nn};

use crate::config::ModelConfig;
use bmr::Bmr;
pub(crate) use flow::FoldedFlow;
use flow::{Flow, Fold};

/// libtorch has one global random generator. Whoever seeds it or builds modules (whose initialisation
/// draws from it) holds this lock, so that a seeded training is reproducible even while other threads
/// of the process load detectors or train.
static GLOBAL_RNG: Mutex<()> = Mutex::new(());

pub(crate) fn lock_global_rng() -> MutexGuard<'static, ()> {
    GLOBAL_RNG
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug)]
struct Scale<F> {
    norm: nn::LayerNorm,
    flow: F,
    bmr: Bmr,
}

/// The two domains of one scale.
pub(crate) struct Domains {
    /// S = LayerNorm(F).
    pub source: Tensor,
    /// T = flow(S).
    pub target: Tensor,
}

impl Domains {
    /// The domains of the images at `rows` (an Int64 index tensor) of a batch.
    pub fn index_select(&self, rows: &Tensor) -> Domains {
        Domains {
            source: self.source.index_select(0, rows),
            target: self.target.index_select(0, rows),
        }
    }
}

/// Per-position squared mapping errors of one scale, each [B, 1, h, w].
pub(crate) struct Residuals {
    /// Target-domain residual mean_c (M_f(S̃) − T)², divided by its training mean at the position; S̃ is S
    /// whitened by its training channel statistics.
    pub forward: Tensor,
    /// Source-domain residual mean_c (M_b(T) − S̃)², divided by its training mean at the position.
    pub backward: Tensor,
}

/// The trainable part of NF-BMR: LayerNorms and flows under `flow_root` (`norms.k`, `flows.k`), mappers
/// under `bmr_root` (`bmr.k`). Two roots so that training can optimise and freeze them separately. For
/// inference, [`NfBmr::folded`] reduces the flows (`F`) and mappers to fewer kernels computing the same.
#[derive(Debug)]
pub(crate) struct NfBmr<F = Flow> {
    scales: Vec<Scale<F>>,
    /// The window features are averaged over before the LayerNorm (`ModelConfig::feature_pooling`).
    feature_pooling: i64,
}

impl<F: nn::Module + Fold> NfBmr<F> {
    /// Source and target domains for backbone features, one entry per scale.
    pub fn domains(&self, features: &[Tensor]) -> Vec<Domains> {
        self.scales
            .iter()
            .zip(features)
            .map(|(scale, feature)| {
                let source = self.source(scale, feature);
                let target = source.apply(&scale.flow);
                Domains { source, target }
            })
            .collect()
    }

    /// The source domain S of one scale's backbone features.
    fn source(&self, scale: &Scale<F>, feature: &Tensor) -> Tensor {
        let side = self.feature_pooling;
        let pooled = if side > 1 {
            let reach = side / 2;
            // count_include_pad false: a border position averages the neighbours that exist.
            feature.avg_pool2d(
                [side, side],
                [1, 1],
                [reach, reach],
                false,
                false,
                None::<i64>,
            )
        } else {
            feature.shallow_clone()
        };
        pooled.apply(&scale.norm)
    }

    /// Mapping residuals for given domains; `train` switches the mappers' BatchNorm to batch statistics.
    pub fn residuals(&self, domains: &[Domains], train: bool) -> Vec<Residuals> {
        self.scales
            .iter()
            .zip(domains)
            .map(|(scale, d)| {
                let (forward, backward) = scale.bmr.residuals(&d.source, &d.target, train);
                Residuals { forward, backward }
            })
            .collect()
    }

    /// The model for inference in `kind`: mappers' BatchNorms and flows' constants folded into their
    /// convolutions. The LayerNorms and the mappers' statistics stay shared with the variables, to be cast
    /// with them. Call under `no_grad`.
    pub fn folded(self, kind: Kind) -> NfBmr<FoldedFlow> {
        let scales = self
            .scales
            .into_iter()
            .map(|scale| Scale {
                flow: scale.flow.folded(kind),
                bmr: scale.bmr.folded(kind),
                norm: scale.norm,
            })
            .collect();
        NfBmr {
            scales,
            feature_pooling: self.feature_pooling,
        }
    }
}

impl NfBmr {
    pub fn new(flow_root: &nn::Path, bmr_root: &nn::Path, config: &ModelConfig) -> Self {
        let scales = config
            .scales
            .iter()
            .enumerate()
            .map(|(k, scale)| Scale {
                norm: nn::layer_norm(
                    flow_root / "norms" / k,
                    vec![scale.channels, scale.height, scale.width],
                    Default::default(),
                ),
                flow: Flow::new(&(flow_root / "flows" / k), scale.channels, &config.flow),
                bmr: Bmr::new(
                    &(bmr_root / "bmr" / k),
                    scale.channels,
                    scale.height,
                    scale.width,
                    scale.mapper_latent,
                ),
            })
            .collect();
        NfBmr {
            scales,
            feature_pooling: config.feature_pooling,
        }
    }

    /// Stage-1 objective: the flows' negative log-likelihood per dimension, summed over scales, of the source
    /// domain with Gaussian noise of σ `noise` added (none at 0). The noise keeps a flow from learning the
    /// training surface itself, which matters when the images are many views of a few parts: new parts then
    /// score higher than held-out views of the trained ones, and a threshold set on those raises false alarms.
    pub fn flow_loss(&self, features: &[Tensor], noise: f64) -> Tensor {
        self.scales
            .iter()
            .zip(features)
            .map(|(scale, feature)| {
                let source = self.source(scale, feature);
                let source = if noise > 0.0 {
                    &source + source.randn_like() * noise
                } else {
                    source
                };
                let (z, log_det) = scale.flow.forward_with_log_det(&source);
                flow::nll_per_dim(&z, &log_det)
            })
            .fold(Tensor::from(0f32), |acc, loss| acc + loss)
    }

    /// Sets the mappers' source whitening from the training domains (before stage 2).
    pub fn set_source_whitening(&self, domains: &[Domains]) {
        for (scale, d) in self.scales.iter().zip(domains) {
            scale.bmr.set_source_whitening(&d.source);
        }
    }

    /// Sets the mappers' position units from the training domains (after stage 2).
    pub fn set_position_units(&self, domains: &[Domains]) {
        for (scale, d) in self.scales.iter().zip(domains) {
            scale.bmr.set_position_units(&d.source, &d.target);
        }
    }

    /// Stage-2 objective: mean squared error of both mapping directions, summed over scales.
    pub fn mapper_loss(&self, domains: &[Domains]) -> Tensor {
        self.residuals(domains, true)
            .iter()
            .map(|r| r.forward.mean(Kind::Float) + r.backward.mean(Kind::Float))
            .fold(Tensor::from(0f32), |acc, loss| acc + loss)
    }
}
