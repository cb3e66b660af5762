// SPDX-License-Identifier: MIT OR Apache-2.0
//! Progress bars on stderr, in one style.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

use nfbmr::device::device_name;
use nfbmr::train::{self, Progress, TrainOptions, TrainedModel};

/// A bar of `steps` labelled `message`.
pub fn bar(steps: u64, message: impl Into<String>) -> ProgressBar {
    let style = ProgressStyle::with_template(
        "{msg:20} [{bar:30}] {pos}/{len} {elapsed_precise} ETA {eta_precise} {prefix}",
    )
    .expect("valid template")
    .progress_chars("=> ");
    let bar = ProgressBar::new(steps).with_style(style);
    bar.set_message(message.into());
    bar
}

/// Trains with a bar per stage; `source` describes the images for the model's training summary.
pub fn train_with_progress(
    images: &[PathBuf],
    source: &str,
    options: &TrainOptions,
) -> Result<TrainedModel> {
    eprintln!(
        "training on {} good images from {source} on {}",
        images.len(),
        device_name(options.device.resolve()?)
    );
    let mut current: Option<ProgressBar> = None;
    let mut report = |event: Progress| match event {
        Progress::Begin(stage, steps) => {
            if let Some(done) = current.take() {
                done.finish();
            }
            let next = bar(steps, stage.label());
            next.enable_steady_tick(Duration::from_millis(500));
            current = Some(next);
        }
        Progress::Step(loss) => {
            if let Some(bar) = &current {
                if let Some(loss) = loss {
                    bar.set_prefix(format!("loss {loss:.4}"));
                }
                bar.inc(1);
            }
        }
    };
    let mut model = train::train(images, options, &mut report)?;
    if let Some(done) = current.take() {
        done.finish();
    }
    model.config.training.source = source.to_owned();
    Ok(model)
}
