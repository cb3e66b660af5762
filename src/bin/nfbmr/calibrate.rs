// SPDX-License-Identifier: MIT OR Apache-2.0
//! `nfbmr calibrate`: a model's thresholds from good images it has not seen.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use nfbmr::{calibrate, data, frame, modelfile};

use crate::{CodeArg, DeviceArg, PrecisionArg, load_detector, progress};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, value_name = "MODEL.nfbmr")]
    model: PathBuf,
    /// Good images: a folder (its good/ subfolder when present), or a dataset root with --class
    #[arg(long, value_name = "GOOD_DIR")]
    data: PathBuf,
    /// MVTec AD category or DAGM class under --data (its good training images)
    #[arg(long, value_name = "NAME")]
    class: Option<String>,
    /// Target fraction of good images flagged
    #[arg(long, default_value_t = 0.01)]
    false_alarm_rate: f64,
    #[command(flatten)]
    device: DeviceArg,
    #[command(flatten)]
    precision: PrecisionArg,
    #[command(flatten)]
    code: CodeArg,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let detector = load_detector(&args.model, args.device, args.precision, args.code)?;
    let (images, source) = data::training_set(&args.data, args.class.as_deref())?;
    let bar = progress::bar(images.len() as u64, "scoring");
    let scores = images
        .iter()
        .map(|path| {
            let image = frame::load_rgb(path)?;
            bar.inc(1);
            Ok(detector.infer(&frame::rgb_frame(&image))?.raw_score)
        })
        .collect::<nfbmr::Result<Vec<f64>>>()?;
    bar.finish_and_clear();
    drop(detector);
    let thresholds = calibrate::thresholds_for(&scores, args.false_alarm_rate)?;
    modelfile::rewrite_thresholds(&args.model, &thresholds)?;
    let flagged = scores.iter().filter(|&&s| s >= thresholds.image).count();
    let largest = scores.iter().copied().fold(f64::MIN, f64::max);
    println!(
        "threshold {:.4} for an expected false-alarm rate of {} ({})",
        thresholds.image, args.false_alarm_rate, thresholds.method
    );
    println!(
        "on the {} calibration images from {source}: {flagged} flagged ({:.2}%), largest score {largest:.4}",
        scores.len(),
        100.0 * flagged as f64 / scores.len() as f64
    );
    if let Some(warning) = thresholds.fit_warning() {
        eprintln!("warning: {warning}");
    }
    Ok(ExitCode::SUCCESS)
}
