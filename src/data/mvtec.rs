// SPDX-License-Identifier: MIT OR Apache-2.0
//! The MVTec AD layout: `category/train/good/*.png`, `category/test/<type>/*.png` (type `good` for defect-free
//! images) and `category/ground_truth/<type>/<name>_mask.png` for every defective test image.

use std::path::Path;

use crate::data::LabeledImage;
use crate::data::folder::list_images;
use crate::error::{Error, Result};

/// The good training images of a category.
pub fn train(root: &Path, category: &str) -> Result<Vec<LabeledImage>> {
    let good = root.join(category).join("train").join("good");
    Ok(list_images(&good)?
        .into_iter()
        .map(|path| LabeledImage {
            path,
            defective: false,
            mask: None,
        })
        .collect())
}

/// The test images of a category with their masks, checking that every defect has a mask and every mask
/// an image. A category without `ground_truth/` is labelled per image: its defects have no mask.
pub fn test(root: &Path, category: &str) -> Result<Vec<LabeledImage>> {
    let test_dir = root.join(category).join("test");
    let truth_dir = root.join(category).join("ground_truth");
    let has_masks = truth_dir.is_dir();
    let mut types: Vec<_> = std::fs::read_dir(&test_dir)
        .map_err(|e| {
            Error::io(
                format!("reading MVTec test folder {}", test_dir.display()),
                e,
            )
        })?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_dir())
        .collect();
    types.sort();
    let mut images = Vec::new();
    for type_dir in types {
        let kind = type_dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let defective = kind != "good";
        let listed = list_images(&type_dir)?;
        for path in &listed {
            let mask = if defective && has_masks {
                let stem = path.file_stem().unwrap_or_default().to_string_lossy();
                let mask = truth_dir.join(&kind).join(format!("{stem}_mask.png"));
                if !mask.is_file() {
                    return Err(Error::Data(format!(
                        "defective image {} has no mask {} (a category labelled per image has no \
                         ground_truth/ folder)",
                        path.display(),
                        mask.display()
                    )));
                }
                Some(mask)
            } else {
                None
            };
            images.push(LabeledImage {
                path: path.clone(),
                defective,
                mask,
            });
        }
        if defective && let Ok(masks) = list_images(&truth_dir.join(&kind)) {
            for mask in masks {
                let name = mask.file_name().unwrap_or_default().to_string_lossy();
                let stem = name.trim_end_matches(".png").trim_end_matches("_mask");
                if !listed
                    .iter()
                    .any(|p| p.file_stem().is_some_and(|s| s == stem))
                {
                    return Err(Error::Data(format!(
                        "mask {} has no image in {}",
                        mask.display(),
                        type_dir.display()
                    )));
                }
            }
        }
    }
    if images.is_empty() {
        return Err(Error::Data(format!(
            "{} holds no test images",
            test_dir.display()
        )));
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::GrayImage::new(4, 4).save(path).unwrap();
    }

    #[test]
    fn reads_a_category_and_refuses_unpaired_masks() {
        let root = tempfile::tempdir().unwrap();
        let category = root.path().join("tile");
        for name in [
            "train/good/000.png",
            "train/good/001.png",
            "test/good/000.png",
        ] {
            touch(&category.join(name));
        }
        touch(&category.join("test/crack/000.png"));
        touch(&category.join("ground_truth/crack/000_mask.png"));
        assert_eq!(train(root.path(), "tile").unwrap().len(), 2);
        let images = test(root.path(), "tile").unwrap();
        assert_eq!(images.len(), 2);
        let crack = images.iter().find(|i| i.defective).unwrap();
        assert!(
            crack
                .mask
                .as_ref()
                .unwrap()
                .ends_with("ground_truth/crack/000_mask.png")
        );
        assert!(images.iter().any(|i| !i.defective && i.mask.is_none()));

        touch(&category.join("ground_truth/crack/001_mask.png"));
        let err = test(root.path(), "tile").unwrap_err().to_string();
        assert!(
            err.contains("001_mask.png") && err.contains("no image"),
            "{err}"
        );
        touch(&category.join("test/crack/002.png"));
        std::fs::remove_file(category.join("ground_truth/crack/001_mask.png")).unwrap();
        let err = test(root.path(), "tile").unwrap_err().to_string();
        assert!(err.contains("002.png") && err.contains("no mask"), "{err}");
        assert!(train(root.path(), "wood").is_err());

        // Labelled per image: without ground_truth/, the defects are read without masks.
        std::fs::remove_dir_all(category.join("ground_truth")).unwrap();
        let images = test(root.path(), "tile").unwrap();
        assert_eq!(images.iter().filter(|i| i.defective).count(), 2);
        assert!(images.iter().all(|i| i.mask.is_none()));
    }
}
