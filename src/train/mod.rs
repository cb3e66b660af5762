// SPDX-License-Identifier: MIT OR Apache-2.0
//! Two-stage training on good images only. Backbone features are computed once and cached; stage 1 fits
//! the LayerNorms and flows by negative log-likelihood; stage 2 freezes them and fits the BMR mappers by
//! MSE in both directions. Residual units, the fusion weight and a provisional threshold come from the
//! good images last. [`train`] reads as that sequence; each phase is a function of [`phases`].

mod backbone;
mod phases;
mod repetition;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tch::{Device, nn};

use crate::config::{self, FlowConfig, ModelConfig};
use crate::detector::Detector;
use crate::device::DeviceSpec;
use crate::error::{Error, Result};
use crate::model::backbone::Lite;
use crate::model::{Domains, NfBmr};
use crate::modelfile;
use backbone::FrozenBackbone;

/// The backbone a model trains on unless told otherwise: on real photographs Lite1 ranks defects better
/// than Lite0, and scores a frame in 1.15× its time on a CPU (docs/quality.md, *Ninth measurement*).
pub const DEFAULT_LITE: Lite = Lite::Lite1;

/// Which frozen network defines the source domain.
#[derive(Clone, Debug)]
pub enum BackboneChoice {
    /// A native EfficientNet-Lite with converted ImageNet weights (a safetensors file; `None`: the weights
    /// cache that `scripts/setup.sh` fills), tapped at blocks `taps`.
    EfficientNetLite {
        lite: Lite,
        weights: Option<PathBuf>,
        taps: Vec<usize>,
    },
    /// A TorchScript module returning a list of feature maps; `taps` selects the maps that become scales
    /// (all of them when `None`).
    TorchScript {
        path: PathBuf,
        taps: Option<Vec<usize>>,
    },
}

impl Default for BackboneChoice {
    /// The default EfficientNet-Lite from the weights cache at its default blocks.
    fn default() -> Self {
        BackboneChoice::lite(DEFAULT_LITE)
    }
}

impl BackboneChoice {
    /// An EfficientNet-Lite from the weights cache at its default blocks.
    pub fn lite(lite: Lite) -> Self {
        BackboneChoice::EfficientNetLite {
            lite,
            weights: None,
            taps: lite.default_taps(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub backbone: BackboneChoice,
    /// Side of the square input the images are resized to.
    pub image_size: i64,
    pub flow: FlowConfig,
    /// Side of the window each backbone feature is averaged over (`ModelConfig::feature_pooling`).
    pub feature_pooling: i64,
    /// σ of the Gaussian noise added to the source domain while the flows train (0 = none).
    pub flow_noise: f64,
    pub flow_epochs: usize,
    pub mapper_epochs: usize,
    pub batch_size: usize,
    pub flow_learning_rate: f64,
    pub mapper_learning_rate: f64,
    pub weight_decay: f64,
    /// Gaussian blur of the anomaly map in pixels of the model input (0 = none).
    pub blur_sigma: f64,
    /// Fraction of the good images kept out of training to set the threshold.
    pub hold_out: f64,
    /// Target false-alarm rate of the threshold set from the held-out images.
    pub false_alarm_rate: f64,
    pub seed: u64,
    pub device: DeviceSpec,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            backbone: BackboneChoice::default(),
            image_size: 256,
            flow: FlowConfig::default(),
            feature_pooling: 3,
            flow_noise: 0.0,
            flow_epochs: 40,
            mapper_epochs: 40,
            batch_size: 16,
            flow_learning_rate: 1e-3,
            mapper_learning_rate: 1e-3,
            weight_decay: 1e-5,
            blur_sigma: 4.0,
            hold_out: 0.1,
            false_alarm_rate: 0.01,
            seed: 0,
            device: DeviceSpec::Auto,
        }
    }
}

/// Stages reported to a progress callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Features,
    Flows,
    Mappers,
    Thresholds,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Stage::Features => "backbone features",
            Stage::Flows => "stage 1: flows",
            Stage::Mappers => "stage 2: mappers",
            Stage::Thresholds => "threshold",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Progress {
    /// A stage starts with this many steps.
    Begin(Stage, u64),
    /// One step done; epochs carry their mean loss.
    Step(Option<f64>),
}

/// A trained model in memory.
pub struct TrainedModel {
    pub config: ModelConfig,
    pub tensors: Vec<(String, tch::Tensor)>,
}

impl TrainedModel {
    pub fn save(&self, path: &Path) -> Result<()> {
        modelfile::write(path, &self.config, &self.tensors)
    }

    /// A detector on `device` using these weights, exactly as if saved and loaded.
    pub fn detector(&self, device: Device) -> Result<Detector> {
        let tensors: HashMap<String, tch::Tensor> = self
            .tensors
            .iter()
            .map(|(name, t)| (name.clone(), t.shallow_clone()))
            .collect();
        Detector::from_tensors(
            self.config.clone(),
            tensors,
            "in-memory".into(),
            device,
            Path::new("<in memory>"),
        )
    }
}

/// Trains an NF-BMR model on good images.
pub fn train(
    images: &[PathBuf],
    options: &TrainOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<TrainedModel> {
    let started = Instant::now();
    if options.batch_size == 0 || options.image_size < 32 {
        return Err(Error::Input(
            "batch size must be positive and image size at least 32".into(),
        ));
    }
    if !config::feature_pooling_fits(options.feature_pooling) {
        return Err(Error::Input(format!(
            "feature pooling must be an odd window of 1 to {}, not {}",
            config::MAX_FEATURE_POOLING,
            options.feature_pooling
        )));
    }
    let device = options.device.resolve()?;
    // Every random draw below (split, initialisation, batches) comes from the seeded global generator.
    let rng = crate::model::lock_global_rng();
    tch::manual_seed(options.seed as i64);

    let split = phases::hold_out_split(images.len(), options.hold_out)?;
    let frozen = FrozenBackbone::load(&options.backbone, options.image_size, device)?;
    let features = phases::extract_features(
        &frozen,
        images,
        &split,
        options.image_size,
        device,
        progress,
    )?;
    let mut config = phases::initial_config(&frozen, &features.training, &split, options, device);
    config.training.held_out_twins =
        repetition::held_out_twins(&features.training[0], &features.held_out_finest);

    let mut flow_variables = nn::VarStore::new(device);
    let mapper_variables = nn::VarStore::new(device);
    let head = NfBmr::new(&flow_variables.root(), &mapper_variables.root(), &config);
    // Stage 1: LayerNorms and flows by negative log-likelihood.
    let rows = (split.training.len(), device);
    let training = &features.training;
    config.training.final_flow_loss = phases::fit(
        Stage::Flows,
        &flow_variables,
        rows,
        options,
        progress,
        |batch| head.flow_loss(&phases::select(training, batch), options.flow_noise),
    )?;
    flow_variables.freeze();
    // The domains are fixed from now on: compute them once.
    let domains = phases::domains(&head, training, options.batch_size);
    // Stage 2: mappers by MSE in both directions, in the source domain's whitened units.
    head.set_source_whitening(&domains);
    config.training.final_mapper_loss = phases::fit(
        Stage::Mappers,
        &mapper_variables,
        rows,
        options,
        progress,
        |batch| {
            let batch: Vec<Domains> = domains.iter().map(|d| d.index_select(batch)).collect();
            head.mapper_loss(&batch)
        },
    )?;
    phases::set_residual_units(&head, &domains, &mut config);
    config.backward_weight = phases::fusion_weight(&head, &domains, &config, options)?;

    let mut tensors = frozen.tensors;
    tensors.extend(phases::sorted_variables(&flow_variables));
    tensors.extend(phases::sorted_variables(&mapper_variables));
    let mut model = TrainedModel { config, tensors };

    drop(rng); // building the detector for the threshold takes the lock itself
    progress(Progress::Begin(Stage::Thresholds, 1));
    model.config.thresholds =
        phases::provisional_thresholds(&model, &head, &domains, &features.held_out, options)?;
    model.config.training.seconds = started.elapsed().as_secs_f64();
    progress(Progress::Step(None));
    Ok(model)
}

/// Weight of the backward direction in the fused map: the inverse ratio of the two directions' variances
/// of the image score on good images, each relative to its mean. The score is a maximum, and a direction
/// whose maximum wanders more on good images adds more noise than evidence to it (measured: backward, by
/// about twice the spread). Clamped to [0.1, 10] so that a noisy estimate from few images never silences
/// a direction; equal weights when neither varies.
pub fn backward_weight(forward_maxima: &[f64], backward_maxima: &[f64]) -> f64 {
    let relative_variance = |maxima: &[f64]| {
        let n = maxima.len() as f64;
        let mean = maxima.iter().sum::<f64>() / n;
        maxima.iter().map(|m| (m / mean - 1.0).powi(2)).sum::<f64>() / n
    };
    let weight = relative_variance(forward_maxima) / relative_variance(backward_maxima);
    if weight.is_nan() {
        1.0
    } else {
        weight.clamp(0.1, 10.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backward_weight_is_the_inverse_ratio_of_relative_variances() {
        // Forward maxima deviate ±½ from their mean (relative variance ¼); backward ones by −½, −½, 1, 0
        // (relative variance ⅜): weight ¼ / ⅜ = ⅔, whatever the scale of each direction.
        let forward = [1.0, 3.0];
        let backward = [10.0, 10.0, 40.0, 20.0];
        assert!((backward_weight(&forward, &backward) - 2.0 / 3.0).abs() < 1e-12);
        assert!((backward_weight(&backward, &forward) - 1.5).abs() < 1e-12);
        // A direction that never varies is clamped rather than trusted alone or ignored.
        assert_eq!(backward_weight(&forward, &[5.0, 5.0]), 10.0);
        assert_eq!(backward_weight(&[5.0, 5.0], &forward), 0.1);
        assert_eq!(backward_weight(&[5.0, 5.0], &[2.0, 2.0]), 1.0);
    }
}
