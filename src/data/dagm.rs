// SPDX-License-Identifier: MIT OR Apache-2.0
//! The DAGM 2007 layout: `ClassN/{Train,Test}/NNNN.PNG` with `Label/Labels.txt` (a count line, then
//! tab-separated `index, label (0 good / 1 defect), image file, 0, mask file`) and masks in `Label/`.

use std::fs;
use std::path::Path;

use crate::data::LabeledImage;
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    pub(crate) fn dir(self) -> &'static str {
        match self {
            Split::Train => "Train",
            Split::Test => "Test",
        }
    }
}

/// Reads one split of one class, checking that every listed image and mask exists.
pub fn read_split(root: &Path, class: &str, split: Split) -> Result<Vec<LabeledImage>> {
    let dir = root.join(class).join(split.dir());
    let labels = dir.join("Label").join("Labels.txt");
    let text = fs::read_to_string(&labels).map_err(|e| {
        Error::Data(format!(
            "{}: not a DAGM class split: cannot read {} ({e})",
            dir.display(),
            labels.display()
        ))
    })?;
    let mut images = Vec::new();
    for (number, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
        let bad_line = |why: &str| {
            Error::Data(format!(
                "{}:{}: {why}: '{line}'",
                labels.display(),
                number + 1
            ))
        };
        let (label, file) = match fields.as_slice() {
            [_, label, file, ..] => (*label, *file),
            _ => return Err(bad_line("expected at least 3 tab-separated fields")),
        };
        let defective = match label {
            "0" => false,
            "1" => true,
            _ => return Err(bad_line("label must be 0 or 1")),
        };
        let path = dir.join(file);
        if !path.is_file() {
            return Err(bad_line(&format!(
                "image {} does not exist",
                path.display()
            )));
        }
        let mask = match fields.get(4).filter(|m| !m.is_empty() && **m != "0") {
            Some(mask) => {
                let mask = dir.join("Label").join(mask);
                if !mask.is_file() {
                    return Err(bad_line(&format!("mask {} does not exist", mask.display())));
                }
                Some(mask)
            }
            None if defective => return Err(bad_line("defective image without a mask")),
            None => None,
        };
        images.push(LabeledImage {
            path,
            defective,
            mask,
        });
    }
    if images.is_empty() {
        return Err(Error::Data(format!("{} lists no images", labels.display())));
    }
    Ok(images)
}
