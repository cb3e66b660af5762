// SPDX-License-Identifier: MIT OR Apache-2.0
//! The report's tables in Markdown: quality per class with the mean, the scoring ablation, and the
//! training-seed study.

use std::fmt::Write as _;

use serde::Serialize;

use super::ClassResult;
use crate::anomaly::ScoreMode;
use crate::evaluate::{Evaluation, KindQuality, ModeQuality};

pub(super) fn figure(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"))
}

/// A false-alarm rate with the rate its threshold was calibrated for, when known: "0.033 (0.010)".
fn against_target(rate: f64, target: Option<f64>) -> String {
    match target {
        Some(target) => format!("{rate:.3} ({target:.3})"),
        None => format!("{rate:.3}"),
    }
}

/// Mean of the values that exist; `None` when none does.
pub(super) fn mean(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let present: Vec<f64> = values.flatten().collect();
    (!present.is_empty()).then(|| present.iter().sum::<f64>() / present.len() as f64)
}

/// The mean over classes of every figure (over the classes that have it).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Means {
    pub image_auroc: Option<f64>,
    pub pixel_auroc: Option<f64>,
    pub pro: Option<f64>,
    pub best_f1: Option<f64>,
    pub false_alarm_rate: Option<f64>,
    pub target_false_alarm_rate: Option<f64>,
    pub miss_rate: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ablation: Vec<ModeQuality>,
}

impl Means {
    pub fn of(classes: &[ClassResult]) -> Self {
        let of = |pick: &dyn Fn(&Evaluation) -> Option<f64>| {
            mean(classes.iter().map(|c| pick(&c.evaluation)))
        };
        let measured = classes.iter().any(|c| !c.evaluation.ablation.is_empty());
        let mode_quality =
            |e: &Evaluation, mode: ScoreMode| e.ablation.iter().find(|q| q.mode == mode).cloned();
        let ablation = if measured {
            ScoreMode::ALL
                .iter()
                .map(|&mode| ModeQuality {
                    mode,
                    image_auroc: of(&|e| mode_quality(e, mode)?.image_auroc),
                    pixel_auroc: of(&|e| mode_quality(e, mode)?.pixel_auroc),
                })
                .collect()
        } else {
            Vec::new()
        };
        Means {
            image_auroc: of(&|e| e.image_auroc),
            pixel_auroc: of(&|e| e.pixel_auroc),
            pro: of(&|e| e.pro),
            best_f1: of(&|e| e.best_f1),
            false_alarm_rate: of(&|e| Some(e.false_alarm_rate)),
            target_false_alarm_rate: of(&|e| e.target_false_alarm_rate),
            miss_rate: of(&|e| Some(e.miss_rate)),
            ablation,
        }
    }
}

/// The per-class quality table with its mean, in Markdown.
pub fn quality_table(classes: &[ClassResult]) -> String {
    let with_time = classes.iter().any(|c| c.training_seconds.is_some());
    let mut out = String::from(
        "| class | images | defective | image AUROC | pixel AUROC | PRO (FPR ≤ 0.3) | best F1 | false alarms (target) | misses |",
    );
    out.push_str(if with_time { " training |\n" } else { "\n" });
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    out.push_str(if with_time { "---:|\n" } else { "\n" });
    let row = |out: &mut String, name: &str, cells: [String; 8], seconds: Option<f64>| {
        let _ = write!(out, "| {name} | {} |", cells.join(" | "));
        if with_time {
            let _ = write!(
                out,
                " {} |",
                seconds.map_or("".into(), |s| format!("{s:.0} s"))
            );
        }
        out.push('\n');
    };
    for c in classes {
        let e = &c.evaluation;
        let cells = [
            e.images.to_string(),
            e.defective.to_string(),
            figure(e.image_auroc),
            figure(e.pixel_auroc),
            figure(e.pro),
            figure(e.best_f1),
            against_target(e.false_alarm_rate, e.target_false_alarm_rate),
            figure(Some(e.miss_rate)),
        ];
        row(&mut out, &c.name, cells, c.training_seconds);
    }
    if classes.len() > 1 {
        let m = Means::of(classes);
        let bold = |value: Option<f64>| format!("**{}**", figure(value));
        let cells = [
            classes
                .iter()
                .map(|c| c.evaluation.images)
                .sum::<usize>()
                .to_string(),
            classes
                .iter()
                .map(|c| c.evaluation.defective)
                .sum::<usize>()
                .to_string(),
            bold(m.image_auroc),
            bold(m.pixel_auroc),
            bold(m.pro),
            bold(m.best_f1),
            format!(
                "**{}**",
                against_target(m.false_alarm_rate.unwrap_or(0.0), m.target_false_alarm_rate)
            ),
            bold(m.miss_rate),
        ];
        let total = classes
            .iter()
            .filter_map(|c| c.training_seconds)
            .sum::<f64>();
        row(
            &mut out,
            "**mean** (training: total)",
            cells,
            with_time.then_some(total),
        );
    }
    out
}

/// The head of a table with a first column and one column per scoring mode.
fn mode_columns(first: &str) -> String {
    let mut out = format!("| {first} |");
    for mode in ScoreMode::ALL {
        let _ = write!(out, " {} |", mode.label());
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(ScoreMode::ALL.len()));
    out.push('\n');
    out
}

/// Image and pixel AUROC of every scoring mode per class, with the mean; empty without an ablation.
pub fn ablation_table(classes: &[ClassResult]) -> String {
    if classes.iter().all(|c| c.evaluation.ablation.is_empty()) {
        return String::new();
    }
    let mut out = mode_columns("class");
    let pair = |quality: Option<&ModeQuality>| {
        format!(
            " {} / {} |",
            figure(quality.and_then(|q| q.image_auroc)),
            figure(quality.and_then(|q| q.pixel_auroc))
        )
    };
    let row = |out: &mut String, name: &str, ablation: &[ModeQuality]| {
        let _ = write!(out, "| {name} |");
        for mode in ScoreMode::ALL {
            out.push_str(&pair(ablation.iter().find(|q| q.mode == mode)));
        }
        out.push('\n');
    };
    for c in classes {
        row(&mut out, &c.name, &c.evaluation.ablation);
    }
    if classes.len() > 1 {
        row(&mut out, "**mean**", &Means::of(classes).ablation);
    }
    out
}

/// Image AUROC per defect kind (each kind against all good images) and the share caught at the model's
/// threshold, a row per class, then the mean over classes of every kind found in more than one; empty when
/// no class has kinds.
pub fn kind_table(classes: &[ClassResult]) -> String {
    if classes.iter().all(|c| c.evaluation.defect_kinds.is_empty()) {
        return String::new();
    }
    let cell = |kind: &str, auroc: Option<f64>, caught: f64| {
        format!("{kind} {} ({:.0}%)", figure(auroc), 100.0 * caught)
    };
    let mut out = String::from(
        "| class | image AUROC by defect kind (share caught at the threshold) |\n|---|---|\n",
    );
    for c in classes {
        let cells: Vec<String> = c
            .evaluation
            .defect_kinds
            .iter()
            .map(|k| cell(&k.kind, k.image_auroc, k.caught))
            .collect();
        let _ = writeln!(out, "| {} | {} |", c.name, cells.join(" · "));
    }
    let all: Vec<&KindQuality> = classes
        .iter()
        .flat_map(|c| &c.evaluation.defect_kinds)
        .collect();
    let mut recurring: Vec<&str> = all.iter().map(|k| k.kind.as_str()).collect();
    recurring.sort_unstable();
    recurring.dedup();
    recurring.retain(|&kind| all.iter().filter(|k| k.kind == kind).count() > 1);
    if !recurring.is_empty() {
        let cells: Vec<String> = recurring
            .iter()
            .map(|&kind| {
                let of_kind = || all.iter().filter(move |k| k.kind == kind);
                let caught = of_kind().map(|k| k.caught).sum::<f64>() / of_kind().count() as f64;
                cell(kind, mean(of_kind().map(|k| k.image_auroc)), caught)
            })
            .collect();
        let _ = writeln!(out, "| **mean** | {} |", cells.join(" · "));
    }
    out
}

/// Mean image AUROC over the classes in each scoring mode for the same benchmark trained with several seeds:
/// a row per training seed, then their mean and their range, which is what one training's luck moves.
pub fn seed_table(runs: &[(u64, Vec<ClassResult>)]) -> String {
    let per_seed: Vec<Vec<Option<f64>>> = runs
        .iter()
        .map(|(_, classes)| {
            let means = Means::of(classes).ablation;
            ScoreMode::ALL
                .iter()
                .map(|&mode| means.iter().find(|q| q.mode == mode)?.image_auroc)
                .collect()
        })
        .collect();
    let mut out = mode_columns("training seed");
    let mut row = |name: &str, values: &mut dyn Iterator<Item = Option<f64>>| {
        let _ = write!(out, "| {name} |");
        for value in values {
            let _ = write!(
                out,
                " {} |",
                value.map_or("n/a".into(), |v| format!("{v:.4}"))
            );
        }
        out.push('\n');
    };
    for ((seed, _), values) in runs.iter().zip(&per_seed) {
        row(&seed.to_string(), &mut values.iter().copied());
    }
    let column = |k: usize| per_seed.iter().filter_map(move |values| values[k]);
    let modes = 0..ScoreMode::ALL.len();
    row(
        "**mean**",
        &mut modes.clone().map(|k| mean(column(k).map(Some))),
    );
    row(
        "range",
        &mut modes.map(|k| {
            let lowest = column(k).fold(f64::INFINITY, f64::min);
            let highest = column(k).fold(f64::NEG_INFINITY, f64::max);
            (lowest <= highest).then_some(highest - lowest)
        }),
    );
    out
}
