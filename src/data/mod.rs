// SPDX-License-Identifier: MIT OR Apache-2.0
//! Datasets on disk: DAGM 2007, MVTec AD and a plain folder layout, the synthetic generator, and training
//! frames picked from video.

use std::path::PathBuf;

pub mod dagm;
pub mod folder;
pub mod mvtec;
#[cfg(feature = "synth")]
pub mod synth;
pub mod video;

/// One labelled image of a test (or training) split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabeledImage {
    pub path: PathBuf,
    pub defective: bool,
    /// Pixel mask of the defect (white on black), when the dataset has one.
    pub mask: Option<PathBuf>,
}

/// The good training images named by a dataset root and an optional class: an MVTec AD category or a DAGM
/// class when `class` is given, else a plain folder (its `good/` subfolder when there is one). Also
/// returns a description of the source for the model's training summary.
pub fn training_set(
    root: &std::path::Path,
    class: Option<&str>,
) -> crate::Result<(Vec<PathBuf>, String)> {
    let source = |what: &str| format!("{} ({what})", root.display());
    let images: Vec<LabeledImage> = match class {
        Some(class) if root.join(class).join("train").is_dir() => mvtec::train(root, class)?,
        Some(class) => dagm::read_split(root, class, dagm::Split::Train)?,
        None => {
            let good = root.join("good");
            let dir = if good.is_dir() { good } else { root.to_owned() };
            let images = folder::list_images(&dir)?;
            return Ok((images, dir.display().to_string()));
        }
    };
    let good: Vec<PathBuf> = images
        .into_iter()
        .filter(|image| !image.defective)
        .map(|image| image.path)
        .collect();
    let class = class.unwrap_or_default();
    if good.is_empty() {
        return Err(crate::Error::Data(format!(
            "{class} has no good training images"
        )));
    }
    Ok((good, source(&format!("{class}, good training images"))))
}

/// The labelled test images: an MVTec AD category or a DAGM class when `class` is given, else the folder
/// layout (`good/`, `defect/`, optional `masks/`).
pub fn test_set(root: &std::path::Path, class: Option<&str>) -> crate::Result<Vec<LabeledImage>> {
    match class {
        Some(class) if root.join(class).join("test").is_dir() => mvtec::test(root, class),
        Some(class) => dagm::read_split(root, class, dagm::Split::Test),
        None => folder::labeled(root),
    }
}

/// The classes under a dataset root: folders holding a DAGM 2007 test split (`Test/Label/Labels.txt`) or
/// an MVTec AD category (`test/`), in natural order (Class2 before Class10).
pub fn classes(root: &std::path::Path) -> crate::Result<Vec<String>> {
    let entries = std::fs::read_dir(root)
        .map_err(|e| crate::Error::io(format!("listing {}", root.display()), e))?;
    let mut classes: Vec<String> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|dir| {
            dir.join("Test").join("Label").join("Labels.txt").is_file() || dir.join("test").is_dir()
        })
        .filter_map(|dir| Some(dir.file_name()?.to_str()?.to_owned()))
        .collect();
    if classes.is_empty() {
        return Err(crate::Error::Data(format!(
            "{} holds no DAGM 2007 class (ClassN/Test/Label/Labels.txt) and no MVTec AD category (name/test/)",
            root.display()
        )));
    }
    classes.sort_by_key(|name| {
        let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (stem, number) = name.split_at(name.len() - digits);
        (
            stem.to_owned(),
            number.parse::<u64>().unwrap_or(0),
            name.clone(),
        )
    });
    Ok(classes)
}
