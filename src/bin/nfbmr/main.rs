// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `nfbmr` command line: train, score and inspect NF-BMR models. One module per subcommand, each
//! pairing its arguments with the function that runs them.

mod bench;
mod benchmark;
mod calibrate;
mod compare;
mod eval;
mod frames;
mod info;
mod progress;
mod score;
mod synth;
mod train;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use nfbmr::{CodePolicy, DeviceSpec, Precision};

#[derive(Parser)]
#[command(
    name = "nfbmr",
    version,
    about = "Find visual defects with NF-BMR models trained on good parts only"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a synthetic DAGM-like dataset (textures with defects and masks, DAGM 2007 layout)
    Synth(synth::Args),
    /// Pick training frames from footage of good parts (binary PNM pictures, as GStreamer's pnmenc writes
    /// them): every Nth frame, near-duplicates skipped, written as PNG
    Frames(frames::Args),
    /// Train a model on good images
    Train(train::Args),
    /// Score images with a model: score, verdict and optional heatmaps
    Score(score::Args),
    /// Set a model's thresholds from good images for a target false-alarm rate (rewrites the model file)
    Calibrate(calibrate::Args),
    /// Measure a model on a labelled test set: image and pixel AUROC, PRO, best F1, error rates
    Eval(eval::Args),
    /// Describe a model file
    Info(info::Args),
    /// Quality benchmark: synthesise the DAGM-like classes, train each with the defaults, evaluate with the
    /// ablation, print the table and write the report
    Benchmark(benchmark::Args),
    /// Compare two results files (JSON lines) frame by frame: exit 0 when every score agrees within
    /// --tolerance, 1 otherwise, printing the largest difference and where
    Compare(compare::Args),
    /// Measure per-frame speed: the whole detector against its backbone alone, interleaved in one run, and
    /// the heatmap overlay at the frame size
    Bench(bench::Args),
}

/// Where models run; every subcommand that runs one takes it.
#[derive(Args, Clone, Copy)]
struct DeviceArg {
    /// auto, cpu, cuda or cuda:N
    #[arg(long = "device", default_value = "auto", value_name = "DEVICE")]
    spec: DeviceSpec,
}

/// The number format a loaded model computes in; every subcommand that scores with a model takes it.
#[derive(Args, Clone, Copy)]
struct PrecisionArg {
    /// fp32, fp16 or bf16: the backbone, flows and mappers compute in it, the maps are fused in fp32
    #[arg(long = "precision", default_value = "fp32", value_name = "PRECISION")]
    precision: Precision,
}

/// Whether a model file may run the TorchScript it embeds; every subcommand that loads a model file takes it.
#[derive(Args, Clone, Copy)]
struct CodeArg {
    /// Load models that embed a TorchScript backbone, which is program code: only files from a source you
    /// trust
    #[arg(long = "allow-code")]
    allow: bool,
}

impl CodeArg {
    fn policy(self) -> CodePolicy {
        if self.allow {
            CodePolicy::Allow
        } else {
            CodePolicy::Refuse
        }
    }
}

/// Loads a model file onto the device, in the precision, the command line asks for.
fn load_detector(
    model: &std::path::Path,
    device: DeviceArg,
    precision: PrecisionArg,
    code: CodeArg,
) -> nfbmr::Result<nfbmr::Detector> {
    nfbmr::Detector::load(model, device.spec, code.policy())?.with_precision(precision.precision)
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Synth(args) => synth::run(args),
        Command::Frames(args) => frames::run(args),
        Command::Train(args) => train::run(args),
        Command::Score(args) => score::run(args),
        Command::Calibrate(args) => calibrate::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Info(args) => info::run(args),
        Command::Benchmark(args) => benchmark::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Compare(args) => compare::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
