// SPDX-License-Identifier: MIT OR Apache-2.0
//! The evaluation report: a per-class table with its mean (and the scoring ablation when measured) in
//! Markdown, and per class an ROC curve, a histogram of good and defective scores with the threshold, and a
//! gallery of heatmap overlays, worst misses and false alarms first, all as PNG next to `report.md`.

mod charts;
mod gallery;
mod peers;
mod tables;

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use ab_glyph::FontVec;
use image::RgbImage;
use serde_json::json;

use crate::error::{Error, Result};
use crate::evaluate::{Evaluation, ScoredImage};
use crate::metrics;
pub use peers::{PeerModel, PeerRun, Peers, peer_table};
pub use tables::{Means, ablation_table, kind_table, quality_table, seed_table};

/// Heatmap overlays per class and kind of error in the gallery.
const GALLERY_SIZE: usize = 6;

/// Where fonts for the charts' text are looked for (Debian's fonts-dejavu-core first).
const FONT_PATHS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// One class's evaluation.
pub struct ClassResult {
    /// Class or category name; the folder layout has none and is called "all".
    pub name: String,
    /// Every test image as the model saw it.
    pub scored: Vec<ScoredImage>,
    /// The model file.
    pub model: PathBuf,
    /// The model's id (see [`crate::modelfile::ModelFile::id`]).
    pub model_id: String,
    /// Its figures on the class's test set.
    pub evaluation: Evaluation,
    /// Seconds the model took to train, when this run trained it.
    pub training_seconds: Option<f64>,
}

/// Writes `report.md` and its pictures into `dir`; returns the path of `report.md`.
pub fn write(dir: &Path, title: &str, classes: &[ClassResult]) -> Result<PathBuf> {
    let font = FONT_PATHS
        .iter()
        .find_map(|path| FontVec::try_from_vec(fs::read(path).ok()?).ok());
    let mut md = format!("# {title}\n\n");
    let _ = writeln!(
        md,
        "Written by nfbmr {}. Figures are for the fused NF-BMR score at each model's own threshold; \
         best F1 is the best over all thresholds on this test set.\n",
        env!("CARGO_PKG_VERSION")
    );
    md.push_str(&quality_table(classes));
    let ablation = ablation_table(classes);
    if !ablation.is_empty() {
        md.push_str(
            "\n## Ablation: what each part of the model contributes\n\nImage AUROC / pixel AUROC of the \
             same trained models scored four ways: NF-BMR's fused residuals, each mapping direction \
             alone, and the flow's likelihood alone (as FastFlow scores).\n\n",
        );
        md.push_str(&ablation);
    }
    let kinds = kind_table(classes);
    if !kinds.is_empty() {
        md.push_str("\n## By kind of defect\n\nEach kind's images against all good images.\n\n");
        md.push_str(&kinds);
    }
    if font.is_none() {
        md.push_str(
            "\nNo font was found (install fonts-dejavu-core), so the charts below have no labels.\n",
        );
    }
    for class in classes {
        let folder = dir.join(&class.name);
        fs::create_dir_all(folder.join("gallery"))
            .map_err(|e| Error::io(format!("creating {}", folder.display()), e))?;
        let _ = writeln!(
            md,
            "\n## {}\n\nModel `{}` ({}), threshold {:.4}.\n",
            class.name,
            class.model.display(),
            class.model_id,
            class.evaluation.threshold
        );
        let scores: Vec<f32> = class.scored.iter().map(|s| s.score as f32).collect();
        let truth: Vec<bool> = class.scored.iter().map(|s| s.image.defective).collect();
        if let Some(curve) = metrics::roc_curve(&scores, &truth) {
            let chart = charts::roc_chart(&curve, class, font.as_ref());
            save(&chart, &folder.join("roc.png"))?;
            let _ = write!(md, "![ROC curve of {0}]({0}/roc.png) ", class.name);
        }
        let chart = charts::histogram_chart(class, font.as_ref());
        save(&chart, &folder.join("histogram.png"))?;
        let _ = writeln!(
            md,
            "![Score histogram of {0}]({0}/histogram.png)",
            class.name
        );
        md.push_str(&gallery::gallery(class, &folder)?);
    }
    let path = dir.join("report.md");
    fs::write(&path, md).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    Ok(path)
}

fn save(image: &RgbImage, path: &Path) -> Result<()> {
    image.save(path).map_err(|e| Error::Image {
        path: path.to_owned(),
        problem: format!("cannot write: {e}"),
    })
}

/// Writes the figures as JSON: `{"classes": [...], "mean": {...}}`, per class its evaluation with its name,
/// model, model id and training time.
pub fn write_json(path: &Path, classes: &[ClassResult]) -> Result<()> {
    let per_class = classes
        .iter()
        .map(|c| {
            let mut value = serde_json::to_value(&c.evaluation).expect("evaluations serialise");
            value["class"] = json!(c.name);
            value["model"] = json!(c.model);
            value["model-id"] = json!(c.model_id);
            value["training-seconds"] = json!(c.training_seconds);
            value
        })
        .collect::<Vec<_>>();
    let value = json!({ "classes": per_class, "mean": Means::of(classes) });
    let text = serde_json::to_string_pretty(&value).expect("JSON values serialise");
    fs::write(path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// Appends the training-seed study of [`seed_table`] to the `report.md` that [`write`] wrote into `dir`,
/// and writes each seed's means as `training-seeds.json` beside it; returns the table.
pub fn append_training_seeds(dir: &Path, runs: &[(u64, Vec<ClassResult>)]) -> Result<String> {
    let table = seed_table(runs);
    append_section(
        dir,
        &format!(
            "## Training seeds\n\nMean image AUROC over the classes by scoring mode, each class \
             trained once per seed; the tables above are seed 0's.\n\n{table}"
        ),
    )?;
    let by_seed: Vec<_> = runs
        .iter()
        .map(|(seed, results)| json!({ "seed": seed, "mean": Means::of(results) }))
        .collect();
    let path = dir.join("training-seeds.json");
    let text = serde_json::to_string_pretty(&by_seed).expect("JSON values serialise");
    fs::write(&path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    Ok(table)
}

/// Appends the side-by-side table of [`peer_table`] to the `report.md` that [`write`] wrote into `dir`;
/// returns the table.
pub fn append_peers(dir: &Path, runs: &[(u64, Vec<ClassResult>)], peers: &Peers) -> Result<String> {
    let table = peer_table(runs, peers);
    append_section(
        dir,
        &format!(
            "## Beside other models\n\nImage AUROC / pixel AUROC on the same test sets, each the mean \
             over the training seeds measured ({} seed(s) of nfbmr).\n\n{table}",
            runs.len()
        ),
    )?;
    Ok(table)
}

fn append_section(dir: &Path, section: &str) -> Result<()> {
    let markdown = dir.join("report.md");
    fs::OpenOptions::new()
        .append(true)
        .open(&markdown)
        .and_then(|mut file| writeln!(file, "\n{section}"))
        .map_err(|e| Error::io(format!("writing {}", markdown.display()), e))
}
