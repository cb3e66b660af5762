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
    /// Good images: a folder (its good/ subfolder when present), or a dataset root with --class. Once per
    /// batch of parts (a lot, a day, a supplier): the threshold comes from all of them, and each batch is
    /// checked against the threshold the others give
    #[arg(long, value_name = "GOOD_DIR", required = true)]
    data: Vec<PathBuf>,
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
    let (sources, batches) = scored_batches(&args)?;
    let scores: Vec<f64> = batches.concat();
    let mut thresholds = calibrate::thresholds_for(&scores, args.false_alarm_rate)?;
    let checks = if batches.len() > 1 {
        calibrate::check_batches(&batches, args.false_alarm_rate)?
    } else {
        Vec::new()
    };
    let differing = checks.iter().filter(|check| check.differs()).count();
    if !checks.is_empty() {
        thresholds.method = format!(
            "{}; {} batches, {differing} of them above what the others allow",
            thresholds.method,
            checks.len()
        );
    }
    modelfile::rewrite_thresholds(&args.model, &thresholds)?;
    let flagged = scores.iter().filter(|&&s| s >= thresholds.image).count();
    let largest = scores.iter().copied().fold(f64::MIN, f64::max);
    println!(
        "threshold {:.4} for an expected false-alarm rate of {} ({})",
        thresholds.image, args.false_alarm_rate, thresholds.method
    );
    let source = match &sources[..] {
        [source] => source.clone(),
        _ => format!("{} batches", sources.len()),
    };
    println!(
        "on the {} calibration images from {source}: {flagged} flagged ({:.2}%), largest score {largest:.4}",
        scores.len(),
        100.0 * flagged as f64 / scores.len() as f64
    );
    if let Some(warning) = thresholds.fit_warning() {
        eprintln!("warning: {warning}");
    }
    if !checks.is_empty() {
        print_batches(&sources, &checks);
    }
    for (source, check) in sources.iter().zip(&checks) {
        if check.differs() {
            eprintln!(
                "warning: {} of the {} good images of {source} score at or above the threshold the other \
                 batches give ({:.4}); were its parts like theirs, that would happen with a chance of \
                 {}. The batches differ more than one threshold allows for: calibrate on more \
                 batches, or look for defects in that one",
                check.flagged,
                check.images,
                check.threshold,
                readable(check.chance)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Each --data folder's source and raw scores.
fn scored_batches(args: &Args) -> Result<(Vec<String>, Vec<Vec<f64>>)> {
    let detector = load_detector(&args.model, args.device, args.precision, args.code)?;
    let mut batches = (Vec::new(), Vec::new());
    for data in &args.data {
        let (images, source) = data::training_set(data, args.class.as_deref())?;
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
        batches.0.push(source);
        batches.1.push(scores);
    }
    Ok(batches)
}

/// Each batch against the threshold calibrated on the others, as a table.
fn print_batches(sources: &[String], checks: &[calibrate::BatchCheck]) {
    println!("each batch against the threshold calibrated on the others:");
    println!(
        "  {:>6}  {:>7}  {:>9}  {:>7}  batch",
        "images", "flagged", "threshold", "chance"
    );
    for (source, check) in sources.iter().zip(checks) {
        let verdict = if check.differs() { "  (differs)" } else { "" };
        println!(
            "  {:>6}  {:>7}  {:>9.4}  {:>7}  {source}{verdict}",
            check.images,
            check.flagged,
            check.threshold,
            readable(check.chance)
        );
    }
}

/// A chance with two decimals, or in scientific notation when it is smaller than they show.
fn readable(chance: f64) -> String {
    if chance >= 0.01 {
        format!("{chance:.2}")
    } else {
        format!("{chance:.1e}")
    }
}
