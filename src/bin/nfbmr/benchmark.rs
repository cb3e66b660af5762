// SPDX-License-Identifier: MIT OR Apache-2.0
//! `nfbmr benchmark`: the quality benchmark of docs/quality.md, on the synthetic classes or on every
//! category of a dataset on disk.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use nfbmr::data;
use nfbmr::data::synth::{SynthOptions, write_dagm_class};
use nfbmr::report::{self, ClassResult};
use nfbmr::train::{BackboneChoice, TrainOptions};

use crate::eval::{self, Scoring};
use crate::synth::SyntheticClasses;
use crate::train::{BackboneArgs, FlowArgs};
use crate::{CodeArg, DeviceArg, PrecisionArg, progress};

#[derive(clap::Args)]
pub struct Args {
    /// Working folder: data/, models/ and report/ are written here
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    synthetic: SyntheticClasses,
    /// Images per class in Train (a fifth of them defective, which training skips)
    #[arg(long, default_value_t = 120)]
    train: usize,
    /// Images per class in Test (a fifth of them defective)
    #[arg(long, default_value_t = 80)]
    test: usize,
    /// Instead of the synthetic classes: every category of this dataset (MVTec AD or DAGM 2007 layout),
    /// e.g. the real-image development set of scripts/real_dev_set.py
    #[arg(long, value_name = "DIR", conflicts_with_all = ["classes", "train", "test"])]
    data: Option<PathBuf>,
    /// Show other models' figures on the same sets beside nfbmr's (a file of
    /// scripts/anomalib-side-by-side.sh)
    #[arg(long, value_name = "FILE")]
    peers: Option<PathBuf>,
    /// Epochs of both training stages (default: the training default); for quick trial runs
    #[arg(long)]
    epochs: Option<usize>,
    #[command(flatten)]
    backbone: BackboneArgs,
    #[command(flatten)]
    flow: FlowArgs,
    /// Train every class this many times, with training seeds 0, 1, …: the tables and the report are seed
    /// 0's, followed by each seed's mean image AUROC per scoring mode (what one training's luck moves)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    training_seeds: u64,
    #[command(flatten)]
    device: DeviceArg,
    // The models train in fp32 and are scored in this precision.
    #[command(flatten)]
    precision: PrecisionArg,
}

pub fn run(args: Args) -> Result<ExitCode> {
    // Read first: a bad file or backbone is told before hours of training.
    let peers = args.peers.as_deref().map(report::Peers::read).transpose()?;
    let backbone = args.backbone.choice()?;
    let models = args.out.join("models");
    let (data_dir, classes) = match &args.data {
        Some(dir) => (dir.clone(), data::classes(dir)?),
        None => synthesise(&args)?,
    };
    let mut options = TrainOptions {
        backbone,
        device: args.device.spec,
        ..Default::default()
    };
    if let Some(epochs) = args.epochs {
        options.flow_epochs = epochs;
        options.mapper_epochs = epochs;
    }
    args.flow.apply(&mut options);
    let scoring = Scoring {
        device: args.device,
        precision: args.precision,
        // The benchmark scores the models it has just trained, on the backbone it was given.
        code: CodeArg {
            allow: matches!(options.backbone, BackboneChoice::TorchScript { .. }),
        },
        ablation: true,
    };
    let mut runs: Vec<(u64, Vec<ClassResult>)> = (0..args.training_seeds)
        .map(|seed| (seed, Vec::new()))
        .collect();
    for class in classes {
        let (images, source) = data::training_set(&data_dir, Some(&class))?;
        for (seed, results) in &mut runs {
            options.seed = *seed;
            let folder = match seed {
                0 => models.clone(),
                _ => models.join(format!("seed-{seed}")),
            };
            std::fs::create_dir_all(&folder)
                .with_context(|| format!("creating {}", folder.display()))?;
            let model = progress::train_with_progress(&images, &source, &options)?;
            let path = folder.join(format!("{class}.nfbmr"));
            model
                .save(&path)
                .with_context(|| format!("saving {}", path.display()))?;
            let seconds = Some(model.config.training.seconds);
            results.push(scoring.class(&path, &data_dir, Some(&class), seconds)?);
        }
    }
    let report_dir = args.out.join("report");
    eval::publish(
        &runs[0].1,
        "nfbmr quality benchmark",
        Some(&report_dir.join("results.json")),
        Some(&report_dir),
    )?;
    if runs.len() > 1 {
        let table = report::append_training_seeds(&report_dir, &runs)?;
        println!("mean image AUROC by training seed:\n\n{table}");
    }
    eval::show_peers(&runs, peers.as_ref(), Some(&report_dir))?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the synthetic classes under `out/data`; returns the folder and the classes' names.
fn synthesise(args: &Args) -> Result<(PathBuf, Vec<String>)> {
    let data_dir = args.out.join("data");
    let synthetic = SynthOptions {
        seed: args.synthetic.seed,
        train: args.train,
        test: args.test,
        ..Default::default()
    };
    let mut classes = Vec::new();
    for number in args.synthetic.numbers()? {
        write_dagm_class(&data_dir, number, &synthetic)?;
        classes.push(format!("Class{number}"));
    }
    Ok((data_dir, classes))
}
