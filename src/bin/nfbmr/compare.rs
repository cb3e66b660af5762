// SPDX-License-Identifier: MIT OR Apache-2.0
//! `nfbmr compare`: two results files frame by frame.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use serde_json::json;

use nfbmr::compare::{Comparison, read_results};

#[derive(clap::Args)]
pub struct Args {
    /// JSON lines of a run (the element's results-location), for example the live run
    #[arg(value_name = "A.jsonl")]
    first: PathBuf,
    /// JSON lines of another run of the same frames, for example a replay of its recording
    #[arg(value_name = "B.jsonl")]
    second: PathBuf,
    /// Largest score difference accepted, in score units (1.0 is the threshold); 0: identical scores
    #[arg(long, default_value_t = 0.0)]
    tolerance: f64,
    /// Print the comparison as one JSON object
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    if args.tolerance.is_nan() || args.tolerance < 0.0 {
        bail!("--tolerance must be 0 or more, got {}", args.tolerance);
    }
    let (first, second) = (read_results(&args.first)?, read_results(&args.second)?);
    let comparison = Comparison::of(&first, &second);
    let agrees = comparison.agrees_within(args.tolerance);
    if args.json {
        println!("{}", summary_json(&comparison, agrees));
    } else {
        print_summary(&args, &comparison, agrees);
    }
    Ok(if agrees {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_summary(args: &Args, comparison: &Comparison, agrees: bool) {
    let (a, b) = comparison.frames;
    println!(
        "{a} scored frames in {}, {b} in {}",
        args.first.display(),
        args.second.display()
    );
    if a != b {
        println!(
            "the files scored different numbers of frames: only the first {} are compared",
            a.min(b)
        );
    }
    if let Some(largest) = &comparison.largest {
        let pts = |pts: Option<u64>| {
            pts.map_or("none".to_owned(), |ns| format!("{:.3} s", ns as f64 / 1e9))
        };
        println!(
            "largest score difference {:.6e} at frame {} (pts {} / {}): {} against {}",
            largest.score(),
            largest.index,
            pts(largest.first.pts),
            pts(largest.second.pts),
            largest.first.score,
            largest.second.score
        );
        println!(
            "mean score difference {:.6e}; verdicts differ on {} frames",
            comparison.mean_difference, comparison.verdicts_differing
        );
    }
    let outcome = if agrees { "agree" } else { "differ" };
    println!("{outcome} (tolerance {})", args.tolerance);
}

fn summary_json(comparison: &Comparison, agrees: bool) -> serde_json::Value {
    let largest = comparison.largest.as_ref().map(|l| {
        json!({
            "index": l.index,
            "difference": l.score(),
            "first": { "frame": l.first.frame, "pts": l.first.pts, "score": l.first.score },
            "second": { "frame": l.second.frame, "pts": l.second.pts, "score": l.second.score },
        })
    });
    json!({
        "frames": [comparison.frames.0, comparison.frames.1],
        "largest": largest,
        "mean-difference": comparison.mean_difference,
        "verdicts-differing": comparison.verdicts_differing,
        "agree": agrees,
    })
}
