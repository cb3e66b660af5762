// SPDX-License-Identifier: MIT OR Apache-2.0
//! `nfbmr synth`: a synthetic DAGM-like dataset, or a labelled set made from the user's own good photographs
//! with defects drawn on them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use nfbmr::data::folder::list_images;
use nfbmr::data::synth::photo::{PhotoDefect, PhotoSetOptions, write_photo_set};
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
    #[command(flatten)]
    photos: FromPhotos,
}

/// A labelled set from a folder of good photographs.
#[derive(clap::Args)]
struct FromPhotos {
    /// Instead of generating textures: a folder of good photographs. The last --test-share of them in
    /// name order are held out and written to test/ as they are and with a defect drawn on each (masks in
    /// ground_truth/), the others to train/good: an MVTec AD category under --out
    #[arg(long, value_name = "GOOD_DIR", conflicts_with_all = ["classes", "size", "train", "test", "defect_fraction"])]
    from: Option<PathBuf>,
    /// The category's name (default: the folder's, or its parent's for part/good)
    #[arg(long, requires = "from", value_name = "NAME")]
    category: Option<String>,
    /// Share of the photographs held out for testing
    #[arg(long, requires = "from", default_value_t = PhotoSetOptions::default().test_share)]
    test_share: f64,
    /// Defect kinds drawn in turn: glue, fibre, discolouration, crease, abrasion
    #[arg(long, requires = "from", value_delimiter = ',', value_name = "KIND,…")]
    kinds: Vec<String>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    if let Some(good) = &args.photos.from {
        return from_photos(good, &args);
    }
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

fn from_photos(good: &std::path::Path, args: &Args) -> Result<ExitCode> {
    let photos = list_images(good)?;
    let category = match &args.photos.category {
        Some(name) => name.clone(),
        None => category_of(good).context("name the category with --category")?,
    };
    let kinds = match args.photos.kinds.is_empty() {
        true => PhotoDefect::ALL.to_vec(),
        false => args
            .photos
            .kinds
            .iter()
            .map(|name| PhotoDefect::from_name(name.trim()))
            .collect::<Result<_, _>>()?,
    };
    let options = PhotoSetOptions {
        seed: args.synthetic.seed,
        test_share: args.photos.test_share,
        kinds,
    };
    let bar = progress::bar(photos.len() as u64, format!("writing {category}"));
    let written = write_photo_set(&photos, &args.out, &category, &options, &mut || bar.inc(1))?;
    bar.finish();
    eprintln!(
        "wrote {}: {} training images, {} good and {} defective test images",
        args.out.join(&category).display(),
        written.train,
        written.test_good,
        written.test_defective
    );
    Ok(ExitCode::SUCCESS)
}

/// The category a folder of good photographs is of: its name, or its parent's for `part/good`.
fn category_of(good: &std::path::Path) -> Option<String> {
    let good = good.canonicalize().ok()?;
    let named = match good.file_name()? == "good" {
        true => good.parent()?,
        false => &good,
    };
    Some(named.file_name()?.to_string_lossy().into_owned())
}
