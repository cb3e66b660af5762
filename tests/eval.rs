// SPDX-License-Identifier: MIT OR Apache-2.0
//! `nfbmr eval` on generated datasets: its figures agree with the scores `nfbmr score` prints, whatever the
//! layout the same images come in; its report and the quality benchmark write what they link to.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use nfbmr::data::synth::{SynthOptions, write_dagm_class};
use nfbmr::data::{self, LabeledImage};

use common::cli::{FIGURES, eval_json, image_auroc_of_scores, nfbmr, with_model};

/// A synthetic dataset's options: (train, test) images per class, their defective fraction, their side
/// and the seed.
fn synthetic(
    (train, test): (usize, usize),
    defect_fraction: f64,
    size: u32,
    seed: u64,
) -> SynthOptions {
    SynthOptions {
        seed,
        size,
        train,
        test,
        defect_fraction,
    }
}

/// Synthetic DAGM `classes` under `dir/dagm`, and a tiny model trained for `epochs` on each class's good
/// images as `dir/models/ClassN.nfbmr`; returns both folders.
fn dagm_with_models(
    dir: &Path,
    classes: &[usize],
    options: &SynthOptions,
    epochs: usize,
) -> (PathBuf, PathBuf) {
    let (root, models) = (dir.join("dagm"), dir.join("models"));
    std::fs::create_dir_all(&models).unwrap();
    let mut train = common::tiny_options(i64::from(options.size), epochs);
    train.hold_out = 0.0;
    for class in classes {
        write_dagm_class(&root, *class, options).unwrap();
        let (good, _) = data::training_set(&root, Some(&format!("Class{class}"))).unwrap();
        common::train_quietly(&good, &train)
            .save(&models.join(format!("Class{class}.nfbmr")))
            .unwrap();
    }
    (root, models)
}

#[test]
fn eval_figures_match_the_scores_in_every_layout() {
    let dir = tempfile::tempdir().unwrap();
    let options = synthetic((16, 10), 0.4, 96, 4);
    let (root, models) = dagm_with_models(dir.path(), &[2], &options, 3);
    let model = models.join("Class2.nfbmr");

    let dagm_json = eval_json(
        &model,
        &["--data", root.to_str().unwrap(), "--class", "Class2"],
        &dir.path().join("a.json"),
    );
    assert_eq!(dagm_json["images"], 10);
    assert_eq!(dagm_json["defective"], 4);
    for key in FIGURES {
        let value = dagm_json[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing"));
        assert!((0.0..=1.0).contains(&value), "{key} = {value}");
    }

    // The image AUROC is the one of the raw scores `nfbmr score` prints for the same images.
    let test: Vec<LabeledImage> = data::test_set(&root, Some("Class2")).unwrap();
    let expected = image_auroc_of_scores(&model, &test);
    assert!((dagm_json["image-auroc"].as_f64().unwrap() - expected).abs() < 1e-9);

    // The same images in the folder layout give the same figures.
    let folder = dir.path().join("folder");
    for sub in ["good", "defect", "masks"] {
        std::fs::create_dir_all(folder.join(sub)).unwrap();
    }
    for image in &test {
        let name = image.path.file_name().unwrap();
        let sub = if image.defective { "defect" } else { "good" };
        std::fs::copy(&image.path, folder.join(sub).join(name)).unwrap();
        if let Some(mask) = &image.mask {
            std::fs::copy(mask, folder.join("masks").join(name)).unwrap();
        }
    }
    let folder_json = eval_json(
        &model,
        &["--data", folder.to_str().unwrap()],
        &dir.path().join("b.json"),
    );
    // Equal up to libtorch's run-to-run float noise (seen: pixel AUROC differing in the 8th digit).
    for key in FIGURES {
        let (a, b) = (
            folder_json[key].as_f64().unwrap(),
            dagm_json[key].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-6, "{key}: {a} vs {b}");
    }

    // Labelled per image, as many real sets are: an MVTec layout without ground_truth/ gives the same
    // image figures, no pixel figures, and says why once.
    let category = dir.path().join("mvtec").join("part");
    for image in &test {
        let kind = if image.defective { "defect" } else { "good" };
        let copy = category
            .join("test")
            .join(kind)
            .join(image.path.file_name().unwrap());
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        std::fs::copy(&image.path, copy).unwrap();
    }
    let labels_json = dir.path().join("labels.json");
    let output = Command::new(env!("CARGO_BIN_EXE_nfbmr"))
        .args(["eval", "--device", "cpu", "--class", "part", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(dir.path().join("mvtec"))
        .arg("--json")
        .arg(&labels_json)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(stderr.matches("no defect masks").count(), 1, "{stderr}");
    let labels: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&labels_json).unwrap()).unwrap();
    let labels = &labels["classes"][0];
    assert!(
        labels["pixel-auroc"].is_null() && labels["pro"].is_null(),
        "{labels}"
    );
    for key in ["image-auroc", "best-f1", "false-alarm-rate", "miss-rate"] {
        let (a, b) = (
            labels[key].as_f64().unwrap(),
            dagm_json[key].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-6, "{key}: {a} vs {b}");
    }

    calibration_from_good_images(&root, &model, &dagm_json, dir.path());
}

/// Calibration from good images: a rarer false alarm needs a higher threshold, the model says how its
/// threshold was set, and batches are checked against each other.
fn calibration_from_good_images(
    root: &Path,
    model: &Path,
    dagm_json: &serde_json::Value,
    dir: &Path,
) {
    let threshold = |rate: &str| -> f64 {
        let data = ["--data", root.to_str().unwrap(), "--class", "Class2"];
        with_model(
            "calibrate",
            model,
            &[&data[..], &["--false-alarm-rate", rate]].concat(),
        );
        let info = nfbmr(&["info", "--json", model.to_str().unwrap()]);
        let info: serde_json::Value = serde_json::from_str(&info).unwrap();
        let thresholds = &info["thresholds"];
        assert!(
            thresholds["method"]
                .as_str()
                .unwrap()
                .starts_with("Gumbel fit")
        );
        assert_eq!(thresholds["false-alarm-rate"].as_f64(), rate.parse().ok());
        let anderson_darling = thresholds["fit"]["anderson-darling"].as_f64().unwrap();
        assert_eq!(
            thresholds["fit"]["holds"].as_bool(),
            Some(anderson_darling <= 1.038),
            "{thresholds}"
        );
        thresholds["image"].as_f64().unwrap()
    };
    let (loose, strict) = (threshold("0.2"), threshold("0.001"));
    assert!(strict > loose, "{strict} vs {loose}");
    let recalibrated = eval_json(
        model,
        &["--data", root.to_str().unwrap(), "--class", "Class2"],
        &dir.join("c.json"),
    );
    assert_eq!(recalibrated["threshold"].as_f64().unwrap(), strict);
    assert_eq!(
        recalibrated["target-false-alarm-rate"].as_f64(),
        Some(0.001)
    );
    assert_eq!(
        recalibrated["image-auroc"], dagm_json["image-auroc"],
        "thresholds do not change scores"
    );

    // Batches, here the same images twice: each is checked against the other, and the model says so.
    let root = root.to_str().unwrap();
    let printed = with_model(
        "calibrate",
        model,
        &["--data", root, "--data", root, "--class", "Class2"],
    );
    assert_eq!(
        printed.matches("Class2, good training images").count(),
        2,
        "{printed}"
    );
    assert!(!printed.contains("(differs)"), "{printed}");
    let info: serde_json::Value =
        serde_json::from_str(&nfbmr(&["info", "--json", model.to_str().unwrap()])).unwrap();
    let method = info["thresholds"]["method"].as_str().unwrap();
    assert!(
        method.ends_with("; 2 batches, 0 of them above what the others allow"),
        "{method}"
    );
}

/// Every `](target)` link of a Markdown file, resolved against its folder.
fn linked_files(markdown: &Path) -> Vec<std::path::PathBuf> {
    let text = std::fs::read_to_string(markdown).unwrap();
    text.split("](")
        .skip(1)
        .map(|rest| {
            markdown
                .parent()
                .unwrap()
                .join(&rest[..rest.find(')').unwrap()])
        })
        .collect()
}

#[test]
fn eval_reports_every_class_with_its_ablation_and_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let options = synthetic((10, 8), 0.25, 64, 9);
    let (root, models) = dagm_with_models(dir.path(), &[2, 10], &options, 1);
    let report = dir.path().join("report");
    let json = dir.path().join("eval.json");
    let args = [
        "--data",
        root.to_str().unwrap(),
        "--class",
        "all",
        "--ablation",
        "--report",
        report.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ];
    let table = with_model("eval", &models, &args);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();

    // Natural class order, each class with all four scoring modes, and the mean of the per-class figures.
    let classes = json["classes"].as_array().unwrap();
    let names: Vec<&str> = classes
        .iter()
        .map(|c| c["class"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Class2", "Class10"]);
    for class in classes {
        let modes: Vec<&str> = class["ablation"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["mode"].as_str().unwrap())
            .collect();
        assert_eq!(modes, ["fused", "forward", "backward", "flow-likelihood"]);
        assert_eq!(class["ablation"][0]["image-auroc"], class["image-auroc"]);
    }
    let mean = (classes[0]["image-auroc"].as_f64().unwrap()
        + classes[1]["image-auroc"].as_f64().unwrap())
        / 2.0;
    assert!((json["mean"]["image-auroc"].as_f64().unwrap() - mean).abs() < 1e-12);
    assert!(table.contains("| Class10 |") && table.contains("| **mean** |"));

    // The report links a ROC curve, a histogram and gallery tiles per class, and each link is a PNG.
    let links = linked_files(&report.join("report.md"));
    for class in ["Class2", "Class10"] {
        for picture in [
            "roc.png",
            "histogram.png",
            "gallery/miss-01.png",
            "gallery/false-alarm-01.png",
        ] {
            assert!(
                links.contains(&report.join(class).join(picture)),
                "{class}/{picture} not linked"
            );
        }
    }
    // Charts are 560×440; gallery tiles the 64 px picture twice with a 4 px gap. None is blank.
    for link in links {
        let picture = image::open(&link)
            .unwrap_or_else(|e| panic!("{}: {e}", link.display()))
            .to_rgb8();
        let expected = if link.parent().unwrap().ends_with("gallery") {
            (2 * 64 + 4, 64)
        } else {
            (560, 440)
        };
        assert_eq!(picture.dimensions(), expected, "{}", link.display());
        let first = picture.get_pixel(0, 0);
        assert!(
            picture.pixels().any(|p| p != first),
            "{} is blank",
            link.display()
        );
    }
}

#[test]
fn benchmark_synthesises_trains_evaluates_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench");
    let table = nfbmr(&[
        "benchmark",
        "--out",
        out.to_str().unwrap(),
        "--classes",
        "6",
        "--train",
        "10",
        "--test",
        "5",
        "--epochs",
        "1",
        "--flow-steps",
        "2",
        "--training-seeds",
        "2",
        "--device",
        "cpu",
    ]);
    assert!(table.contains("| Class6 | 5 | 1 |"), "{table}");
    for (model, seed) in [
        ("models/Class6.nfbmr", 0),
        ("models/seed-1/Class6.nfbmr", 1),
    ] {
        let config = nfbmr::modelfile::read(&out.join(model)).unwrap().config;
        assert_eq!(config.training.seed, seed, "{model}");
        assert_eq!(config.flow.steps, 2, "{model}");
    }
    let by_seed = table.split("by training seed").nth(1).expect(&table);
    for row in ["| 0 |", "| 1 |", "| **mean** |", "| range |"] {
        assert!(by_seed.contains(row), "{row} missing from {by_seed}");
    }
    let report = std::fs::read_to_string(out.join("report/report.md")).unwrap();
    assert!(report.contains("## Training seeds"), "{report}");
    let seeds: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("report/training-seeds.json")).unwrap(),
    )
    .unwrap();
    let seeds = seeds.as_array().unwrap();
    assert_eq!(seeds.len(), 2);
    assert_eq!(seeds[1]["seed"], 1);
    assert_eq!(seeds[1]["mean"]["ablation"].as_array().unwrap().len(), 4);
    assert!(out.join("data/Class6/Test/Label/Labels.txt").is_file());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report/results.json")).unwrap())
            .unwrap();
    assert!(json["classes"][0]["training-seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(json["mean"]["ablation"].as_array().unwrap().len(), 4);
    assert!(
        linked_files(&out.join("report/report.md"))
            .iter()
            .all(|link| link.is_file())
    );
}
