// SPDX-License-Identifier: MIT OR Apache-2.0
//! `nfbmr synth`: a synthetic DAGM-like dataset.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use nfbmr::data::synth::{SynthOptions, write_dagm_class};

use crate::progress;

/// Which classes of the synthetic dataset, and its seed.
#[derive(clap::Args)]
pub struct SyntheticClasses {
    /// Classes of the synthetic dataset, e.g. 1-10 or 1,3
    #[arg(long, default_value = "1-10", value_name = "LIST")]
    classes: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl SyntheticClasses {
    /// The class numbers: `1-3,5` is [1, 2, 3, 5].
    pub fn numbers(&self) -> Result<Vec<usize>> {
        let list = &self.classes;
        let number = |text: &str| -> Result<usize> {
            text.trim()
                .parse()
                .with_context(|| format!("bad class list '{list}'"))
        };
        let mut classes = Vec::new();
        for part in list.split(',').map(str::trim) {
            let (first, last) = part.split_once('-').unwrap_or((part, part));
            let (first, last) = (number(first)?, number(last)?);
            if first == 0 || first > last {
                bail!("bad class range '{part}' in '{list}'");
            }
            classes.extend(first..=last);
        }
        Ok(classes)
    }
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    synthetic: SyntheticClasses,
    /// Dataset root: ClassN/{Train,Test} are written under it
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Image side in pixels
    #[arg(long, default_value_t = SynthOptions::default().size, value_name = "PX")]
    size: u32,
    /// Images per class in Train
    #[arg(long, default_value_t = SynthOptions::default().train)]
    train: usize,
    /// Images per class in Test
    #[arg(long, default_value_t = SynthOptions::default().test)]
    test: usize,
    /// Fraction of each split that is defective
    #[arg(long, default_value_t = SynthOptions::default().defect_fraction)]
    defect_fraction: f64,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let classes = args.synthetic.numbers()?;
    let options = SynthOptions {
        seed: args.synthetic.seed,
        size: args.size,
        train: args.train,
        test: args.test,
        defect_fraction: args.defect_fraction,
    };
    let bar = progress::bar(classes.len() as u64, "synthesising");
    for class in classes {
        write_dagm_class(&args.out, class, &options)?;
        bar.inc(1);
    }
    bar.finish();
    eprintln!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
