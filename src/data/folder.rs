// SPDX-License-Identifier: MIT OR Apache-2.0
//! A plain folder of images, and the folder layout of a labelled set: `good/`, `defect/` and optionally
//! `masks/` (`<name>.png` or `<name>_mask.png` for `defect/<name>.*`).

use std::path::{Path, PathBuf};

use crate::data::LabeledImage;
use crate::error::{Error, Result};

/// File extensions read as images (case-insensitive).
pub const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

pub fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// The images directly inside `dir`, sorted by name so that runs are reproducible.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("reading image folder {}", dir.display()), e))?;
    let mut images = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| Error::io(format!("reading image folder {}", dir.display()), e))?
            .path();
        if path.is_file() && is_image(&path) {
            images.push(path);
        }
    }
    images.sort();
    if images.is_empty() {
        return Err(Error::Data(format!(
            "no images ({}) in {}",
            IMAGE_EXTENSIONS.join(", "),
            dir.display()
        )));
    }
    Ok(images)
}

/// The labelled images of a folder-layout set: every image of `good/` and `defect/`, with masks when
/// `masks/` exists (then every defect needs one, and every mask a defect).
pub fn labeled(root: &Path) -> Result<Vec<LabeledImage>> {
    let good = list_images(&root.join("good"))?;
    let defects = list_images(&root.join("defect"))?;
    let masks_dir = root.join("masks");
    let masks = if masks_dir.is_dir() {
        list_images(&masks_dir)?
    } else {
        Vec::new()
    };
    let stem = |p: &Path| {
        p.file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    };
    let mask_of = |image: &Path| {
        let name = stem(image);
        masks
            .iter()
            .find(|m| stem(m) == name || stem(m) == format!("{name}_mask"))
            .cloned()
    };
    if let Some(orphan) = masks.iter().find(|m| {
        let name = stem(m);
        let name = name.strip_suffix("_mask").unwrap_or(&name);
        !defects.iter().any(|d| stem(d) == name)
    }) {
        return Err(Error::Data(format!(
            "mask {} has no image in {}",
            orphan.display(),
            root.join("defect").display()
        )));
    }
    let mut images: Vec<LabeledImage> = good
        .into_iter()
        .map(|path| LabeledImage {
            path,
            defective: false,
            mask: None,
        })
        .collect();
    for path in defects {
        let mask = mask_of(&path);
        if masks_dir.is_dir() && mask.is_none() {
            return Err(Error::Data(format!(
                "defective image {} has no mask in {}",
                path.display(),
                masks_dir.display()
            )));
        }
        images.push(LabeledImage {
            path,
            defective: true,
            mask,
        });
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_only_images_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.PNG", "a.jpg", "c.bmp", "notes.txt"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.png")).unwrap();
        let names: Vec<String> = list_images(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.jpg", "b.PNG", "c.bmp"]);
        std::fs::remove_file(dir.path().join("a.jpg")).unwrap();
        std::fs::remove_file(dir.path().join("b.PNG")).unwrap();
        std::fs::remove_file(dir.path().join("c.bmp")).unwrap();
        let err = list_images(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no images"), "{err}");
    }

    #[test]
    fn labeled_sets_pair_defects_with_masks() {
        let root = tempfile::tempdir().unwrap();
        for name in ["good/a.png", "good/b.jpg", "defect/c.png", "defect/d.bmp"] {
            let path = root.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        }
        let images = labeled(root.path()).unwrap();
        assert_eq!(images.iter().filter(|i| i.defective).count(), 2);
        assert!(
            images.iter().all(|i| i.mask.is_none()),
            "masks are optional"
        );

        std::fs::create_dir(root.path().join("masks")).unwrap();
        std::fs::write(root.path().join("masks/c.png"), b"x").unwrap();
        let err = labeled(root.path()).unwrap_err().to_string();
        assert!(err.contains("d.bmp") && err.contains("no mask"), "{err}");
        std::fs::write(root.path().join("masks/d_mask.png"), b"x").unwrap();
        let images = labeled(root.path()).unwrap();
        assert!(
            images
                .iter()
                .filter(|i| i.defective)
                .all(|i| i.mask.is_some())
        );
        std::fs::write(root.path().join("masks/e.png"), b"x").unwrap();
        let err = labeled(root.path()).unwrap_err().to_string();
        assert!(err.contains("e.png") && err.contains("no image"), "{err}");
    }
}
