// SPDX-License-Identifier: MIT OR Apache-2.0
//! Two-stage training on good images only. Backbone features are computed once and cached; stage 1 fits
//! the LayerNorms and flows by negative log-likelihood; stage 2 freezes them and fits the BMR mappers by
//! MSE in both directions. Residual statistics and a provisional threshold come from the good images last.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use crate::anomaly::{self, GaussianBlur, ScoreMode};
use crate::calibrate;
use crate::config::{
    BackboneConfig, FORMAT_VERSION, FlowConfig, ModelConfig, ScaleConfig, Thresholds,
    TrainingSummary,
};
use crate::detector::{Detector, TORCHSCRIPT_TENSOR};
use crate::device::{DeviceSpec, device_name};
use crate::error::{Error, Result};
use crate::frame;
use crate::model::backbone::{self, Backbone, EfficientNetLite};
use crate::model::{Domains, NfBmr, bmr};
use crate::modelfile;

/// Which frozen network defines the source domain.
#[derive(Clone, Debug)]
pub enum BackboneChoice {
    /// Native EfficientNet-Lite0 with converted ImageNet weights (a safetensors file).
    EfficientNetLite0 { weights: PathBuf, taps: Vec<usize> },
    /// A TorchScript module returning a list of feature maps; `taps` selects the maps that become scales
    /// (all of them when `None`).
    TorchScript {
        path: PathBuf,
        taps: Option<Vec<usize>>,
    },
}

#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub backbone: BackboneChoice,
    pub image_size: i64,
    pub flow: FlowConfig,
    pub flow_epochs: usize,
    pub mapper_epochs: usize,
    pub batch_size: usize,
    pub flow_learning_rate: f64,
    pub mapper_learning_rate: f64,
    pub weight_decay: f64,
    pub blur_sigma: f64,
    /// Fraction of the good images kept out of training to set the threshold.
    pub hold_out: f64,
    /// Target false-alarm rate of the threshold set from the held-out images.
    pub false_alarm_rate: f64,
    pub seed: u64,
    pub device: DeviceSpec,
}

impl TrainOptions {
    /// The defaults, with the given backbone.
    pub fn new(backbone: BackboneChoice) -> Self {
        TrainOptions {
            backbone,
            image_size: 256,
            flow: FlowConfig::default(),
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
    pub tensors: Vec<(String, Tensor)>,
}

impl TrainedModel {
    pub fn save(&self, path: &Path) -> Result<()> {
        modelfile::write(path, &self.config, &self.tensors)
    }

    /// A detector on `device` using these weights, exactly as if saved and loaded.
    pub fn detector(&self, device: Device) -> Result<Detector> {
        let tensors: HashMap<String, Tensor> = self
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

/// The frozen backbone with the names its tensors are saved under.
struct FrozenBackbone {
    backbone: Backbone,
    taps: Vec<usize>,
    id: &'static str,
    mean: [f64; 3],
    std: [f64; 3],
    tensors: Vec<(String, Tensor)>,
    _variables: nn::VarStore,
}

fn load_backbone(
    choice: &BackboneChoice,
    image_size: i64,
    device: Device,
) -> Result<FrozenBackbone> {
    let mut variables = nn::VarStore::new(device);
    match choice {
        BackboneChoice::EfficientNetLite0 { weights, taps } => {
            let net = EfficientNetLite::features(&(variables.root() / "backbone"), taps)?;
            let checkpoint: HashMap<String, Tensor> = modelfile::read_checkpoint(weights)?
                .into_iter()
                .map(|(name, t)| (format!("backbone.{name}"), t))
                .collect();
            modelfile::bind(&variables, &checkpoint, true, weights)?;
            variables.freeze();
            let tensors = sorted_variables(&variables);
            Ok(FrozenBackbone {
                backbone: Backbone::EfficientNetLite(Box::new(net)),
                taps: taps.clone(),
                id: backbone::EFFICIENTNET_LITE0,
                mean: backbone::LITE_MEAN,
                std: backbone::LITE_STD,
                tensors,
                _variables: variables,
            })
        }
        BackboneChoice::TorchScript { path, taps } => {
            let bytes = std::fs::read(path).map_err(|e| {
                Error::io(
                    format!("reading TorchScript backbone {}", path.display()),
                    e,
                )
            })?;
            let mut backbone = Backbone::torchscript(&bytes, vec![], device)?;
            let blank = Tensor::zeros([1, 3, image_size, image_size], (Kind::Float, device));
            let count = tch::no_grad(|| backbone.features(&blank))?.len();
            if count == 0 {
                return Err(Error::Backbone(
                    "TorchScript backbone returned no feature maps".into(),
                ));
            }
            let wanted = taps.clone().unwrap_or_else(|| (0..count).collect());
            if let Some(&missing) = wanted.iter().find(|&&i| i >= count) {
                return Err(Error::Backbone(format!(
                    "TorchScript backbone returns {count} feature maps, map {missing} requested"
                )));
            }
            if let Backbone::TorchScript { taps, .. } = &mut backbone {
                taps.clone_from(&wanted);
            }
            Ok(FrozenBackbone {
                backbone,
                taps: wanted,
                id: backbone::TORCHSCRIPT,
                mean: backbone::IMAGENET_MEAN,
                std: backbone::IMAGENET_STD,
                tensors: vec![(TORCHSCRIPT_TENSOR.to_string(), Tensor::from_slice(&bytes))],
                _variables: variables,
            })
        }
    }
}

fn sorted_variables(variables: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut named: Vec<(String, Tensor)> = variables.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

/// Batches of row indices of a shuffled [0, n).
fn shuffled_batches(n: usize, batch_size: usize, device: Device) -> Vec<Tensor> {
    let order = Tensor::randperm(n as i64, (Kind::Int64, Device::Cpu));
    (0..n)
        .step_by(batch_size)
        .map(|start| {
            order
                .narrow(0, start as i64, batch_size.min(n - start) as i64)
                .to_device(device)
        })
        .collect()
}

fn select(tensors: &[Tensor], rows: &Tensor) -> Vec<Tensor> {
    tensors.iter().map(|t| t.index_select(0, rows)).collect()
}

/// Row ranges of [0, n) in chunks, for batched inference.
fn chunks(n: usize, size: usize) -> impl Iterator<Item = (i64, i64)> {
    (0..n)
        .step_by(size)
        .map(move |start| (start as i64, size.min(n - start) as i64))
}

fn check_finite(loss: f64, stage: Stage) -> Result<f64> {
    if loss.is_finite() {
        Ok(loss)
    } else {
        Err(Error::Data(format!(
            "training diverged in {} (loss {loss}); try a lower learning rate",
            stage.label()
        )))
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
    let device = options.device.resolve()?;
    let rng = crate::model::lock_global_rng();
    tch::manual_seed(options.seed as i64);

    // Hold out part of the good images for the threshold when there are enough of them.
    let held = (images.len() as f64 * options.hold_out).round() as usize;
    let held = if held >= 2 && images.len() - held >= 2 {
        held
    } else {
        0
    };
    if images.len() - held < 2 {
        return Err(Error::Data(format!(
            "training needs at least 2 good images, got {}",
            images.len()
        )));
    }
    let order = Vec::<i64>::try_from(Tensor::randperm(
        images.len() as i64,
        (Kind::Int64, Device::Cpu),
    ))?;
    let (held_out, training): (Vec<usize>, Vec<usize>) = {
        let (h, t) = order.split_at(held);
        (
            h.iter().map(|&i| i as usize).collect(),
            t.iter().map(|&i| i as usize).collect(),
        )
    };

    let frozen = load_backbone(&options.backbone, options.image_size, device)?;
    let size = options.image_size;
    let preprocess = |path: &PathBuf| -> Result<Tensor> {
        let image = frame::load_rgb(path)?;
        let pixels = frame::rgb_frame(&image).to_tensor(device)?;
        Ok(frame::normalise(&pixels, size, frozen.mean, frozen.std))
    };

    progress(Progress::Begin(Stage::Features, images.len() as u64));
    let mut per_scale: Vec<Vec<Tensor>> = Vec::new();
    for &i in &training {
        let input = preprocess(&images[i])?;
        let features = tch::no_grad(|| frozen.backbone.features(&input))?;
        per_scale.resize_with(features.len(), Vec::new);
        for (k, f) in features.into_iter().enumerate() {
            per_scale[k].push(f);
        }
        progress(Progress::Step(None));
    }
    let features: Vec<Tensor> = per_scale.iter().map(|fs| Tensor::cat(fs, 0)).collect();
    let held_out_inputs = held_out
        .iter()
        .map(|&i| {
            let input = preprocess(&images[i]);
            progress(Progress::Step(None));
            input
        })
        .collect::<Result<Vec<_>>>()?;

    let mut config = ModelConfig {
        format_version: FORMAT_VERSION,
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        backbone: BackboneConfig {
            id: frozen.id.to_string(),
            mean: frozen.mean,
            std: frozen.std,
        },
        image_size: size,
        scales: features
            .iter()
            .enumerate()
            .map(|(k, f)| {
                let shape = f.size();
                ScaleConfig {
                    block: frozen.taps[k],
                    channels: shape[1],
                    height: shape[2],
                    width: shape[3],
                    mapper_latent: bmr::default_latent(shape[1]),
                    forward_residual_unit: 1.0,
                    backward_residual_unit: 1.0,
                }
            })
            .collect(),
        flow: options.flow.clone(),
        backward_weight: 1.0,
        blur_sigma: options.blur_sigma,
        thresholds: Thresholds {
            image: 1.0,
            pixel: 1.0,
            method: "uncalibrated".into(),
            samples: 0,
        },
        training: TrainingSummary {
            images: training.len(),
            held_out: held_out.len(),
            source: String::new(),
            seed: options.seed,
            flow_epochs: options.flow_epochs,
            mapper_epochs: options.mapper_epochs,
            final_flow_loss: None,
            final_mapper_loss: None,
            seconds: 0.0,
            device: device_name(device),
        },
    };

    let mut flow_variables = nn::VarStore::new(device);
    let mapper_variables = nn::VarStore::new(device);
    let head = NfBmr::new(&flow_variables.root(), &mapper_variables.root(), &config);
    let n = training.len();

    // Stage 1: LayerNorms and flows by negative log-likelihood.
    let mut optimizer = nn::Adam {
        wd: options.weight_decay,
        ..Default::default()
    }
    .build(&flow_variables, options.flow_learning_rate)?;
    progress(Progress::Begin(Stage::Flows, options.flow_epochs as u64));
    for _ in 0..options.flow_epochs {
        let mut total = 0.0;
        let batches = shuffled_batches(n, options.batch_size, device);
        for rows in &batches {
            let loss = head.flow_loss(&select(&features, rows));
            optimizer.backward_step(&loss);
            total += loss.double_value(&[]) * rows.size()[0] as f64;
        }
        let loss = check_finite(total / n as f64, Stage::Flows)?;
        config.training.final_flow_loss = Some(loss);
        progress(Progress::Step(Some(loss)));
    }
    flow_variables.freeze();

    // The domains are fixed from now on: compute them once.
    let domains: Vec<Domains> = tch::no_grad(|| {
        let parts: Vec<Vec<Domains>> = chunks(n, options.batch_size)
            .map(|(start, len)| {
                let batch: Vec<Tensor> = features.iter().map(|f| f.narrow(0, start, len)).collect();
                head.domains(&batch)
            })
            .collect();
        (0..features.len())
            .map(|k| Domains {
                source: Tensor::cat(&parts.iter().map(|p| &p[k].source).collect::<Vec<_>>(), 0),
                target: Tensor::cat(&parts.iter().map(|p| &p[k].target).collect::<Vec<_>>(), 0),
            })
            .collect()
    });

    // Stage 2: mappers by MSE in both directions, in the source domain's whitened units.
    head.set_source_whitening(&domains);
    let mut optimizer = nn::Adam {
        wd: options.weight_decay,
        ..Default::default()
    }
    .build(&mapper_variables, options.mapper_learning_rate)?;
    progress(Progress::Begin(
        Stage::Mappers,
        options.mapper_epochs as u64,
    ));
    for _ in 0..options.mapper_epochs {
        let mut total = 0.0;
        for rows in &shuffled_batches(n, options.batch_size, device) {
            let batch: Vec<Domains> = domains.iter().map(|d| d.index_select(rows)).collect();
            let loss = head.mapper_loss(&batch);
            optimizer.backward_step(&loss);
            total += loss.double_value(&[]) * rows.size()[0] as f64;
        }
        let loss = check_finite(total / n as f64, Stage::Mappers)?;
        config.training.final_mapper_loss = Some(loss);
        progress(Progress::Step(Some(loss)));
    }

    // Each direction's unit is its typical largest residual on a training image. The image score is a
    // maximum, so the two directions must agree on their tails, not their means: in mean units the
    // direction with the heavier tail (measured: backward) dominates every map's maximum with noise.
    head.set_position_units(&domains);
    tch::no_grad(|| {
        let residuals = head.residuals(&domains, false);
        let typical_max = |map: &Tensor| {
            map.amax([1, 2, 3].as_slice(), false)
                .mean(Kind::Float)
                .double_value(&[])
        };
        for (scale, r) in config.scales.iter_mut().zip(&residuals) {
            scale.forward_residual_unit = typical_max(&r.forward);
            scale.backward_residual_unit = typical_max(&r.backward);
        }
    });
    let blur = GaussianBlur::new(size, options.blur_sigma, device);
    let maxima = |modes: &[ScoreMode], config: &ModelConfig| {
        training_maxima(
            &head,
            &domains,
            config,
            modes,
            blur.as_ref(),
            options.batch_size,
        )
    };
    let directions = maxima(&[ScoreMode::Forward, ScoreMode::Backward], &config)?;
    config.backward_weight = backward_weight(&directions[0], &directions[1]);

    let mut tensors = frozen.tensors;
    tensors.extend(sorted_variables(&flow_variables));
    tensors.extend(sorted_variables(&mapper_variables));
    let mut model = TrainedModel { config, tensors };

    // Provisional threshold from good images the model has not seen (training images when too few).
    drop(rng); // building the detector below takes the lock itself
    progress(Progress::Begin(Stage::Thresholds, 1));
    let scores = if held_out_inputs.is_empty() {
        maxima(&[ScoreMode::Fused], &model.config)?.remove(0)
    } else {
        image_scores(
            &model
                .detector(device)?
                .anomaly_maps(&Tensor::cat(&held_out_inputs, 0))?,
        )?
    };
    model.config.thresholds = calibrated(
        &scores,
        options.false_alarm_rate,
        !held_out_inputs.is_empty(),
    )?;
    model.config.training.seconds = started.elapsed().as_secs_f64();
    progress(Progress::Step(None));
    Ok(model)
}

/// Image scores of the training domains in each of `modes` (one list per mode), from one pass of the
/// mappers a batch at a time.
fn training_maxima(
    head: &NfBmr,
    domains: &[Domains],
    config: &ModelConfig,
    modes: &[ScoreMode],
    blur: Option<&GaussianBlur>,
    batch_size: usize,
) -> Result<Vec<Vec<f64>>> {
    let n = domains[0].source.size()[0];
    let device = domains[0].source.device();
    let mut maxima = vec![Vec::with_capacity(n as usize); modes.len()];
    for (start, len) in chunks(n as usize, batch_size) {
        let rows = Tensor::arange_start(start, start + len, (Kind::Int64, device));
        let batch: Vec<Domains> = domains.iter().map(|d| d.index_select(&rows)).collect();
        let residuals = tch::no_grad(|| head.residuals(&batch, false));
        for (scores, &mode) in maxima.iter_mut().zip(modes) {
            let maps = tch::no_grad(|| anomaly::maps(mode, &batch, &residuals, config, blur));
            scores.extend(image_scores(&maps)?);
        }
    }
    Ok(maxima)
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

/// Image scores (map maxima) of [B, 1, H, W] maps.
pub fn image_scores(maps: &Tensor) -> Result<Vec<f64>> {
    let maxima = maps.flatten(1, -1).amax([1].as_slice(), false);
    Ok(Vec::<f64>::try_from(
        maxima.to_kind(Kind::Double).to_device(Device::Cpu),
    )?)
}

/// Thresholds for the target false-alarm rate; with scores too alike to fit (tiny or degenerate sets), 5%
/// above the largest.
fn calibrated(scores: &[f64], false_alarm_rate: f64, held_out: bool) -> Result<Thresholds> {
    let source = if held_out {
        "held-out good images"
    } else {
        "training images (too few to hold any out)"
    };
    match calibrate::thresholds_for(scores, false_alarm_rate) {
        Ok(mut thresholds) => {
            thresholds.method = format!("{}, on {source}", thresholds.method);
            Ok(thresholds)
        }
        Err(Error::Data(_)) => {
            let largest = scores.iter().copied().fold(f64::MIN, f64::max);
            Ok(Thresholds {
                image: largest * 1.05,
                pixel: largest * 1.05,
                method: format!("5% above the largest of {} {source}", scores.len()),
                samples: scores.len(),
            })
        }
        Err(other) => Err(other),
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
