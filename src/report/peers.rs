// SPDX-License-Identifier: MIT OR Apache-2.0
//! Other models' figures on the same sets (scripts/anomalib_side_by_side.py writes them), shown beside
//! nfbmr's own: every scoring mode and every peer, image / pixel AUROC per class, each the mean over the
//! training seeds it was measured with.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;

use super::ClassResult;
use super::tables::{figure, mean};
use crate::anomaly::ScoreMode;
use crate::error::{Error, Result};

/// A peers file.
#[derive(Clone, Debug, Deserialize)]
pub struct Peers {
    /// What produced the figures, e.g. "anomalib 2.7.0".
    pub source: String,
    pub models: Vec<PeerModel>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PeerModel {
    pub name: String,
    /// Per class, one entry per training seed.
    pub classes: BTreeMap<String, Vec<PeerRun>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PeerRun {
    pub seed: u64,
    pub image_auroc: Option<f64>,
    pub pixel_auroc: Option<f64>,
}

impl Peers {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading peers file {}", path.display()), e))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::Data(format!("{} is not a peers file: {e}", path.display())))
    }
}

/// Image and pixel AUROC, each a mean over seeds.
type Pair = (Option<f64>, Option<f64>);

/// nfbmr's scoring modes and the peers, side by side per class and on average over the classes every
/// column has. `runs` are nfbmr's training seeds, each with its classes.
pub fn peer_table(runs: &[(u64, Vec<ClassResult>)], peers: &Peers) -> String {
    let Some((_, first)) = runs.first() else {
        return String::new();
    };
    let names: Vec<&str> = first.iter().map(|c| c.name.as_str()).collect();
    let mut columns: Vec<(String, Vec<Pair>)> = ScoreMode::ALL
        .iter()
        .map(|&mode| {
            let label = mode.label().to_string();
            (
                label,
                names.iter().map(|name| own(runs, name, mode)).collect(),
            )
        })
        .collect();
    for model in &peers.models {
        let per_class = names
            .iter()
            .map(|name| {
                let seeds = model.classes.get(*name).map(Vec::as_slice).unwrap_or(&[]);
                (
                    mean(seeds.iter().map(|r| r.image_auroc)),
                    mean(seeds.iter().map(|r| r.pixel_auroc)),
                )
            })
            .collect();
        columns.push((format!("{} ({})", model.name, peers.source), per_class));
    }

    let mut out = "| class |".to_string();
    for (label, _) in &columns {
        let _ = write!(out, " {label} |");
    }
    let _ = write!(out, "\n|---|{}\n", "---:|".repeat(columns.len()));
    for (k, name) in names.iter().enumerate() {
        let _ = write!(out, "| {name} |");
        for (_, values) in &columns {
            let (image, pixel) = values[k];
            let _ = write!(out, " {} / {} |", figure(image), figure(pixel));
        }
        out.push('\n');
    }
    // Means over the classes that every column has, so that no column gains from a missing class.
    let complete: Vec<usize> = (0..names.len())
        .filter(|&k| columns.iter().all(|(_, values)| values[k].0.is_some()))
        .collect();
    match complete.len() == names.len() {
        true => out.push_str("| **mean** |"),
        false => {
            let _ = write!(
                out,
                "| **mean** of the {} complete classes |",
                complete.len()
            );
        }
    }
    for (_, values) in &columns {
        let image = mean(complete.iter().map(|&k| values[k].0));
        let pixel = mean(complete.iter().map(|&k| values[k].1));
        let _ = write!(out, " {} / {} |", figure(image), figure(pixel));
    }
    out.push('\n');
    out
}

/// nfbmr's image and pixel AUROC of a class in one scoring mode, each the mean over the training seeds.
fn own(runs: &[(u64, Vec<ClassResult>)], class: &str, mode: ScoreMode) -> Pair {
    let quality = || {
        runs.iter().filter_map(move |(_, classes)| {
            let result = classes.iter().find(|c| c.name == class)?;
            result.evaluation.ablation.iter().find(|q| q.mode == mode)
        })
    };
    (
        mean(quality().map(|q| q.image_auroc)),
        mean(quality().map(|q| q.pixel_auroc)),
    )
}
