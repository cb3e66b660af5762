// SPDX-License-Identifier: MIT OR Apache-2.0
//! `nfbmr score`: verdicts on image files, with heatmaps.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use nfbmr::heatmap::{Canvas, Colormap};
use nfbmr::{Criteria, Detector, Verdict, frame};

use crate::{CodeArg, DeviceArg, PrecisionArg, load_detector};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, value_name = "MODEL.nfbmr")]
    model: PathBuf,
    /// Images to score
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<PathBuf>,
    /// Write a heatmap overlay PNG per image into this folder
    #[arg(long, value_name = "DIR")]
    heatmap: Option<PathBuf>,
    /// One JSON object per image on stdout instead of text
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    device: DeviceArg,
    #[command(flatten)]
    precision: PrecisionArg,
    #[command(flatten)]
    code: CodeArg,
    /// turbo, jet, inferno or gray
    #[arg(long, default_value = "turbo")]
    colormap: Colormap,
    /// Heatmap opacity, 0 to 1
    #[arg(long, default_value_t = 0.5)]
    alpha: f32,
}

/// One image's line of `--json`: the verdict's fields with the image, the model and the heatmap written.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Line<'a> {
    image: &'a Path,
    #[serde(flatten)]
    verdict: &'a Verdict,
    model_id: &'a str,
    heatmap: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.alpha) {
        bail!("--alpha must be between 0 and 1, got {}", args.alpha);
    }
    let detector = load_detector(&args.model, args.device, args.precision, args.code)?;
    if let Some(dir) = &args.heatmap {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating heatmap folder {}", dir.display()))?;
    }
    let lut = args.colormap.lut();
    let mut failures = 0;
    // A bad image is reported and skipped; the others are still scored.
    for path in &args.images {
        match score_one(&detector, path, &args, &lut) {
            Ok(line) => println!("{line}"),
            Err(err) => {
                failures += 1;
                eprintln!("error: {err:#}");
            }
        }
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn score_one(detector: &Detector, path: &Path, args: &Args, lut: &[[u8; 3]]) -> Result<String> {
    let image = frame::load_rgb(path)?;
    let (width, height) = (image.width() as usize, image.height() as usize);
    let verdict =
        detector
            .infer(&frame::rgb_frame(&image))?
            .verdict(&Criteria::default(), width, height);
    let heatmap = match &args.heatmap {
        Some(dir) => {
            let mut overlay = image;
            Canvas::rgb_image(&mut overlay).blend_map(
                &verdict.map,
                verdict.pixel_threshold as f32,
                lut,
                args.alpha,
                false,
            );
            let stem = path.file_stem().unwrap_or_default().to_string_lossy();
            let out = dir.join(format!("{stem}.heatmap.png"));
            overlay
                .save(&out)
                .with_context(|| format!("writing {}", out.display()))?;
            Some(out)
        }
        None => None,
    };
    if args.json {
        let line = Line {
            image: path,
            verdict: &verdict,
            model_id: detector.model_id(),
            heatmap,
        };
        return Ok(serde_json::to_string(&line)?);
    }
    let label = if verdict.is_anomaly { "DEFECT" } else { "good" };
    Ok(format!(
        "{}\tscore {:.3}\traw {:.4}\t{label}",
        path.display(),
        verdict.score,
        verdict.raw_score
    ))
}
