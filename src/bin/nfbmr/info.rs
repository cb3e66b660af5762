// SPDX-License-Identifier: MIT OR Apache-2.0
//! `nfbmr info`: what a model file holds.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::{Value, json};

use nfbmr::config::ModelConfig;
use nfbmr::modelfile::{self, Integrity, ModelFile};
use nfbmr::{CodePolicy, Detector, DeviceSpec};

use crate::CodeArg;

#[derive(clap::Args)]
pub struct Args {
    #[arg(value_name = "MODEL.nfbmr")]
    model: PathBuf,
    /// Print the configuration as JSON
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    code: CodeArg,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let file = modelfile::read(&args.model)?;
    // The whole file, as the element loads it: every tensor bound to the network it belongs to. Embedded
    // code is described but not run unless allowed.
    let loaded = !file.carries_code() || args.code.allow;
    if loaded {
        Detector::load(&args.model, DeviceSpec::Cpu, CodePolicy::Allow)?;
    }
    let size = std::fs::metadata(&args.model)?.len();
    if args.json {
        let mut value = serde_json::to_value(&file.config)?;
        value["model-id"] = json!(file.id);
        value["file-bytes"] = json!(size);
        value["tensors"] = json!(file.tensors.len());
        value["checksum"] = json!(integrity_word(file.integrity));
        value["carries-code"] = json!(file.carries_code());
        value["loaded"] = json!(loaded);
        println!("{}", serde_json::to_string_pretty(&kebab_case(value))?);
    } else {
        describe(&args, &file, size);
        println!("code         {}", code_words(&file, loaded));
    }
    Ok(ExitCode::SUCCESS)
}

/// The configuration's keys as every other JSON output of nfbmr spells them (the model file itself keeps
/// the names it has always been written with).
fn kebab_case(value: Value) -> Value {
    match value {
        Value::Object(map) => map
            .into_iter()
            .map(|(key, value)| (key.replace('_', "-"), kebab_case(value)))
            .collect(),
        Value::Array(items) => items.into_iter().map(kebab_case).collect(),
        other => other,
    }
}

/// How `info` names a file's integrity.
fn integrity_word(integrity: Integrity) -> &'static str {
    match integrity {
        Integrity::Verified => "verified (SHA-256 of the configuration and every tensor)",
        Integrity::Unchecked => "none (written before nfbmr wrote checksums: cannot be verified)",
    }
}

/// How `info` says whether a file carries code, and whether it was loaded to check it.
fn code_words(file: &ModelFile, loaded: bool) -> &'static str {
    match (file.carries_code(), loaded) {
        (false, _) => "none (weights and configuration only)",
        (true, true) => "TorchScript backbone: program code, loaded and checked (--allow-code)",
        (true, false) => {
            "TorchScript backbone: program code, not run; pass --allow-code to load and check it \
             (only for a file from a source you trust)"
        }
    }
}

fn describe(args: &Args, file: &ModelFile, size: u64) {
    let parameters: i64 = file.tensors.values().map(|t| t.numel() as i64).sum();
    let c: &ModelConfig = &file.config;
    println!("model        {} ({})", args.model.display(), file.id);
    println!(
        "format       version {} written by nfbmr {}",
        c.format_version, c.crate_version
    );
    println!(
        "size         {:.1} MB, {} tensors, {parameters} values",
        size as f64 / 1e6,
        file.tensors.len()
    );
    println!("checksum     {}", integrity_word(file.integrity));
    println!(
        "backbone     {} at {}x{} px",
        c.backbone.id, c.image_size, c.image_size
    );
    for (k, s) in c.scales.iter().enumerate() {
        println!(
            "scale {k}      block {:2}: {} x {}x{}, mapper width {}, residual units {:.4} / {:.4}",
            s.block,
            s.channels,
            s.height,
            s.width,
            s.mapper_latent,
            s.forward_residual_unit,
            s.backward_residual_unit
        );
    }
    match c.feature_pooling {
        1 => println!("pooling      none"),
        side => println!("pooling      features averaged over {side}x{side} positions"),
    }
    println!(
        "flow         {} steps, hidden ratio {}, clamp {}",
        c.flow.steps, c.flow.hidden_ratio, c.flow.clamp
    );
    println!(
        "fusion       (forward + {:.3} x backward) / {:.3}",
        c.backward_weight,
        1.0 + c.backward_weight
    );
    println!("blur         sigma {} px", c.blur_sigma);
    println!(
        "threshold    image {:.4}, pixel {:.4} ({})",
        c.thresholds.image, c.thresholds.pixel, c.thresholds.method
    );
    let t = &c.training;
    println!(
        "training     {} images (+{} held out) from {}, seed {}, {}+{} epochs, flow noise {}, {:.0} s on {}",
        t.images,
        t.held_out,
        t.source,
        t.seed,
        t.flow_epochs,
        t.mapper_epochs,
        t.flow_noise,
        t.seconds,
        t.device
    );
    if let Some(share) = t.held_out_twins {
        println!(
            "hold-out     {:.1}% of its surface repeats training images{}",
            100.0 * share,
            if t.repetition_warning().is_some() {
                " (views of trained parts: calibrate on new ones)"
            } else {
                ""
            }
        );
    }
}
