// SPDX-License-Identifier: MIT OR Apache-2.0
//! `nfbmr eval`: quality figures of models on labelled test sets, with a report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use nfbmr::report::{self, ClassResult};
use nfbmr::{data, evaluate};

use crate::{CodeArg, DeviceArg, PrecisionArg, load_detector, progress};

#[derive(clap::Args)]
pub struct Args {
    /// A model file, or a folder of models named after the classes (Class1.nfbmr, tile.nfbmr, …)
    #[arg(long, value_name = "MODEL.nfbmr|DIR")]
    model: PathBuf,
    /// Dataset root: MVTec AD or DAGM 2007 (with --class), or the folder layout good/, defect/, masks/
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// MVTec AD categories or DAGM classes under --data, comma-separated, or `all`
    #[arg(long, value_name = "NAME,…|all")]
    class: Option<String>,
    /// Also write the figures as JSON to this file
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write report.md with ROC curves, score histograms and heatmap galleries into this folder
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Also score each model with one mapping direction alone and with the flow's likelihood alone
    #[arg(long)]
    ablation: bool,
    /// Show other models' figures on the same sets beside these (a file of
    /// scripts/anomalib-side-by-side.sh); implies --ablation
    #[arg(long, value_name = "FILE")]
    peers: Option<PathBuf>,
    #[command(flatten)]
    device: DeviceArg,
    #[command(flatten)]
    precision: PrecisionArg,
    #[command(flatten)]
    code: CodeArg,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let peers = args.peers.as_deref().map(report::Peers::read).transpose()?;
    let classes: Vec<Option<String>> = match args.class.as_deref() {
        None => vec![None],
        Some("all") => data::classes(&args.data)?.into_iter().map(Some).collect(),
        Some(list) => list.split(',').map(|c| Some(c.trim().to_owned())).collect(),
    };
    let mut results = Vec::new();
    for class in classes {
        let model = if args.model.is_dir() {
            let name = class
                .as_deref()
                .context("--model names a folder of models: give --class")?;
            args.model.join(format!("{name}.nfbmr"))
        } else {
            args.model.clone()
        };
        let scoring = Scoring {
            device: args.device,
            precision: args.precision,
            code: args.code,
            ablation: args.ablation || args.peers.is_some(),
        };
        results.push(scoring.class(&model, &args.data, class.as_deref(), None)?);
    }
    publish(
        &results,
        "nfbmr evaluation report",
        args.json.as_deref(),
        args.report.as_deref(),
    )?;
    show_peers(&[(0, results)], peers.as_ref(), args.report.as_deref())?;
    Ok(ExitCode::SUCCESS)
}

/// How test sets are scored.
pub struct Scoring {
    pub device: DeviceArg,
    pub precision: PrecisionArg,
    /// Whether the models may run embedded TorchScript.
    pub code: CodeArg,
    /// Also in every scoring mode.
    pub ablation: bool,
}

impl Scoring {
    /// Evaluates one model on one class (or the folder layout); `training_seconds` when this run trained it.
    pub fn class(
        &self,
        model: &Path,
        root: &Path,
        class: Option<&str>,
        training_seconds: Option<f64>,
    ) -> Result<ClassResult> {
        let detector = load_detector(model, self.device, self.precision, self.code)?;
        let images = data::test_set(root, class)?;
        let name = class.unwrap_or("all").to_owned();
        if images.iter().any(|i| i.defective) && images.iter().all(|i| i.mask.is_none()) {
            eprintln!(
                "{name}: no defect masks (labelled per image): pixel AUROC and PRO are not computed"
            );
        }
        let bar = progress::bar(images.len() as u64, format!("scoring {name}"));
        let (evaluation, scored) =
            evaluate::evaluate(&detector, &images, self.ablation, &mut || bar.inc(1))?;
        bar.finish_and_clear();
        Ok(ClassResult {
            name,
            model: model.to_owned(),
            model_id: detector.model_id().to_owned(),
            evaluation,
            scored,
            training_seconds,
        })
    }
}

/// Prints the tables and writes the JSON and the report, where asked for.
pub fn publish(
    results: &[ClassResult],
    title: &str,
    json: Option<&Path>,
    report_dir: Option<&Path>,
) -> Result<()> {
    println!("{}", report::quality_table(results));
    let ablation = report::ablation_table(results);
    if !ablation.is_empty() {
        println!("image AUROC / pixel AUROC by scoring mode:\n\n{ablation}");
    }
    let kinds = report::kind_table(results);
    if !kinds.is_empty() {
        println!("{kinds}");
    }
    if let Some(dir) = report_dir {
        let path = report::write(dir, title, results)?;
        eprintln!("report: {}", path.display());
    }
    if let Some(path) = json {
        report::write_json(path, results)?;
    }
    Ok(())
}

/// Prints the peers' figures beside nfbmr's (each training seed's classes in `runs`), and adds them to the
/// report, where asked for.
pub fn show_peers(
    runs: &[(u64, Vec<ClassResult>)],
    peers: Option<&report::Peers>,
    report_dir: Option<&Path>,
) -> Result<()> {
    let Some(peers) = peers else {
        return Ok(());
    };
    let table = match report_dir {
        Some(dir) => report::append_peers(dir, runs, peers)?,
        None => report::peer_table(runs, peers),
    };
    println!(
        "image AUROC / pixel AUROC beside {}:\n\n{table}",
        peers.source
    );
    Ok(())
}
