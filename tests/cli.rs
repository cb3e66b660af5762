// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `nfbmr` binary as a user runs it: train, info, score with heatmaps and JSON, and readable errors.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nfbmr::data::synth::Texture;

fn nfbmr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nfbmr"))
        .args(args)
        .output()
        .expect("nfbmr runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The training images moved into `good/` of the dataset's folder, the folder layout's training folder.
fn good_folder(data: &common::Dataset) -> PathBuf {
    let good_dir = data.dir.path().join("good");
    std::fs::create_dir(&good_dir).unwrap();
    for image in &data.train {
        std::fs::rename(image, good_dir.join(common::file_name(image))).unwrap();
    }
    good_dir
}

#[test]
fn train_info_and_score_from_the_command_line() {
    let data = common::dataset(Texture::Grain, 96, 8, 2);
    let good_dir = good_folder(&data);
    // Colour JPEG and BMP files of other sizes train alongside the grey PNGs.
    for (i, extension) in ["jpg", "bmp"].iter().enumerate() {
        let moved = good_dir.join(common::file_name(&data.train[i]));
        let grey = image::open(moved).unwrap().to_rgb8();
        let resized =
            image::imageops::resize(&grey, 120, 80, image::imageops::FilterType::Triangle);
        let coloured = image::RgbImage::from_fn(120, 80, |x, y| {
            let [v, ..] = resized.get_pixel(x, y).0;
            image::Rgb([v, v / 2, 255 - v])
        });
        coloured
            .save(good_dir.join(format!("colour-{i}.{extension}")))
            .unwrap();
    }
    let model = data.dir.path().join("part.nfbmr");
    // The folder-layout root is accepted: its good/ subfolder is used.
    let train = common::cli::train_tiny(data.dir.path(), &model, &["--hold-out", "0.25"]);
    assert!(train.status.success(), "{}", text(&train.stderr));
    assert!(
        text(&train.stderr).contains("on 10 good images"),
        "{}",
        text(&train.stderr)
    );

    let info = nfbmr(&["info", path(&model)]);
    assert!(info.status.success());
    let info = text(&info.stdout);
    let backbone = nfbmr::train::DEFAULT_LITE;
    assert!(
        info.contains(&format!("{} at 64x64", backbone.id())),
        "{info}"
    );
    assert!(info.contains("7 images (+3 held out)"), "{info}");
    assert!(
        info.contains("features averaged over 3x3 positions"),
        "{info}"
    );
    let json = nfbmr(&["info", "--json", path(&model)]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    // Keys are kebab-case at every depth, as in every other JSON output.
    let mut keys = Vec::new();
    let mut pending = vec![&json];
    while let Some(value) = pending.pop() {
        match value {
            serde_json::Value::Object(map) => {
                keys.extend(map.keys().cloned());
                pending.extend(map.values());
            }
            serde_json::Value::Array(items) => pending.extend(items),
            _ => {}
        }
    }
    assert!(keys.iter().all(|k| !k.contains('_')), "{keys:?}");
    for key in [
        "model-id",
        "file-bytes",
        "image-size",
        "forward-residual-unit",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
    }
    assert_eq!(
        json["scales"].as_array().unwrap().len(),
        backbone.default_taps().len()
    );
    let weight = json["backward-weight"].as_f64().unwrap();
    assert!(
        info.contains(&format!("(forward + {weight:.3} x backward)")),
        "{info}"
    );

    // A corrupt image is reported by name and skipped; the others are still scored.
    let corrupt = data.dir.path().join("corrupt.png");
    std::fs::write(&corrupt, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let heatmaps = data.dir.path().join("heatmaps");
    let score = nfbmr(&[
        "score",
        "--model",
        path(&model),
        "--json",
        "--device",
        "cpu",
        "--heatmap",
        path(&heatmaps),
        path(&data.good[0]),
        path(&corrupt),
        path(&data.defective[0]),
    ]);
    assert!(!score.status.success(), "a bad image makes the run fail");
    let stderr = text(&score.stderr);
    assert!(stderr.contains("corrupt.png"), "{stderr}");
    let lines: Vec<serde_json::Value> = text(&score.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        let (score, raw, threshold) = (
            line["score"].as_f64().unwrap(),
            line["raw-score"].as_f64().unwrap(),
            line["threshold"].as_f64().unwrap(),
        );
        assert!((score - raw / threshold).abs() < 1e-9);
        assert_eq!(line["is-anomaly"].as_bool().unwrap(), score >= 1.0);
        // Regions in image pixels, only on defects (a defect smaller than 16 pixels has none).
        let regions = line["regions"].as_array().unwrap();
        assert!(score >= 1.0 || regions.is_empty(), "{line}");
        for region in regions {
            let right = region["x"].as_u64().unwrap() + region["width"].as_u64().unwrap();
            let bottom = region["y"].as_u64().unwrap() + region["height"].as_u64().unwrap();
            assert!(right <= 96 && bottom <= 96, "{region}");
            assert!(region["score"].as_f64().unwrap() >= 1.0);
        }
        let heatmap = image::open(line["heatmap"].as_str().unwrap()).unwrap();
        assert_eq!((heatmap.width(), heatmap.height()), (96, 96));
    }

    let plain = nfbmr(&["score", "--model", path(&model), path(&data.good[1])]);
    assert!(plain.status.success());
    let plain = text(&plain.stdout);
    assert!(
        plain.contains("good-001.png") && plain.contains("score"),
        "{plain}"
    );

    // Speed figures for a frame of another shape than the model's input, the overlay included.
    let bench = nfbmr(&[
        "bench",
        "--model",
        path(&model),
        "--device",
        "cpu",
        "--frames",
        "2",
        "--width",
        "120",
        "--height",
        "80",
        "--json",
    ]);
    assert!(bench.status.success(), "{}", text(&bench.stderr));
    let bench: serde_json::Value = serde_json::from_slice(&bench.stdout).unwrap();
    assert_eq!(bench["frame"], serde_json::json!([120, 80]));
    for key in ["staging-ms", "backbone-ms", "full-ms", "overlay-ms"] {
        assert!(bench[key].as_f64().unwrap() > 0.0, "{key}: {bench}");
    }
    let ms = |key: &str| bench[key].as_f64().unwrap();
    assert!(
        ms("staging-ms") < ms("backbone-ms"),
        "staging is part of the backbone's figure: {bench}"
    );
}

#[test]
fn a_larger_lite_backbone_trains_and_scores() {
    let data = common::dataset(Texture::Grain, 96, 4, 1);
    let good_dir = good_folder(&data);
    let model = data.dir.path().join("lite2.nfbmr");
    let train = common::cli::train_tiny(
        &good_dir,
        &model,
        &["--backbone", "efficientnet-lite2", "--hold-out", "0"],
    );
    assert!(train.status.success(), "{}", text(&train.stderr));
    let info = nfbmr(&["info", path(&model)]);
    assert!(
        text(&info.stdout).contains("efficientnet-lite2 at 64x64"),
        "{}",
        text(&info.stdout)
    );
    let json = nfbmr(&["info", "--json", path(&model)]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let scales: Vec<(u64, u64)> = json["scales"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["block"].as_u64().unwrap(),
                s["channels"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(scales, [(3, 24), (6, 48), (10, 88), (14, 120)]);
    let score = nfbmr(&[
        "score",
        "--model",
        path(&model),
        "--device",
        "cpu",
        "--json",
        path(&data.defective[0]),
    ]);
    assert!(score.status.success(), "{}", text(&score.stderr));
    let line: serde_json::Value = serde_json::from_slice(&score.stdout).unwrap();
    assert!(line["raw-score"].as_f64().unwrap() > 0.0, "{line}");
}

#[test]
fn errors_are_readable() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.nfbmr");
    let out = nfbmr(&["score", "--model", path(&missing), "x.png"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("missing.nfbmr") && stderr.contains("does not exist"),
        "{stderr}"
    );

    let out = nfbmr(&["train", "--data", path(dir.path()), "--out", path(&missing)]);
    assert!(
        text(&out.stderr).contains("no images"),
        "{}",
        text(&out.stderr)
    );

    let out = nfbmr(&["train", "--data", "d", "--out", "m", "--backbone", "lite9"]);
    assert!(
        text(&out.stderr).contains(
            "unknown backbone 'lite9': use efficientnet-lite0, efficientnet-lite1, efficientnet-lite2 \
             or torchscript:PATH"
        ),
        "{}",
        text(&out.stderr)
    );

    let data = common::dataset(Texture::FineNoise, 64, 3, 0);
    let out = common::cli::train_tiny(data.dir.path(), &missing, &["--feature-pooling", "4"]);
    assert!(
        text(&out.stderr).contains("feature pooling must be an odd window of 1 to 9, not 4"),
        "{}",
        text(&out.stderr)
    );
    assert!(!missing.exists());

    let out = nfbmr(&["score", "--model", "m", "--device", "tpu", "x.png"]);
    assert!(
        text(&out.stderr).contains("unknown device 'tpu'"),
        "{}",
        text(&out.stderr)
    );

    if !tch::Cuda::is_available() {
        let out = nfbmr(&[
            "train",
            "--data",
            path(dir.path()),
            "--out",
            "m",
            "--device",
            "cuda",
        ]);
        let stderr = text(&out.stderr);
        assert!(stderr.contains("CUDA is not available"), "{stderr}");
    }
}

#[test]
fn compare_reports_the_largest_difference_and_exits_by_the_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    let line = |frame: u64, score: f64| {
        let raw = score * 0.8;
        format!(
            r#"{{"frame":{frame},"pts":{},"running-time":0,"timestamp":1.0,"score":{score},"raw-score":{raw},"threshold":0.8,"is-anomaly":{},"regions":[],"model-id":"0123456789ab"}}"#,
            frame * 40_000_000,
            score >= 1.0
        )
    };
    let write = |name: &str, scores: &[f64], extra: &str| {
        let path = dir.path().join(name);
        let mut text: Vec<String> = scores
            .iter()
            .enumerate()
            .map(|(i, &s)| line(i as u64, s))
            .collect();
        text.insert(1, extra.to_owned());
        std::fs::write(&path, text.join("\n") + "\n").unwrap();
        path
    };
    let live = write("live.jsonl", &[0.5, 1.25, 0.75], "");
    // An event line between frames is not a frame.
    let same = write(
        "same.jsonl",
        &[0.5, 1.25, 0.75],
        r#"{"event":"start","id":1}"#,
    );
    let replay = write("replay.jsonl", &[0.5, 0.95, 0.75], "");
    let compare = |a: &Path, b: &Path, extra: &[&str]| {
        let mut args = vec!["compare", path(a), path(b)];
        args.extend_from_slice(extra);
        let out = nfbmr(&args);
        (out.status.code(), text(&out.stdout))
    };
    let (code, out) = compare(&live, &same, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("largest score difference 0.000000e0"), "{out}");

    let (code, out) = compare(&live, &replay, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("at frame 1 (pts 0.040 s / 0.040 s): 1.25 against 0.95"),
        "{out}"
    );
    assert!(out.contains("verdicts differ on 1 frames"), "{out}");
    let (code, _) = compare(&live, &replay, &["--tolerance", "0.31"]);
    assert_eq!(code, Some(0));
    let (code, out) = compare(&live, &replay, &["--tolerance", "0.29", "--json"]);
    assert_eq!(code, Some(1));
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (json["agree"].as_bool(), json["largest"]["index"].as_u64()),
        (Some(false), Some(1))
    );
    assert!((json["largest"]["difference"].as_f64().unwrap() - 0.3).abs() < 1e-12);

    // A frame missing from one file never agrees; an unreadable file is an error naming it.
    let short = write("short.jsonl", &[0.5, 1.25], "");
    let (code, out) = compare(&live, &short, &["--tolerance", "10"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("different numbers of frames"), "{out}");
    let out = nfbmr(&[
        "compare",
        path(&live),
        path(&dir.path().join("missing.jsonl")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("missing.jsonl"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_model_carrying_torchscript_runs_only_with_allow_code() {
    let data = common::dataset(Texture::Grain, 64, 4, 1);
    let backbone = nfbmr::weights::cache_dir().join("reference/efficientnet-lite0-taps.pt");
    let model = data.dir.path().join("scripted.nfbmr");
    let torchscript = format!("torchscript:{}", path(&backbone));
    let train = common::cli::train_tiny(data.dir.path(), &model, &["--backbone", &torchscript]);
    assert!(train.status.success(), "{}", text(&train.stderr));

    let info = text(&nfbmr(&["info", path(&model)]).stdout);
    assert!(
        info.contains("TorchScript backbone: program code, not run"),
        "{info}"
    );
    let info = text(&nfbmr(&["info", "--allow-code", path(&model)]).stdout);
    assert!(info.contains("loaded and checked"), "{info}");
    let json = nfbmr(&["info", "--json", path(&model)]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["carries-code"], true);
    assert_eq!(json["loaded"], false);

    let image = path(&data.good[0]);
    let refused = nfbmr(&["score", "--model", path(&model), "--device", "cpu", image]);
    assert!(!refused.status.success());
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("scripted.nfbmr") && stderr.contains("--allow-code"),
        "{stderr}"
    );
    let allowed = nfbmr(&[
        "score",
        "--model",
        path(&model),
        "--device",
        "cpu",
        "--allow-code",
        image,
    ]);
    assert!(allowed.status.success(), "{}", text(&allowed.stderr));
}
