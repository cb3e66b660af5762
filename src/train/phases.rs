// SPDX-License-Identifier: MIT OR Apache-2.0
//! The phases of [`super::train`], in the order it runs them.

use std::path::PathBuf;

use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use super::backbone::FrozenBackbone;
use super::{Progress, Stage, TrainOptions, TrainedModel};
use crate::anomaly::{self, GaussianBlur, ScoreMode};
use crate::calibrate;
use crate::config::{
    BackboneConfig, FORMAT_VERSION, ModelConfig, ScaleConfig, Thresholds, TrainingSummary,
};
use crate::device::device_name;
use crate::error::{Error, Result};
use crate::frame;
use crate::model::{Domains, NfBmr, bmr};

/// Which images train the model and which set its threshold, as indices into the image list.
pub(super) struct Split {
    pub training: Vec<usize>,
    pub held_out: Vec<usize>,
}

/// Holds out `fraction` of `n` images, drawn at random, when at least two remain on either side.
pub(super) fn hold_out_split(n: usize, fraction: f64) -> Result<Split> {
    let held = (n as f64 * fraction).round() as usize;
    let held = if held >= 2 && n - held >= 2 { held } else { 0 };
    if n - held < 2 {
        return Err(Error::Data(format!(
            "training needs at least 2 good images, got {n}"
        )));
    }
    let order = Vec::<i64>::try_from(Tensor::randperm(n as i64, (Kind::Int64, Device::Cpu)))?;
    let (held_out, training) = order.split_at(held);
    let indices = |part: &[i64]| part.iter().map(|&i| i as usize).collect();
    Ok(Split {
        training: indices(training),
        held_out: indices(held_out),
    })
}

/// What the backbone makes of the images, computed once.
pub(super) struct Features {
    /// Per scale, the feature maps of every training image [N, C_k, h_k, w_k].
    pub training: Vec<Tensor>,
    /// The held-out images as model inputs, to score once the model is complete.
    pub held_out: Vec<Tensor>,
    /// The held-out images' finest backbone features [1, C, h, w], to look for repeated surface.
    pub held_out_finest: Vec<Tensor>,
}

pub(super) fn extract_features(
    frozen: &FrozenBackbone,
    images: &[PathBuf],
    split: &Split,
    size: i64,
    device: Device,
    progress: &mut dyn FnMut(Progress),
) -> Result<Features> {
    let preprocess = |path: &PathBuf| -> Result<Tensor> {
        let image = frame::load_rgb(path)?;
        let pixels = frame::rgb_frame(&image).to_tensor(device)?;
        Ok(frame::normalise(&pixels, size, frozen.mean, frozen.std))
    };
    progress(Progress::Begin(Stage::Features, images.len() as u64));
    let mut per_scale: Vec<Vec<Tensor>> = Vec::new();
    for &i in &split.training {
        let input = preprocess(&images[i])?;
        let features = tch::no_grad(|| frozen.backbone.features(&input))?;
        per_scale.resize_with(features.len(), Vec::new);
        for (k, f) in features.into_iter().enumerate() {
            per_scale[k].push(f);
        }
        progress(Progress::Step(None));
    }
    let mut held_out = Vec::with_capacity(split.held_out.len());
    let mut held_out_finest = Vec::with_capacity(split.held_out.len());
    for &i in &split.held_out {
        let input = preprocess(&images[i])?;
        let mut features = tch::no_grad(|| frozen.backbone.features(&input))?;
        held_out_finest.push(features.swap_remove(0));
        held_out.push(input);
        progress(Progress::Step(None));
    }
    Ok(Features {
        training: per_scale.iter().map(|fs| Tensor::cat(fs, 0)).collect(),
        held_out,
        held_out_finest,
    })
}

/// The configuration before training fills in losses, units, the fusion weight and thresholds.
pub(super) fn initial_config(
    frozen: &FrozenBackbone,
    features: &[Tensor],
    split: &Split,
    options: &TrainOptions,
    device: Device,
) -> ModelConfig {
    let scales = features
        .iter()
        .zip(&frozen.taps)
        .map(|(f, &block)| {
            let shape = f.size();
            ScaleConfig {
                block,
                channels: shape[1],
                height: shape[2],
                width: shape[3],
                mapper_latent: bmr::default_latent(shape[1]),
                forward_residual_unit: 1.0,
                backward_residual_unit: 1.0,
            }
        })
        .collect();
    ModelConfig {
        format_version: FORMAT_VERSION,
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        backbone: BackboneConfig {
            id: frozen.id.to_string(),
            mean: frozen.mean,
            std: frozen.std,
        },
        image_size: options.image_size,
        scales,
        feature_pooling: options.feature_pooling,
        flow: options.flow.clone(),
        backward_weight: 1.0,
        blur_sigma: options.blur_sigma,
        thresholds: Thresholds {
            image: 1.0,
            pixel: 1.0,
            method: "uncalibrated".into(),
            samples: 0,
            false_alarm_rate: None,
            fit: None,
        },
        training: TrainingSummary {
            images: split.training.len(),
            held_out: split.held_out.len(),
            source: String::new(),
            seed: options.seed,
            flow_epochs: options.flow_epochs,
            mapper_epochs: options.mapper_epochs,
            flow_noise: options.flow_noise,
            held_out_twins: None,
            final_flow_loss: None,
            final_mapper_loss: None,
            seconds: 0.0,
            device: device_name(device),
        },
    }
}

/// Fits the variables of one training stage with Adam, an epoch at a time over `n` rows in shuffled
/// batches on `device`; `loss` gives a batch's mean loss from its row indices. Returns the last epoch's
/// mean loss (none without epochs).
pub(super) fn fit(
    stage: Stage,
    variables: &nn::VarStore,
    (n, device): (usize, Device),
    options: &TrainOptions,
    progress: &mut dyn FnMut(Progress),
    loss: impl Fn(&Tensor) -> Tensor,
) -> Result<Option<f64>> {
    let (epochs, learning_rate) = match stage {
        Stage::Flows => (options.flow_epochs, options.flow_learning_rate),
        _ => (options.mapper_epochs, options.mapper_learning_rate),
    };
    let mut optimizer = nn::Adam {
        wd: options.weight_decay,
        ..Default::default()
    }
    .build(variables, learning_rate)?;
    progress(Progress::Begin(stage, epochs as u64));
    let mut last = None;
    for _ in 0..epochs {
        let mut total = 0.0;
        for rows in &shuffled_batches(n, options.batch_size, device) {
            let batch_loss = loss(rows);
            optimizer.backward_step(&batch_loss);
            total += batch_loss.double_value(&[]) * rows.size()[0] as f64;
        }
        let epoch_loss = check_finite(total / n as f64, stage)?;
        last = Some(epoch_loss);
        progress(Progress::Step(Some(epoch_loss)));
    }
    Ok(last)
}

/// Source and target domains of every training image, a batch at a time.
pub(super) fn domains(head: &NfBmr, features: &[Tensor], batch_size: usize) -> Vec<Domains> {
    let n = features[0].size()[0] as usize;
    tch::no_grad(|| {
        let parts: Vec<Vec<Domains>> = chunks(n, batch_size)
            .map(|(start, len)| {
                let batch: Vec<Tensor> = features.iter().map(|f| f.narrow(0, start, len)).collect();
                head.domains(&batch)
            })
            .collect();
        let joined = |k: usize, part: fn(&Domains) -> &Tensor| {
            Tensor::cat(&parts.iter().map(|p| part(&p[k])).collect::<Vec<_>>(), 0)
        };
        (0..features.len())
            .map(|k| Domains {
                source: joined(k, |d| &d.source),
                target: joined(k, |d| &d.target),
            })
            .collect()
    })
}

/// Sets each direction's units: per position, its mean residual; per scale, its typical largest residual
/// on a training image. The image score is a maximum, so the two directions must agree on their tails,
/// not their means: in mean units the direction with the heavier tail (measured: backward) dominates
/// every map's maximum with noise.
pub(super) fn set_residual_units(head: &NfBmr, domains: &[Domains], config: &mut ModelConfig) {
    head.set_position_units(domains);
    tch::no_grad(|| {
        let residuals = head.residuals(domains, false);
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
}

/// The backward direction's weight in the fused map, from both directions' image scores on the training
/// images (see [`super::backward_weight`]).
pub(super) fn fusion_weight(
    head: &NfBmr,
    domains: &[Domains],
    config: &ModelConfig,
    options: &TrainOptions,
) -> Result<f64> {
    let modes = [ScoreMode::Forward, ScoreMode::Backward];
    let maxima = training_maxima(head, domains, config, &modes, options.batch_size)?;
    Ok(super::backward_weight(&maxima[0], &maxima[1]))
}

/// Thresholds from good images the model has not seen, or from the training images when too few were
/// held out.
pub(super) fn provisional_thresholds(
    model: &TrainedModel,
    head: &NfBmr,
    domains: &[Domains],
    held_out: &[Tensor],
    options: &TrainOptions,
) -> Result<Thresholds> {
    let scores = if held_out.is_empty() {
        let modes = [ScoreMode::Fused];
        training_maxima(head, domains, &model.config, &modes, options.batch_size)?.remove(0)
    } else {
        let device = held_out[0].device();
        image_scores(
            &model
                .detector(device)?
                .anomaly_maps(&Tensor::cat(held_out, 0))?,
        )?
    };
    calibrated(&scores, options.false_alarm_rate, !held_out.is_empty())
}

/// Image scores of the training domains in each of `modes` (one list per mode), from one pass of the
/// mappers a batch at a time.
fn training_maxima(
    head: &NfBmr,
    domains: &[Domains],
    config: &ModelConfig,
    modes: &[ScoreMode],
    batch_size: usize,
) -> Result<Vec<Vec<f64>>> {
    let n = domains[0].source.size()[0];
    let device = domains[0].source.device();
    let blur = GaussianBlur::new(config.image_size, config.blur_sigma, device);
    let mut maxima = vec![Vec::with_capacity(n as usize); modes.len()];
    for (start, len) in chunks(n as usize, batch_size) {
        let rows = Tensor::arange_start(start, start + len, (Kind::Int64, device));
        let batch: Vec<Domains> = domains.iter().map(|d| d.index_select(&rows)).collect();
        let residuals = tch::no_grad(|| head.residuals(&batch, false));
        for (scores, &mode) in maxima.iter_mut().zip(modes) {
            let maps =
                tch::no_grad(|| anomaly::maps(mode, &batch, &residuals, config, blur.as_ref()));
            scores.extend(image_scores(&maps)?);
        }
    }
    Ok(maxima)
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
                false_alarm_rate: None,
                fit: None,
            })
        }
        Err(other) => Err(other),
    }
}

pub(super) fn sorted_variables(variables: &nn::VarStore) -> Vec<(String, Tensor)> {
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

/// The rows `rows` (an Int64 index tensor) of each tensor.
pub(super) fn select(tensors: &[Tensor], rows: &Tensor) -> Vec<Tensor> {
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
