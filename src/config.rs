// SPDX-License-Identifier: MIT OR Apache-2.0
//! Everything that describes a trained model besides its tensors. Serialised as JSON into the model file's
//! safetensors metadata, so a model file explains itself (`nfbmr info`).

use serde::{Deserialize, Serialize};

use crate::model::backbone::{self, Lite};

/// Bumped whenever a reader of an older version could misread a newer file.
pub const FORMAT_VERSION: u32 = 4;

/// The oldest format this build reads: version 3 differs only by lacking `feature_pooling` (none).
pub const OLDEST_READABLE_FORMAT_VERSION: u32 = 3;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub format_version: u32,
    /// Version of the crate that wrote the file.
    pub crate_version: String,
    pub backbone: BackboneConfig,
    /// Side of the square the frame is resized to before the backbone.
    pub image_size: i64,
    /// One entry per feature scale, in backbone order.
    pub scales: Vec<ScaleConfig>,
    /// Side of the window each backbone feature is averaged over before the flows (stride 1; at the
    /// borders, over the positions inside the map): PatchCore's locally aware patch features, which show
    /// the flows how a texture is arranged around each position. 1 for none, as files of format 3 have.
    #[serde(default = "no_pooling")]
    pub feature_pooling: i64,
    pub flow: FlowConfig,
    /// Weight of the backward residual against the forward one in the fused map (docs/model.md, training step 6).
    /// Files written before it existed fuse both directions with equal weights.
    #[serde(default = "equal_weight")]
    pub backward_weight: f64,
    /// Gaussian blur of the fused map, in pixels of the `image_size` map; 0 disables it.
    pub blur_sigma: f64,
    pub thresholds: Thresholds,
    pub training: TrainingSummary,
}

impl ModelConfig {
    /// Checks the values a detector relies on; the message completes "model file X …".
    pub fn validate(&self) -> Result<(), String> {
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if self.scales.is_empty() {
            return Err("has a configuration without feature scales".into());
        }
        if !(32..=4096).contains(&self.image_size) {
            return Err(format!(
                "has image size {}, expected 32 to 4096",
                self.image_size
            ));
        }
        self.validate_network()?;
        for (k, scale) in self.scales.iter().enumerate() {
            if !positive(scale.forward_residual_unit) || !positive(scale.backward_residual_unit) {
                return Err(format!(
                    "has invalid residual statistics for scale {k} (must be finite and positive)"
                ));
            }
        }
        let t = &self.thresholds;
        if !positive(t.image) || !positive(t.pixel) {
            return Err(format!(
                "has invalid thresholds (image {}, pixel {}): must be finite and positive",
                t.image, t.pixel
            ));
        }
        if !feature_pooling_fits(self.feature_pooling) {
            return Err(format!(
                "has feature pooling {}, expected an odd window of 1 to {MAX_FEATURE_POOLING}",
                self.feature_pooling
            ));
        }
        if !positive(self.backward_weight) {
            return Err(format!(
                "has invalid backward weight {} (must be finite and positive)",
                self.backward_weight
            ));
        }
        if !(self.blur_sigma.is_finite()
            && (0.0..=self.image_size as f64).contains(&self.blur_sigma))
        {
            return Err(format!(
                "has invalid blur sigma {:e} (0 to the image size)",
                self.blur_sigma
            ));
        }
        Ok(())
    }

    /// Checks every size the network is built from, before anything is allocated: the scales against the
    /// backbone (an EfficientNet-Lite's blocks fix each tap's channels and stride) and the flow's and the
    /// mappers' widths within bounds, so that a damaged or hostile file cannot ask for terabytes.
    fn validate_network(&self) -> Result<(), String> {
        let backbone = &self.backbone;
        let lite = match (Lite::from_id(&backbone.id), backbone.id.as_str()) {
            (Some(lite), _) => Some(lite),
            (None, backbone::TORCHSCRIPT) => None,
            (None, other) => return Err(format!("names unknown backbone '{other}'")),
        };
        if !(backbone.mean.iter().all(|m| m.is_finite())
            && backbone.std.iter().all(|s| s.is_finite() && *s > 0.0))
        {
            return Err(
                "has an invalid input normalisation (means finite, deviations positive)".into(),
            );
        }
        if self.scales.len() > 16 {
            return Err(format!(
                "has {} feature scales, at most 16",
                self.scales.len()
            ));
        }
        let (channels, strides) = lite
            .map(|lite| (lite.block_channels(), lite.block_strides()))
            .unwrap_or_default();
        for (k, scale) in self.scales.iter().enumerate() {
            let (expected_channels, side) = if lite.is_some() {
                let after_previous = k == 0 || scale.block > self.scales[k - 1].block;
                if scale.block >= channels.len() || !after_previous {
                    return Err(format!(
                        "has scale {k} at block {}: blocks must ascend and be below {}",
                        scale.block,
                        channels.len()
                    ));
                }
                let side = (self.image_size + strides[scale.block] - 1) / strides[scale.block];
                (channels[scale.block], Some(side))
            } else {
                (scale.channels.clamp(1, 8192), None)
            };
            let sides_fit = match side {
                Some(side) => scale.height == side && scale.width == side,
                None => [scale.height, scale.width]
                    .iter()
                    .all(|&n| (1..=self.image_size).contains(&n)),
            };
            if scale.channels != expected_channels || !sides_fit {
                return Err(format!(
                    "has scale {k} of {} channels at {}x{}, which its backbone at {} px does not produce",
                    scale.channels, scale.height, scale.width, self.image_size
                ));
            }
            if !(1..=(4 * scale.channels).max(16)).contains(&scale.mapper_latent) {
                return Err(format!(
                    "has scale {k} with mapper width {}",
                    scale.mapper_latent
                ));
            }
        }
        let flow = &self.flow;
        let fits = (1..=64).contains(&flow.steps)
            && flow.hidden_ratio > 0.0
            && flow.hidden_ratio <= 16.0
            && flow.clamp.is_finite()
            && flow.clamp > 0.0;
        if !fits {
            return Err(format!(
                "has an invalid flow ({} steps, hidden ratio {}, clamp {}): 1 to 64 steps, a ratio up to 16",
                flow.steps, flow.hidden_ratio, flow.clamp
            ));
        }
        Ok(())
    }
}

fn equal_weight() -> f64 {
    1.0
}

fn no_pooling() -> i64 {
    1
}

/// The widest feature-pooling window a model may ask for: wider ones blur away the defects themselves.
pub const MAX_FEATURE_POOLING: i64 = 9;

/// Whether `side` is a feature-pooling window a model may have: odd, so that it centres on its position.
pub fn feature_pooling_fits(side: i64) -> bool {
    (1..=MAX_FEATURE_POOLING).contains(&side) && side % 2 == 1
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackboneConfig {
    /// `efficientnet-lite0`, `efficientnet-lite1`, `efficientnet-lite2` or `torchscript`.
    pub id: String,
    /// Per-channel mean and standard deviation applied to RGB values scaled to [0, 1].
    pub mean: [f64; 3],
    pub std: [f64; 3],
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScaleConfig {
    /// Backbone block whose output feeds this scale (the index of the returned map for TorchScript).
    pub block: usize,
    pub channels: i64,
    pub height: i64,
    pub width: i64,
    /// Width `c` of the BMR mappers' shared middle unit.
    pub mapper_latent: i64,
    /// Unit of the target-domain (forward) residual map: the mean over the training images of each image's
    /// largest residual.
    pub forward_residual_unit: f64,
    /// Unit of the source-domain (backward) residual map, in the same way.
    pub backward_residual_unit: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowConfig {
    pub steps: usize,
    /// Hidden width of each coupling subnet, relative to the scale's channels.
    pub hidden_ratio: f64,
    /// Soft clamp of the coupling log-scales.
    pub clamp: f64,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            steps: 4,
            hidden_ratio: 1.0,
            clamp: 2.0,
        }
    }
}

/// Decision thresholds on the raw fused map. A score of `raw / image` ≥ 1 flags the frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub image: f64,
    /// Pixel threshold for defect regions; equal to `image` unless calibrated apart.
    pub pixel: f64,
    /// How the thresholds were set, for `nfbmr info` and the logs.
    pub method: String,
    /// Number of good images the thresholds were estimated from.
    pub samples: usize,
    /// The false-alarm rate the thresholds were fitted for (absent for a fallback, and in older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub false_alarm_rate: Option<f64>,
    /// How well the tail model fits those images' scores; absent where no model was fitted (and in files
    /// calibrated before the check existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit: Option<TailFit>,
}

impl Thresholds {
    /// What a user should know when the good scores do not follow the tail model the threshold came from.
    pub fn fit_warning(&self) -> Option<String> {
        let fit = self.fit.filter(|fit| !fit.holds)?;
        Some(format!(
            "the {} good scores do not follow the Gumbel tail model (Anderson-Darling {:.2}, above its 1% \
             critical value): the false-alarm rate at this threshold may be far from its target. \
             Calibrate on more good images (nfbmr calibrate), ideally from other parts or days than the \
             training images",
            self.samples, fit.anderson_darling
        ))
    }
}

/// A goodness-of-fit check of the tail model a threshold was extrapolated from.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TailFit {
    /// Anderson–Darling statistic of the good scores against the fitted distribution (small-sample
    /// corrected).
    pub anderson_darling: f64,
    /// Whether the statistic stays below its 1% critical value: false means the scores do not follow the
    /// model, and the false-alarm rate may be far from its target.
    pub holds: bool,
}

/// Share of held-out positions with twins in the training images above which the hold-out is taken for
/// views of trained surface. Measured on the real-image development set: 1.1–39% on such views, at most
/// 0.2% on new surface, 0% on independent synthetic frames.
pub const REPEATED_SURFACE_SHARE: f64 = 0.01;

impl TrainingSummary {
    /// What a user should know when the held-out images repeat the training images' surface.
    pub fn repetition_warning(&self) -> Option<String> {
        let share = self
            .held_out_twins
            .filter(|&s| s > REPEATED_SURFACE_SHARE)?;
        Some(format!(
            "{:.1}% of the held-out images' surface repeats training images exactly: they look like other \
             views of the trained parts, which the model scores lower than new parts, so the threshold \
             is likely to raise more false alarms than its target. Calibrate on good images of parts \
             the model was not trained on (nfbmr calibrate)",
            100.0 * share
        ))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// Good images trained on, and held out to set the threshold.
    pub images: usize,
    pub held_out: usize,
    /// Where the images came from.
    pub source: String,
    /// Seed of the hold-out split, the initialisation and the batch order.
    pub seed: u64,
    /// Epochs of stage 1 (flows) and stage 2 (mappers).
    pub flow_epochs: usize,
    pub mapper_epochs: usize,
    /// σ of the noise added to the source domain while the flows trained (0 in files from before it).
    #[serde(default)]
    pub flow_noise: f64,
    /// Share of sampled positions of the held-out images with a near-exact twin among the training
    /// images' features: how much of the hold-out repeats trained surface (none without a hold-out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_out_twins: Option<f64>,
    /// Mean loss of the last epoch of each stage (none when a stage ran no epoch).
    pub final_flow_loss: Option<f64>,
    pub final_mapper_loss: Option<f64>,
    /// Wall-clock time of the whole training, and the device it ran on.
    pub seconds: f64,
    pub device: String,
}
