// SPDX-License-Identifier: MIT OR Apache-2.0
//! `nfbmr train`: a model from good images.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use nfbmr::data;
use nfbmr::model::backbone::Lite;
use nfbmr::train::{BackboneChoice, DEFAULT_LITE, TrainOptions};

use crate::{DeviceArg, progress};

#[derive(clap::Args)]
pub struct Args {
    /// Folder of good images (PNG, JPEG or BMP; colour or grey; any size). A `good/` subfolder is used when
    /// present, so a folder-layout dataset can be passed as is. With --class, a DAGM 2007 dataset root.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// MVTec AD category (e.g. tile) or DAGM class (e.g. Class1) under --data: train on its good training
    /// images
    #[arg(long, value_name = "NAME")]
    class: Option<String>,
    /// Where to write the model
    #[arg(long, value_name = "MODEL.nfbmr")]
    out: PathBuf,
    #[command(flatten)]
    device: DeviceArg,
    /// Side of the square input the frames are resized to
    #[arg(long, default_value_t = TrainOptions::default().image_size, value_name = "PX")]
    image_size: i64,
    #[command(flatten)]
    backbone: BackboneArgs,
    /// Epochs of both stages (overridden by --flow-epochs and --mapper-epochs)
    #[arg(long)]
    epochs: Option<usize>,
    /// Epochs of stage 1 (flows)
    #[arg(long)]
    flow_epochs: Option<usize>,
    /// Epochs of stage 2 (BMR mappers)
    #[arg(long)]
    mapper_epochs: Option<usize>,
    #[command(flatten)]
    flow: FlowArgs,
    /// σ of the Gaussian noise added to the normalised features while the flows train (0 = none). For many
    /// views of a few parts: it keeps the flows from learning that surface itself, which scores new parts
    /// higher and raises false alarms, at some cost in sensitivity (docs/quality.md)
    #[arg(long, default_value_t = TrainOptions::default().flow_noise)]
    flow_noise: f64,
    #[arg(long, default_value_t = TrainOptions::default().batch_size)]
    batch_size: usize,
    /// Gaussian blur of the anomaly map in pixels of the model input (0 = none)
    #[arg(long, default_value_t = TrainOptions::default().blur_sigma)]
    blur_sigma: f64,
    /// Fraction of the good images held out to set the threshold
    #[arg(long, default_value_t = TrainOptions::default().hold_out)]
    hold_out: f64,
    /// Target false-alarm rate of that threshold
    #[arg(long, default_value_t = TrainOptions::default().false_alarm_rate)]
    false_alarm_rate: f64,
    #[arg(long, default_value_t = TrainOptions::default().seed)]
    seed: u64,
}

/// The frozen network the model is trained on.
#[derive(clap::Args)]
pub struct BackboneArgs {
    /// efficientnet-lite1, efficientnet-lite0 (shallower, scores faster), efficientnet-lite2 (deeper and wider;
    /// docs/quality.md compares them), or torchscript:PATH for a TorchScript module returning a list of
    /// feature maps
    #[arg(long, default_value = DEFAULT_LITE.id(), value_name = "NAME")]
    backbone: String,
    /// Backbone outputs used as feature scales: EfficientNet-Lite block indices (default: the last blocks
    /// of stages 1 to 4, 2,4,7,10 on Lite0 and 3,6,10,14 on Lite1 and Lite2), or indices into a
    /// TorchScript backbone's returned list (default: all)
    #[arg(long, value_delimiter = ',', value_name = "N,N,N")]
    blocks: Option<Vec<usize>>,
}

impl BackboneArgs {
    pub fn choice(&self) -> Result<BackboneChoice> {
        if let Some(path) = self.backbone.strip_prefix("torchscript:") {
            return Ok(BackboneChoice::TorchScript {
                path: path.into(),
                taps: self.blocks.clone(),
            });
        }
        let Some(lite) = Lite::from_id(&self.backbone) else {
            let names: Vec<&str> = Lite::ALL.iter().map(|lite| lite.id()).collect();
            bail!(
                "unknown backbone '{}': use {} or torchscript:PATH",
                self.backbone,
                names.join(", ")
            );
        };
        Ok(BackboneChoice::EfficientNetLite {
            lite,
            weights: None,
            taps: self.blocks.clone().unwrap_or_else(|| lite.default_taps()),
        })
    }
}

/// What the flows read, and their shape.
#[derive(clap::Args)]
pub struct FlowArgs {
    /// Side of the window each backbone feature is averaged over before the flows (odd; 1 for none): how
    /// the texture is arranged around a position, which finds smears and abrasions (docs/quality.md)
    #[arg(long, default_value_t = TrainOptions::default().feature_pooling, value_name = "N")]
    feature_pooling: i64,
    /// Coupling steps per flow
    #[arg(long, default_value_t = TrainOptions::default().flow.steps)]
    flow_steps: usize,
    /// Hidden width of the flows' coupling subnets, relative to the feature width
    #[arg(long, default_value_t = TrainOptions::default().flow.hidden_ratio)]
    flow_hidden_ratio: f64,
}

impl FlowArgs {
    pub fn apply(&self, options: &mut TrainOptions) {
        options.feature_pooling = self.feature_pooling;
        options.flow.steps = self.flow_steps;
        options.flow.hidden_ratio = self.flow_hidden_ratio;
    }
}

impl Args {
    fn options(&self) -> Result<TrainOptions> {
        let defaults = TrainOptions::default();
        let mut options = TrainOptions {
            backbone: self.backbone.choice()?,
            image_size: self.image_size,
            flow_epochs: self
                .flow_epochs
                .or(self.epochs)
                .unwrap_or(defaults.flow_epochs),
            mapper_epochs: self
                .mapper_epochs
                .or(self.epochs)
                .unwrap_or(defaults.mapper_epochs),
            flow_noise: self.flow_noise,
            batch_size: self.batch_size,
            blur_sigma: self.blur_sigma,
            hold_out: self.hold_out,
            false_alarm_rate: self.false_alarm_rate,
            seed: self.seed,
            device: self.device.spec,
            ..defaults
        };
        self.flow.apply(&mut options);
        Ok(options)
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    // A missing device or an unknown backbone fails before any data is read.
    args.device.spec.resolve()?;
    let options = args.options()?;
    let (images, source) = data::training_set(&args.data, args.class.as_deref())?;
    let model = progress::train_with_progress(&images, &source, &options)?;
    model
        .save(&args.out)
        .with_context(|| format!("saving {}", args.out.display()))?;
    let t = &model.config.thresholds;
    eprintln!(
        "wrote {} in {:.0} s; threshold {:.4} ({})",
        args.out.display(),
        model.config.training.seconds,
        t.image,
        t.method
    );
    let warnings = [t.fit_warning(), model.config.training.repetition_warning()];
    for warning in warnings.into_iter().flatten() {
        eprintln!("warning: {warning}");
    }
    Ok(ExitCode::SUCCESS)
}
