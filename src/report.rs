// SPDX-License-Identifier: MIT OR Apache-2.0
//! The evaluation report: a per-class table with its mean (and the scoring ablation when measured) in
//! Markdown, and per class an ROC curve, a histogram of good and defective scores with the threshold, and a
//! gallery of heatmap overlays, worst misses and false alarms first, all as PNG next to `report.md`.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use ab_glyph::{FontVec, PxScale};
use image::{Rgb, RgbImage};
use imageproc::drawing::{self, draw_filled_rect_mut, draw_line_segment_mut, draw_text_mut};
use imageproc::rect::Rect;
use serde::Serialize;

use crate::anomaly::ScoreMode;
use crate::error::{Error, Result};
use crate::evaluate::{Evaluation, ModeQuality, ScoredImage};
use crate::frame::{self, PixelLayout};
use crate::heatmap::{Canvas, Colormap};
use crate::metrics;

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
    pub model: PathBuf,
    pub model_id: String,
    pub evaluation: Evaluation,
    pub scored: Vec<ScoredImage>,
    /// Seconds the model took to train, when this run trained it.
    pub training_seconds: Option<f64>,
}

fn figure(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"))
}

/// Mean of the values that exist; `None` when none does.
fn mean(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
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
            miss_rate: of(&|e| Some(e.miss_rate)),
            ablation,
        }
    }
}

/// The per-class quality table with its mean, in Markdown.
pub fn quality_table(classes: &[ClassResult]) -> String {
    let with_time = classes.iter().any(|c| c.training_seconds.is_some());
    let mut out = String::from(
        "| class | images | defective | image AUROC | pixel AUROC | PRO (FPR ≤ 0.3) | best F1 | false alarms | misses |",
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
            figure(Some(e.false_alarm_rate)),
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
            bold(m.false_alarm_rate),
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
            let chart = roc_chart(&curve, class, font.as_ref());
            save(&chart, &folder.join("roc.png"))?;
            let _ = write!(md, "![ROC curve of {0}]({0}/roc.png) ", class.name);
        }
        let chart = histogram_chart(class, font.as_ref());
        save(&chart, &folder.join("histogram.png"))?;
        let _ = writeln!(
            md,
            "![Score histogram of {0}]({0}/histogram.png)",
            class.name
        );
        md.push_str(&gallery(class, &folder)?);
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

/// Overlays of the worst misses (defective images with the lowest scores) and false alarms (good images
/// with the highest), written as PNG; returns their Markdown section.
fn gallery(class: &ClassResult, folder: &Path) -> Result<String> {
    let threshold = class.evaluation.threshold;
    let mut defective: Vec<&ScoredImage> =
        class.scored.iter().filter(|s| s.image.defective).collect();
    let mut good: Vec<&ScoredImage> = class.scored.iter().filter(|s| !s.image.defective).collect();
    defective.sort_by(|a, b| a.score.total_cmp(&b.score));
    good.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut md = String::new();
    for (heading, kind, images) in [
        (
            "Defective images, lowest scores first (misses when below 1.00)",
            "miss",
            defective,
        ),
        (
            "Good images, highest scores first (false alarms when at or above 1.00)",
            "false-alarm",
            good,
        ),
    ] {
        if images.is_empty() {
            continue;
        }
        let _ = writeln!(
            md,
            "\n### {heading}\n\nLeft: the heatmap (red is at twice the threshold); right: the ground truth in green.\n\n| | image | score / threshold |\n|---|---|---:|"
        );
        for (rank, scored) in images.iter().take(GALLERY_SIZE).enumerate() {
            let name = format!("{kind}-{:02}.png", rank + 1);
            save(
                &overlay(scored, threshold as f32)?,
                &folder.join("gallery").join(&name),
            )?;
            let _ = writeln!(
                md,
                "| ![{name}]({}/gallery/{name}) | `{}` | {:.2} |",
                class.name,
                scored.image.path.display(),
                scored.score / threshold
            );
        }
    }
    Ok(md)
}

/// The image at the model's input size twice side by side: with the heatmap, and with the mask outlined.
fn overlay(scored: &ScoredImage, threshold: f32) -> Result<RgbImage> {
    let (width, height) = (scored.map.width, scored.map.height);
    let picture = image::imageops::resize(
        &frame::load_rgb(&scored.image.path)?,
        width as u32,
        height as u32,
        image::imageops::FilterType::Triangle,
    );
    let mut heat = picture.clone();
    Canvas {
        data: &mut heat,
        width,
        height,
        stride: width * 3,
        layout: PixelLayout::RGB,
    }
    .blend_map(&scored.map, threshold, &Colormap::Turbo.lut(), 0.5, false);
    let mut truth = picture;
    if let Some(mask) = &scored.mask {
        let at = |x: i64, y: i64| {
            x >= 0
                && y >= 0
                && (x as usize) < width
                && (y as usize) < height
                && mask[y as usize * width + x as usize]
        };
        for (x, y, pixel) in truth.enumerate_pixels_mut() {
            let (x, y) = (x as i64, y as i64);
            let edge = at(x, y) && !(at(x - 1, y) && at(x + 1, y) && at(x, y - 1) && at(x, y + 1));
            if edge {
                *pixel = Rgb([0, 255, 0]);
            }
        }
    }
    let mut tile = RgbImage::new(2 * width as u32 + 4, height as u32);
    image::imageops::replace(&mut tile, &heat, 0, 0);
    image::imageops::replace(&mut tile, &truth, width as i64 + 4, 0);
    Ok(tile)
}

const INK: Rgb<u8> = Rgb([30, 30, 30]);
const GRID: Rgb<u8> = Rgb([225, 225, 225]);
const GOOD: Rgb<u8> = Rgb([40, 110, 200]);
const DEFECT: Rgb<u8> = Rgb([215, 60, 40]);

/// A white chart with a framed plot area, ticks and labels, mapping data coordinates to pixels.
struct Chart<'a> {
    image: RgbImage,
    font: Option<&'a FontVec>,
    area: (f32, f32, f32, f32),
    x: (f64, f64),
    y: (f64, f64),
}

impl<'a> Chart<'a> {
    fn new(
        title: &str,
        labels: (&str, &str),
        x: (f64, f64),
        y: (f64, f64),
        font: Option<&'a FontVec>,
    ) -> Self {
        let (width, height) = (560u32, 440u32);
        let mut chart = Chart {
            image: RgbImage::from_pixel(width, height, Rgb([255, 255, 255])),
            font,
            area: (70.0, 40.0, width as f32 - 20.0, height as f32 - 60.0),
            x,
            y,
        };
        let (left, top, right, bottom) = chart.area;
        for step in 0..=5 {
            let t = step as f64 / 5.0;
            let (vx, vy) = (x.0 + t * (x.1 - x.0), y.0 + t * (y.1 - y.0));
            let (px, py) = chart.point(vx, vy);
            draw_line_segment_mut(&mut chart.image, (px, top), (px, bottom), GRID);
            draw_line_segment_mut(&mut chart.image, (left, py), (right, py), GRID);
            chart.text(&tick(vx, x), px, bottom + 6.0, 14.0, 0.5);
            chart.text(&tick(vy, y), left - 6.0, py - 7.0, 14.0, 1.0);
        }
        for (a, b) in [
            ((left, top), (right, top)),
            ((right, top), (right, bottom)),
            ((right, bottom), (left, bottom)),
            ((left, bottom), (left, top)),
        ] {
            draw_line_segment_mut(&mut chart.image, a, b, INK);
        }
        chart.text(title, width as f32 / 2.0, 10.0, 18.0, 0.5);
        chart.text(labels.0, (left + right) / 2.0, bottom + 28.0, 15.0, 0.5);
        chart.text(labels.1, 8.0, top - 24.0, 15.0, 0.0);
        chart
    }

    /// Pixel position of a data point.
    fn point(&self, x: f64, y: f64) -> (f32, f32) {
        let (left, top, right, bottom) = self.area;
        let fx = ((x - self.x.0) / (self.x.1 - self.x.0)) as f32;
        let fy = ((y - self.y.0) / (self.y.1 - self.y.0)) as f32;
        (left + fx * (right - left), bottom - fy * (bottom - top))
    }

    /// Text of height `size` whose left edge, centre or right edge (`anchor` 0, ½, 1) is at `x`.
    fn text(&mut self, text: &str, x: f32, y: f32, size: f32, anchor: f32) {
        let Some(font) = self.font else { return };
        let scale = PxScale::from(size);
        let (width, _) = drawing::text_size(scale, font, text);
        let left = x - anchor * width as f32;
        draw_text_mut(
            &mut self.image,
            INK,
            left.round() as i32,
            y.round() as i32,
            scale,
            font,
            text,
        );
    }

    /// A polyline three pixels wide.
    fn line(&mut self, points: &[(f64, f64)], colour: Rgb<u8>) {
        for pair in points.windows(2) {
            let (a, b) = (
                self.point(pair[0].0, pair[0].1),
                self.point(pair[1].0, pair[1].1),
            );
            for (dx, dy) in [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)] {
                draw_line_segment_mut(
                    &mut self.image,
                    (a.0 + dx, a.1 + dy),
                    (b.0 + dx, b.1 + dy),
                    colour,
                );
            }
        }
    }

    /// A colour key in the top-right corner of the plot area, one line per entry.
    fn legend(&mut self, entries: &[(&str, Rgb<u8>)]) {
        let (_, top, right, _) = self.area;
        let left = right - 110.0;
        for (i, (label, colour)) in entries.iter().enumerate() {
            let y = top + 10.0 + 20.0 * i as f32;
            draw_filled_rect_mut(
                &mut self.image,
                Rect::at(left as i32, y as i32 + 3).of_size(14, 10),
                *colour,
            );
            self.text(label, left + 20.0, y, 14.0, 0.0);
        }
    }
}

/// A tick label with as many decimals as the axis range needs.
fn tick(value: f64, range: (f64, f64)) -> String {
    let decimals = (1.0 - (range.1 - range.0).abs().log10().floor()).clamp(0.0, 6.0) as usize;
    format!("{value:.decimals$}")
}

fn roc_chart(curve: &[(f64, f64)], class: &ClassResult, font: Option<&FontVec>) -> RgbImage {
    let title = format!(
        "{}: image ROC, AUROC {}",
        class.name,
        figure(class.evaluation.image_auroc)
    );
    let mut chart = Chart::new(
        &title,
        ("false-positive rate", "true-positive rate"),
        (0.0, 1.0),
        (0.0, 1.0),
        font,
    );
    chart.line(&[(0.0, 0.0), (1.0, 1.0)], GRID);
    chart.line(curve, DEFECT);
    chart.image
}

fn histogram_chart(class: &ClassResult, font: Option<&FontVec>) -> RgbImage {
    const BINS: usize = 30;
    let threshold = class.evaluation.threshold;
    let scores = class.scored.iter().map(|s| s.score).chain([threshold]);
    let low = scores.clone().fold(f64::INFINITY, f64::min);
    let high = scores.fold(f64::NEG_INFINITY, f64::max);
    let span = (high - low).max(1e-9) * 1.05;
    let bin = |score: f64| (((score - low) / span) * BINS as f64) as usize;
    let mut counts = [[0usize; BINS]; 2];
    for s in &class.scored {
        counts[s.image.defective as usize][bin(s.score).min(BINS - 1)] += 1;
    }
    // A count axis in steps of whole images.
    let tallest = counts.iter().flatten().copied().max().unwrap_or(1);
    let count_axis = (tallest * 11 / 10).div_ceil(5).max(1) as f64 * 5.0;
    let title = format!("{}: image scores, threshold {:.3}", class.name, threshold);
    let mut chart = Chart::new(
        &title,
        ("raw score", "images"),
        (low, low + span),
        (0.0, count_axis),
        font,
    );
    let width = span / BINS as f64;
    for (kind, colour) in [(0, GOOD), (1, DEFECT)] {
        for (i, &count) in counts[kind].iter().enumerate().filter(|(_, c)| **c > 0) {
            let x0 = low + i as f64 * width;
            // Good bars fill the left half of a bin, defective bars the right half, so neither hides the other.
            let x0 = x0 + kind as f64 * width / 2.0;
            let (left, top) = chart.point(x0, count as f64);
            let (right, bottom) = chart.point(x0 + width / 2.0, 0.0);
            let rect = Rect::at(left as i32, top as i32).of_size(
                ((right - left) as u32).max(1),
                ((bottom - top) as u32).max(1),
            );
            draw_filled_rect_mut(&mut chart.image, rect, colour);
        }
    }
    chart.line(&[(threshold, 0.0), (threshold, count_axis)], INK);
    chart.legend(&[("good", GOOD), ("defective", DEFECT), ("threshold", INK)]);
    chart.image
}
