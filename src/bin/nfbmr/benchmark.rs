// SPDX-License-Identifier: MIT OR Apache-2.0
//! `nfbmr benchmark`: the quality benchmark of docs/quality.md.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use nfbmr::data;
use nfbmr::data::synth::{SynthOptions, write_dagm_class};
use nfbmr::report::{self, ClassResult};
use nfbmr::train::TrainOptions;

use crate::eval::{self, Scoring};
use crate::synth::SyntheticClasses;
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
    /// Epochs of both training stages (default: the training default); for quick trial runs
    #[arg(long)]
    epochs: Option<usize>,
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
    let data_dir = args.out.join("data");
    let models = args.out.join("models");
    let synthetic = SynthOptions {
        seed: args.synthetic.seed,
        train: args.train,
        test: args.test,
        ..Default::default()
    };
    let mut options = TrainOptions {
        device: args.device.spec,
        ..Default::default()
    };
    if let Some(epochs) = args.epochs {
        options.flow_epochs = epochs;
        options.mapper_epochs = epochs;
    }
    let scoring = Scoring {
        device: args.device,
        precision: args.precision,
        // The benchmark scores the EfficientNet models it has just trained.
        code: CodeArg { allow: false },
        ablation: true,
    };
    let mut runs: Vec<(u64, Vec<ClassResult>)> = (0..args.training_seeds)
        .map(|seed| (seed, Vec::new()))
        .collect();
    for number in args.synthetic.numbers()? {
        write_dagm_class(&data_dir, number, &synthetic)?;
        let class = format!("Class{number}");
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
    Ok(ExitCode::SUCCESS)
}
