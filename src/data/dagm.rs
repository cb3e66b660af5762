// SPDX-License-Identifier: MIT OR Apache-2.0
//! The DAGM 2007 layout: `ClassN/{Train,Test}/NNNN.PNG` with `Label/Labels.txt` (a count line, then
//! tab-separated `index, label (0 good / 1 defect), image file, 0, mask file`) and masks in `Label/`.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use crate::data::LabeledImage;
use crate::data::synth::{self, Texture};
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    fn dir(self) -> &'static str {
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

/// Options of the synthetic DAGM-like dataset.
#[derive(Clone, Debug)]
pub struct SynthOptions {
    pub seed: u64,
    pub size: u32,
    pub train: usize,
    pub test: usize,
    /// Fraction of each split that is defective.
    pub defect_fraction: f64,
}

/// Writes class `number` (1-based) of the synthetic dataset under `root/ClassN`.
pub fn write_synthetic_class(root: &Path, number: usize, options: &SynthOptions) -> Result<()> {
    let texture: Texture = *synth::TEXTURES.get(number.wrapping_sub(1)).ok_or_else(|| {
        Error::Input(format!(
            "class {number} does not exist: the generator has classes 1 to {}",
            synth::TEXTURES.len()
        ))
    })?;
    let mut index = 0u64;
    for (split, count) in [(Split::Train, options.train), (Split::Test, options.test)] {
        let dir = root.join(format!("Class{number}")).join(split.dir());
        let label_dir = dir.join("Label");
        fs::create_dir_all(&label_dir)
            .map_err(|e| Error::io(format!("creating {}", label_dir.display()), e))?;
        let defects = (count as f64 * options.defect_fraction).round() as usize;
        let mut labels = format!("{count}\n");
        for i in 0..count {
            // Spread the defective images through the split rather than at its end.
            let defective = (i * defects) / count.max(1) != ((i + 1) * defects) / count.max(1);
            let sample = synth::sample(texture, options.seed, index, options.size, defective);
            index += 1;
            let name = format!("{:04}.PNG", i + 1);
            save(&sample.image, &dir.join(&name))?;
            let mask = if defective {
                let mask = format!("{:04}_label.PNG", i + 1);
                save(&sample.mask, &label_dir.join(&mask))?;
                mask
            } else {
                String::new()
            };
            let _ = writeln!(labels, "{}\t{}\t{name}\t0\t{mask}", i + 1, defective as u8);
        }
        let path = label_dir.join("Labels.txt");
        fs::write(&path, labels)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    }
    Ok(())
}

fn save(image: &image::GrayImage, path: &Path) -> Result<()> {
    image.save(path).map_err(|e| Error::Image {
        path: path.to_owned(),
        problem: format!("cannot write: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_classes_read_back_with_masks() {
        let root = tempfile::tempdir().unwrap();
        let options = SynthOptions {
            seed: 1,
            size: 32,
            train: 6,
            test: 4,
            defect_fraction: 0.5,
        };
        write_synthetic_class(root.path(), 2, &options).unwrap();
        let train = read_split(root.path(), "Class2", Split::Train).unwrap();
        let test = read_split(root.path(), "Class2", Split::Test).unwrap();
        assert_eq!((train.len(), test.len()), (6, 4));
        assert_eq!(test.iter().filter(|i| i.defective).count(), 2);
        assert!(train.iter().all(|i| i.defective == i.mask.is_some()));
        assert!(write_synthetic_class(root.path(), 99, &options).is_err());

        let labels = root.path().join("Class2/Test/Label/Labels.txt");
        let mask = test.iter().find_map(|i| i.mask.clone()).unwrap();
        fs::remove_file(&mask).unwrap();
        let err = read_split(root.path(), "Class2", Split::Test)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
        fs::remove_file(labels).unwrap();
        let err = read_split(root.path(), "Class2", Split::Test)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Labels.txt"), "{err}");
    }
}
