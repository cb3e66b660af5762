// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `nfbmr` command as the tests run it.

use std::path::Path;
use std::process::{Command, Output};

use nfbmr::data::LabeledImage;

/// The figures of an evaluation, each between 0 and 1.
pub const FIGURES: [&str; 6] = [
    "image-auroc",
    "pixel-auroc",
    "pro",
    "best-f1",
    "false-alarm-rate",
    "miss-rate",
];

/// The command's stdout, once it has run and succeeded (its stderr is the failure message).
pub fn stdout_of(command: &mut Command) -> String {
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The stdout of `nfbmr ARGS…`, which must succeed.
pub fn nfbmr(args: &[&str]) -> String {
    stdout_of(Command::new(env!("CARGO_BIN_EXE_nfbmr")).args(args))
}

/// Runs `nfbmr SUBCOMMAND --model MODEL --device cpu EXTRA…`.
pub fn with_model(subcommand: &str, model: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        subcommand,
        "--model",
        model.to_str().unwrap(),
        "--device",
        "cpu",
    ];
    args.extend_from_slice(extra);
    nfbmr(&args)
}

/// The raw score of each image under the model, from `nfbmr score --json`.
pub fn raw_scores(model: &Path, images: &[impl AsRef<Path>]) -> Vec<f64> {
    let paths: Vec<&str> = images
        .iter()
        .map(|image| image.as_ref().to_str().unwrap())
        .collect();
    with_model("score", model, &[&["--json"], &paths[..]].concat())
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["raw-score"]
                .as_f64()
                .unwrap()
        })
        .collect()
}

/// The image AUROC of the raw scores `nfbmr score` prints for the images.
pub fn image_auroc_of_scores(model: &Path, images: &[LabeledImage]) -> f64 {
    let paths: Vec<&Path> = images.iter().map(|image| image.path.as_path()).collect();
    let scores: Vec<f32> = raw_scores(model, &paths)
        .into_iter()
        .map(|score| score as f32)
        .collect();
    let labels: Vec<bool> = images.iter().map(|image| image.defective).collect();
    nfbmr::metrics::auroc(&scores, &labels).unwrap()
}

/// The one class of `nfbmr eval --model MODEL EXTRA… --json OUT`.
pub fn eval_json(model: &Path, extra: &[&str], out: &Path) -> serde_json::Value {
    let mut args = extra.to_vec();
    args.extend(["--json", out.to_str().unwrap()]);
    with_model("eval", model, &args);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    assert_eq!(json["classes"].as_array().unwrap().len(), 1);
    json["classes"][0].clone()
}

/// `nfbmr train` of a 64 px model for one epoch on the CPU, with `extra` arguments.
pub fn train_tiny(data: &Path, model: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nfbmr"))
        .arg("train")
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(model)
        .args(["--device", "cpu", "--image-size", "64", "--epochs", "1"])
        .args(extra)
        .output()
        .expect("nfbmr runs")
}
