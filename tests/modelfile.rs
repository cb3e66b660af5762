// SPDX-License-Identifier: MIT OR Apache-2.0
//! Every way a model file can be bad is refused with a message that names the file and the problem.

mod common;

use std::path::Path;

use nfbmr::train::TrainedModel;
use nfbmr::{CodePolicy, Detector, DeviceSpec, modelfile};
use tch::{Kind, Tensor};

fn load_error(path: &Path) -> String {
    match Detector::load(path, DeviceSpec::Cpu, CodePolicy::Refuse) {
        Ok(_) => panic!("{} loaded but should not", path.display()),
        Err(err) => err.to_string(),
    }
}

fn assert_mentions(err: &str, path: &Path, words: &[&str]) {
    assert!(
        err.contains(&path.display().to_string()),
        "no file name in: {err}"
    );
    for word in words {
        assert!(err.contains(word), "'{word}' missing from: {err}");
    }
}

/// Writes `model` with its tensors changed by `edit`.
fn write_edited(model: &TrainedModel, path: &Path, edit: impl FnOnce(&mut Vec<(String, Tensor)>)) {
    let mut tensors: Vec<(String, Tensor)> = model
        .tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.copy()))
        .collect();
    edit(&mut tensors);
    modelfile::write(path, &model.config, &tensors).unwrap();
}

#[test]
fn bad_model_files_are_refused_with_a_precise_message() {
    let (data, model) = common::untrained_model(64);
    let dir = data.dir.path();
    let good = dir.join("good.nfbmr");
    model.save(&good).unwrap();
    Detector::load(&good, DeviceSpec::Cpu, CodePolicy::Refuse).unwrap();
    let bytes = std::fs::read(&good).unwrap();

    let missing = dir.join("missing.nfbmr");
    assert_mentions(&load_error(&missing), &missing, &["does not exist"]);

    let not_safetensors = dir.join("picture.nfbmr");
    std::fs::copy(&data.train[0], &not_safetensors).unwrap();
    assert_mentions(
        &load_error(&not_safetensors),
        &not_safetensors,
        &["not a safetensors file"],
    );

    let truncated = dir.join("truncated.nfbmr");
    std::fs::write(&truncated, &bytes[..bytes.len() - 4096]).unwrap();
    assert_mentions(&load_error(&truncated), &truncated, &["truncated"]);

    // A header claiming a 100 GB tensor is refused from the header: nothing that size is allocated.
    let claims = dir.join("claims-100-gb.nfbmr");
    let header_length = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value =
        serde_json::from_slice(&bytes[8..8 + header_length]).unwrap();
    header["huge"] = serde_json::json!({
        "dtype": "F32",
        "shape": [25_000_000_000u64],
        "data_offsets": [0, 100_000_000_000u64],
    });
    let header = serde_json::to_vec(&header).unwrap();
    let mut claimed = (header.len() as u64).to_le_bytes().to_vec();
    claimed.extend(header);
    claimed.extend(&bytes[8 + header_length..]);
    std::fs::write(&claims, claimed).unwrap();
    assert_mentions(&load_error(&claims), &claims, &["truncated or damaged"]);

    let foreign = dir.join("foreign.nfbmr");
    Tensor::write_safetensors(
        &[("x", Tensor::zeros([2], (Kind::Float, tch::Device::Cpu)))],
        &foreign,
    )
    .unwrap();
    assert_mentions(&load_error(&foreign), &foreign, &["not an nfbmr model"]);

    let future = dir.join("future.nfbmr");
    let mut config = model.config.clone();
    config.format_version = 99;
    modelfile::write(&future, &config, &model.tensors).unwrap();
    assert_mentions(
        &load_error(&future),
        &future,
        &[
            "format version 99",
            &format!(
                "reads versions {} to {}",
                nfbmr::config::OLDEST_READABLE_FORMAT_VERSION,
                nfbmr::config::FORMAT_VERSION
            ),
        ],
    );

    let name = "flows.1.steps.2.subnet.0.weight";
    let without = dir.join("without.nfbmr");
    write_edited(&model, &without, |tensors| {
        tensors.retain(|(n, _)| n != name)
    });
    assert_mentions(&load_error(&without), &without, &["missing tensor", name]);

    let misshaped = dir.join("misshaped.nfbmr");
    write_edited(&model, &misshaped, |tensors| {
        let entry = tensors.iter_mut().find(|(n, _)| n == name).unwrap();
        entry.1 = entry.1.narrow(0, 0, 3);
    });
    assert_mentions(&load_error(&misshaped), &misshaped, &["shape", name]);

    let poisoned = "bmr.0.shared.weight";
    let nan = dir.join("nan.nfbmr");
    write_edited(&model, &nan, |tensors| {
        let entry = tensors.iter_mut().find(|(n, _)| n == poisoned).unwrap();
        let _ = entry.1.get(0).fill_(f64::NAN);
    });
    assert_mentions(&load_error(&nan), &nan, &["non-finite", poisoned]);

    let extra = dir.join("extra.nfbmr");
    write_edited(&model, &extra, |tensors| {
        tensors.push((
            "stray".into(),
            Tensor::zeros([1], (Kind::Float, tch::Device::Cpu)),
        ))
    });
    assert_mentions(&load_error(&extra), &extra, &["unexpected tensor 'stray'"]);

    // A configuration the detector could not use is refused when written, and again when read.
    let bad_threshold = dir.join("threshold.nfbmr");
    let mut config = model.config.clone();
    config.thresholds.image = f64::NAN;
    let err = modelfile::write(&bad_threshold, &config, &model.tensors).unwrap_err();
    assert_mentions(
        &err.to_string(),
        &bad_threshold,
        &["not written", "thresholds"],
    );
    let bad_weight = dir.join("weight.nfbmr");
    let mut config = model.config.clone();
    config.backward_weight = 0.0;
    let err = modelfile::write(&bad_weight, &config, &model.tensors).unwrap_err();
    assert_mentions(&err.to_string(), &bad_weight, &["backward weight 0"]);
    let mut edited = serde_json::to_value(&model.config).unwrap();
    // Files written before the weight existed fuse both directions equally.
    edited.as_object_mut().unwrap().remove("backward_weight");
    let read: nfbmr::ModelConfig = serde_json::from_value(edited.clone()).unwrap();
    assert_eq!(read.backward_weight, 1.0);
    edited["thresholds"]["image"] = serde_json::json!(-1.0);
    let header = serde_json::json!({
        "__metadata__": { modelfile::CONFIG_KEY: edited.to_string() },
    });
    let mut raw = header.to_string().into_bytes();
    raw.resize(raw.len().next_multiple_of(8), b' ');
    let mut file = (raw.len() as u64).to_le_bytes().to_vec();
    file.extend(raw);
    std::fs::write(&bad_threshold, file).unwrap();
    assert_mentions(&load_error(&bad_threshold), &bad_threshold, &["thresholds"]);
}

/// Copies the model file `from` to `to` with its configuration changed by `edit` and without its checksum,
/// as an older nfbmr or another tool may write it.
fn copy_with_configuration(from: &Path, to: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let bytes = std::fs::read(from).unwrap();
    let header_length = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value =
        serde_json::from_slice(&bytes[8..8 + header_length]).unwrap();
    let metadata = header["__metadata__"].as_object_mut().unwrap();
    let mut config: serde_json::Value =
        serde_json::from_str(metadata[modelfile::CONFIG_KEY].as_str().unwrap()).unwrap();
    edit(&mut config);
    metadata.insert(modelfile::CONFIG_KEY.into(), config.to_string().into());
    metadata.remove(modelfile::CHECKSUM_KEY);
    let mut raw = header.to_string().into_bytes();
    raw.resize(raw.len().next_multiple_of(8), b' ');
    let mut file = (raw.len() as u64).to_le_bytes().to_vec();
    file.extend(raw);
    file.extend(&bytes[8 + header_length..]);
    std::fs::write(to, file).unwrap();
}

#[test]
fn a_model_of_format_3_reads_as_one_without_feature_pooling() {
    let (data, model) = common::untrained_model(64);
    let dir = data.dir.path();
    assert_eq!(model.config.feature_pooling, 1);
    let unpooled = dir.join("unpooled.nfbmr");
    model.save(&unpooled).unwrap();
    let pooled = dir.join("pooled.nfbmr");
    let config = nfbmr::ModelConfig {
        feature_pooling: 3,
        ..model.config.clone()
    };
    modelfile::write(&pooled, &config, &model.tensors).unwrap();
    let format_3 = dir.join("format-3.nfbmr");
    copy_with_configuration(&unpooled, &format_3, |config| {
        config["format_version"] = 3.into();
        config.as_object_mut().unwrap().remove("feature_pooling");
    });

    let picture = nfbmr::frame::load_rgb(&data.train[0]).unwrap();
    let map = |path: &Path| {
        let detector = Detector::load(path, DeviceSpec::Cpu, CodePolicy::Refuse).unwrap();
        let map = detector
            .infer(&nfbmr::frame::rgb_frame(&picture))
            .unwrap()
            .map;
        (detector.config().feature_pooling, map.values)
    };
    let (pooling, format_3_map) = map(&format_3);
    assert_eq!(pooling, 1);
    assert_eq!(format_3_map, map(&unpooled).1);
    assert_ne!(format_3_map, map(&pooled).1, "the pooling changes no map");

    let even = dir.join("even.nfbmr");
    let config = nfbmr::ModelConfig {
        feature_pooling: 4,
        ..model.config.clone()
    };
    let err = modelfile::write(&even, &config, &model.tensors).unwrap_err();
    assert_mentions(&err.to_string(), &even, &["feature pooling 4"]);
}

#[test]
fn a_failed_write_leaves_no_partial_model_behind() {
    let (data, model) = common::untrained_model(64);
    let target = data.dir.path().join("no-such-dir").join("model.nfbmr");
    let err = model.save(&target).unwrap_err().to_string();
    assert!(err.contains("model.nfbmr"), "{err}");
    assert!(!target.exists());
}

#[test]
fn a_flipped_bit_anywhere_in_the_model_is_refused_and_an_intact_file_is_verified() {
    let (data, model) = common::untrained_model(64);
    let dir = data.dir.path();
    let good = dir.join("good.nfbmr");
    model.save(&good).unwrap();
    let read = modelfile::read(&good).unwrap();
    assert_eq!(read.integrity, modelfile::Integrity::Verified);
    let bytes = std::fs::read(&good).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    // One bit of a weight near the end of the data, and one of a threshold in the header's configuration:
    // both still parse, both stay finite values, both are caught.
    let threshold_at = 8
        + std::str::from_utf8(&bytes[8..8 + header_len])
            .unwrap()
            .find("\\\"image\\\":")
            .unwrap()
        + 12;
    for (what, at) in [("weight", bytes.len() - 5), ("threshold", threshold_at)] {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x01;
        let path = dir.join(format!("flipped-{what}.nfbmr"));
        std::fs::write(&path, flipped).unwrap();
        assert_mentions(&load_error(&path), &path, &["is damaged", "checksum"]);
    }
}

#[test]
fn nfbmr_info_checks_the_whole_file_and_says_whether_it_was_verified() {
    let (data, model) = common::untrained_model(64);
    let dir = data.dir.path();
    let info = |path: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_nfbmr"))
            .arg("info")
            .arg(path)
            .output()
            .unwrap()
    };
    let good = dir.join("good.nfbmr");
    model.save(&good).unwrap();
    let described = info(&good);
    assert!(described.status.success());
    let stdout = String::from_utf8_lossy(&described.stdout);
    assert!(stdout.contains("checksum     verified"), "{stdout}");

    // A well-formed file whose tensor does not fit the network it names.
    let name = model.tensors[0].0.clone();
    let misshaped = dir.join("misshaped.nfbmr");
    write_edited(&model, &misshaped, |tensors| {
        let entry = tensors.iter_mut().find(|(n, _)| *n == name).unwrap();
        entry.1 = entry.1.narrow(0, 0, 1);
    });
    let refused = info(&misshaped);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_mentions(&stderr, &misshaped, &[&name, "expected"]);
}

/// Every case the fuzzer (examples/fuzz_modelfile/) found crashing, hanging, allocating too much or
/// failing without naming the file, before the fixes: each is now refused, quickly, with its name.
#[test]
fn fuzzer_findings_are_refused_with_a_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    let mut found = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let started = std::time::Instant::now();
        let err = load_error(&path);
        assert!(started.elapsed().as_secs_f64() < 1.0, "{}", path.display());
        assert_mentions(&err, &path, &[]);
        eprintln!("{}: {err}", path.display());
        found += 1;
    }
    assert!(found >= 8, "regression files in {}", dir.display());
}
