// SPDX-License-Identifier: MIT OR Apache-2.0
//! `nfbmr synth --from`: good photographs become a labelled set, with defects of each kind drawn on the
//! held-out ones, that trains and evaluates; the figures come by defect kind and beside other models'.

mod common;

use std::process::Command;

use nfbmr::data::{self, LabeledImage};

use common::cli::{FIGURES, eval_json, image_auroc_of_scores, nfbmr};

#[test]
fn good_photographs_become_a_labelled_set_that_trains_and_evaluates() {
    let frames = common::dataset(nfbmr::data::synth::Texture::Cells, 96, 12, 0);
    let good = frames.dir.path().join("part").join("good");
    std::fs::create_dir_all(&good).unwrap();
    for frame in &frames.train {
        std::fs::rename(frame, good.join(common::file_name(frame))).unwrap();
    }
    let set = frames.dir.path().join("set");
    let (good_arg, set_arg) = (good.to_str().unwrap(), set.to_str().unwrap());
    nfbmr(&["synth", "--from", good_arg, "--out", set_arg, "--seed", "2"]);
    let model = frames.dir.path().join("part.nfbmr");
    let trained = common::cli::train_tiny(&set, &model, &["--class", "part"]);
    assert!(
        trained.status.success(),
        "{}",
        String::from_utf8_lossy(&trained.stderr)
    );
    let figures = eval_json(
        &model,
        &["--data", set_arg, "--class", "part"],
        &frames.dir.path().join("figures.json"),
    );
    // 12 frames: the last 4 (30%) held out, each tested as it is and with a defect drawn on it.
    assert_eq!(
        (figures["images"].as_u64(), figures["defective"].as_u64()),
        (Some(8), Some(4))
    );
    for key in FIGURES {
        let value = figures[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing"));
        assert!((0.0..=1.0).contains(&value), "{key} = {value}");
    }
    let info: serde_json::Value =
        serde_json::from_str(&nfbmr(&["info", "--json", model.to_str().unwrap()])).unwrap();
    let training = &info["training"];
    let trained = training["images"].as_u64().unwrap() + training["held-out"].as_u64().unwrap();
    assert_eq!(trained, 8, "trained on the first 8 frames: {training}");

    // Each kind of defect drawn (one image each, the kinds in turn) against all good images, as the
    // scores `nfbmr score` prints give it.
    let test = data::test_set(&set, Some("part")).unwrap();
    let kinds = figures["defect-kinds"].as_array().unwrap();
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    for kind in kinds {
        let name = kind["kind"].as_str().unwrap();
        let of_kind: Vec<LabeledImage> = test
            .iter()
            .filter(|i| !i.defective || i.path.parent().unwrap().ends_with(name))
            .cloned()
            .collect();
        assert_eq!(kind["images"], 1, "{kind}");
        let auroc = kind["image-auroc"].as_f64().unwrap();
        assert!(
            (auroc - image_auroc_of_scores(&model, &of_kind)).abs() < 1e-6,
            "{kind}"
        );
        assert!(
            [0.0, 1.0].contains(&kind["caught"].as_f64().unwrap()),
            "{kind}"
        );
    }

    // Another model's figures on the same set, beside nfbmr's: each the mean over its seeds.
    let peers = frames.dir.path().join("peers.json");
    std::fs::write(
        &peers,
        r#"{"source": "a peer 1.0", "models": [{"name": "Other", "classes": {
            "part": [{"seed": 0, "image-auroc": 0.5, "pixel-auroc": 0.8},
                     {"seed": 1, "image-auroc": 0.7, "pixel-auroc": null}],
            "elsewhere": [{"seed": 0, "image-auroc": 0.1, "pixel-auroc": 0.1}]}}]}"#,
    )
    .unwrap();
    let table = common::cli::with_model(
        "eval",
        &model,
        &[
            "--data",
            set_arg,
            "--class",
            "part",
            "--peers",
            peers.to_str().unwrap(),
        ],
    );
    let row = table
        .lines()
        .find(|line| line.starts_with("| part |") && line.contains("0.600 / 0.800"))
        .unwrap_or_else(|| panic!("no side-by-side row:\n{table}"));
    let fused = figures["image-auroc"].as_f64().unwrap();
    assert!(row.contains(&format!("| {fused:.3} / ")), "{row}");
    assert!(table.contains("Other (a peer 1.0)") && table.contains("| **mean** |"));
    assert!(table.contains("image AUROC by defect kind"), "{table}");

    std::fs::write(&peers, "{}").unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_nfbmr"))
        .args([
            "eval", "--device", "cpu", "--class", "part", "--data", set_arg, "--model",
        ])
        .arg(&model)
        .arg("--peers")
        .arg(&peers)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("is not a peers file"),
        "{stderr}"
    );
}
