// SPDX-License-Identifier: MIT OR Apache-2.0
//! Fuzzes the model-file loader: a seeded, structure-aware mutation fuzzer over valid model files (stable
//! Rust has no coverage-guided fuzzer without another toolchain). Each case mutates a seed model's bytes,
//! its safetensors header (dtypes, shapes, offsets, the header length), the JSON configuration inside it,
//! or its tensor data, with or without its checksum, and loads it as the element does. A case must end in
//! a model or an error naming the file: a panic, an abort, over a second, or memory beyond eight times the
//! file (plus libtorch's own 64 MiB) is a finding, written to `--findings` to become a regression file.
//!
//! Cases run in worker processes, so that an abort or a hang is caught and pinned to its case; case N is
//! the same for the same `--seed`, whatever the number of workers.
//!
//! `cargo run --release --example fuzz_modelfile -- --cases 1000000` (scripts/fuzz-modelfile.sh)

mod mutations;
mod supervisor;
mod worker;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use clap::Parser;

use nfbmr::DeviceSpec;
use nfbmr::data::synth::{self, Texture};
use nfbmr::model::backbone::Lite;
use nfbmr::train::{self, BackboneChoice, TrainOptions};

#[derive(Parser)]
pub struct Args {
    /// Cases to run
    #[arg(long, default_value_t = 1_000_000)]
    cases: u64,
    /// Seed of the mutations: the same seed gives the same cases
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Folder the findings are written to
    #[arg(long, default_value = "fuzz-findings")]
    findings: PathBuf,
    /// Worker processes at a time
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Only write these cases (comma-separated) to the findings folder, to reproduce or keep them
    #[arg(long, value_delimiter = ',', value_name = "CASE")]
    write_cases: Vec<u64>,
    /// Cases per worker process
    #[arg(long, default_value_t = 20_000)]
    chunk: u64,
    /// Internal: run cases FROM to TO with the seed models in SEEDS, reporting on standard output
    #[arg(long, num_args = 2, value_names = ["FROM", "TO"], hide = true)]
    worker: Option<Vec<u64>>,
    #[arg(long, hide = true)]
    seeds: Option<PathBuf>,
}

/// A case slower than this is a finding; a worker silent for ten times as long is killed as hung.
pub const SLOW: Duration = Duration::from_secs(1);
/// Memory a case may take beyond eight times its file.
pub const MEMORY_ALLOWANCE: u64 = 64 << 20;

fn main() -> Result<()> {
    let args = Args::parse();
    match (&args.worker, &args.seeds) {
        (Some(range), Some(seeds)) => {
            worker::work(range[0]..range[1], args.seed, &read_seeds(seeds)?)
        }
        _ => supervisor::supervise(&args),
    }
}

/// Two small valid models: one scale at 32 px with one flow step, and two scales at 48 px.
fn make_seeds(dir: &Path) -> Result<()> {
    let images: Vec<PathBuf> = (0..4)
        .map(|index| {
            let path = dir.join(format!("good-{index}.png"));
            synth::sample(Texture::Grain, 3, index, 48, false)
                .image
                .save(&path)?;
            Ok(path)
        })
        .collect::<Result<_>>()?;
    for (name, size, taps, steps) in [
        ("one-scale", 32, vec![2], 1),
        ("two-scales", 48, vec![1, 2], 2),
    ] {
        let mut options = TrainOptions {
            image_size: size,
            flow_epochs: 1,
            mapper_epochs: 1,
            hold_out: 0.0,
            device: DeviceSpec::Cpu,
            backbone: BackboneChoice::EfficientNetLite {
                lite: Lite::Lite0,
                weights: None,
                taps,
            },
            ..TrainOptions::default()
        };
        options.flow.steps = steps;
        train::train(&images, &options, &mut |_| {})?.save(&dir.join(format!("{name}.nfbmr")))?;
    }
    Ok(())
}

fn read_seeds(dir: &Path) -> Result<Vec<Vec<u8>>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    paths.retain(|p| p.extension().is_some_and(|e| e == "nfbmr"));
    paths.sort();
    paths.iter().map(|p| Ok(std::fs::read(p)?)).collect()
}
