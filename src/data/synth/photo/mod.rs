// SPDX-License-Identifier: MIT OR Apache-2.0
//! Defects rendered onto real photographs of good parts, with masks: a labelled test set from good
//! images alone, to estimate what a model will catch before the first real defect is seen. The kinds
//! are unlike the generator's families (glue, loose fibres, discolouration, creases, abrasion) and are
//! made of the photograph's own pixels, under its lighting and with its grain.

mod canvas;
mod kinds;

use std::fs;
use std::path::{Path, PathBuf};

use image::{GrayImage, RgbImage};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::save;
use crate::error::{Error, Result};
use canvas::{Canvas, Photo};
use kinds::Scene;

/// A defect drawn on a photograph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhotoDefect {
    Glue,
    Fibre,
    Discolouration,
    Crease,
    Abrasion,
}

impl PhotoDefect {
    pub const ALL: [PhotoDefect; 5] = [
        PhotoDefect::Glue,
        PhotoDefect::Fibre,
        PhotoDefect::Discolouration,
        PhotoDefect::Crease,
        PhotoDefect::Abrasion,
    ];

    /// The name, also the defect's folder in the MVTec AD layout.
    pub fn name(self) -> &'static str {
        match self {
            PhotoDefect::Glue => "glue",
            PhotoDefect::Fibre => "fibre",
            PhotoDefect::Discolouration => "discolouration",
            PhotoDefect::Crease => "crease",
            PhotoDefect::Abrasion => "abrasion",
        }
    }

    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
                Error::Input(format!(
                    "no defect kind '{name}': one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// `photo` with a defect of `kind` drawn on it, and the defect's mask (255 where it is).
pub fn render(photo: &RgbImage, kind: PhotoDefect, rng: &mut ChaCha8Rng) -> (RgbImage, GrayImage) {
    let original = Photo::from_rgb(photo);
    let smooth = original.blurred((original.side() / 64.0).max(2.0) as usize);
    let mut canvas = Canvas::new(&original);
    let mut scene = Scene {
        canvas: &mut canvas,
        smooth: &smooth,
    };
    match kind {
        PhotoDefect::Glue => kinds::glue(rng, &mut scene),
        PhotoDefect::Fibre => kinds::fibre(rng, &mut scene),
        PhotoDefect::Discolouration => kinds::discolouration(rng, &mut scene),
        PhotoDefect::Crease => kinds::crease(rng, &mut scene),
        PhotoDefect::Abrasion => kinds::abrasion(rng, &mut scene),
    }
    canvas.finish()
}

/// How a folder of good photographs becomes a labelled set.
#[derive(Clone, Debug)]
pub struct PhotoSetOptions {
    pub seed: u64,
    /// Share of the photographs held out for the test split: the last ones in name order, so that
    /// frames named by capture time are tested on parts the model never saw in training.
    pub test_share: f64,
    /// Kinds drawn in turn on the held-out photographs.
    pub kinds: Vec<PhotoDefect>,
}

impl Default for PhotoSetOptions {
    fn default() -> Self {
        PhotoSetOptions {
            seed: 0,
            test_share: 0.3,
            kinds: PhotoDefect::ALL.to_vec(),
        }
    }
}

/// What [`write_photo_set`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhotoSet {
    pub train: usize,
    /// Held-out photographs: each is in the test split as it is, and once with a defect.
    pub test_good: usize,
    pub test_defective: usize,
}

/// Writes `category/` under `root` in the MVTec AD layout from the good photographs `good` (in name
/// order): the first ones to `train/good/`, the held-out ones to `test/good/` as they are and to
/// `test/<kind>/` with a defect, its mask in `ground_truth/<kind>/`. `progress` is called once per
/// photograph.
pub fn write_photo_set(
    good: &[PathBuf],
    root: &Path,
    category: &str,
    options: &PhotoSetOptions,
    progress: &mut dyn FnMut(),
) -> Result<PhotoSet> {
    if options.kinds.is_empty() {
        return Err(Error::Input("no defect kinds to draw".into()));
    }
    if good.len() < 2 || !(options.test_share > 0.0 && options.test_share < 1.0) {
        return Err(Error::Input(format!(
            "{} good photographs and a test share of {}: at least one is needed for training and one \
             for testing",
            good.len(),
            options.test_share
        )));
    }
    let held_out =
        ((good.len() as f64 * options.test_share).round() as usize).clamp(1, good.len() - 1);
    let category_dir = root.join(category);
    let (train, test) = good.split_at(good.len() - held_out);
    for path in train {
        copy_into(path, &category_dir.join("train").join("good"))?;
        progress();
    }
    for (index, path) in test.iter().enumerate() {
        copy_into(path, &category_dir.join("test").join("good"))?;
        let photo = crate::frame::load_rgb(path)?;
        let kind = options.kinds[index % options.kinds.len()];
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        let mut rng =
            ChaCha8Rng::seed_from_u64(options.seed ^ name_hash(&format!("{category}/{stem}")));
        let (defective, mask) = render(&photo, kind, &mut rng);
        let place =
            |folder: &str, name: String| category_dir.join(folder).join(kind.name()).join(name);
        save(&defective, &place("test", format!("{stem}.png")))?;
        save(&mask, &place("ground_truth", format!("{stem}_mask.png")))?;
        progress();
    }
    Ok(PhotoSet {
        train: train.len(),
        test_good: test.len(),
        test_defective: test.len(),
    })
}

/// FNV-1a of a name: each photograph of each category draws its own defect, the same in every run.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Copies a file into `dir` under its own name, refusing to overwrite one already written there.
fn copy_into(path: &Path, dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let target = dir.join(path.file_name().unwrap_or_default());
    if target.exists() {
        return Err(Error::Input(format!(
            "{} is written twice: photographs need distinct names",
            target.display()
        )));
    }
    fs::copy(path, &target).map(drop).map_err(|e| {
        Error::io(
            format!("copying {} to {}", path.display(), target.display()),
            e,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::mvtec;
    use crate::data::synth::{Texture, sample};
    use image::Rgb;

    /// A "photograph": a generated texture in colour, with the fine grain of a sensor.
    fn photo(index: u64, size: u32) -> RgbImage {
        let grey = sample(Texture::Cells, 3, index, size, false).image;
        RgbImage::from_fn(size, size, |x, y| {
            let v = f32::from(grey.get_pixel(x, y).0[0]);
            let grain = ((x * 7 + y * 13 + index as u32) % 5) as f32 - 2.0;
            Rgb([
                v * 0.9 + grain,
                v * 0.8 + 20.0 + grain,
                v * 0.6 + 40.0 + grain,
            ]
            .map(|c| c as u8))
        })
    }

    /// Standard deviation of each pixel's difference to its four neighbours' mean, over the pixels
    /// `inside` picks.
    fn fine_detail(image: &RgbImage, inside: impl Fn(u32, u32) -> bool) -> f32 {
        let luma = |x: u32, y: u32| {
            image
                .get_pixel(x, y)
                .0
                .iter()
                .map(|&c| f32::from(c))
                .sum::<f32>()
        };
        let mut residuals = Vec::new();
        for y in 1..image.height() - 1 {
            for x in 1..image.width() - 1 {
                if inside(x, y) {
                    let around = luma(x - 1, y) + luma(x + 1, y) + luma(x, y - 1) + luma(x, y + 1);
                    residuals.push(luma(x, y) - around / 4.0);
                }
            }
        }
        let mean = residuals.iter().sum::<f32>() / residuals.len() as f32;
        (residuals.iter().map(|r| (r - mean).powi(2)).sum::<f32>() / residuals.len() as f32).sqrt()
    }

    #[test]
    fn every_kind_changes_the_picture_where_its_mask_is_and_keeps_the_grain() {
        for (index, kind) in PhotoDefect::ALL.into_iter().enumerate() {
            let good = photo(index as u64, 128);
            let draw = |seed| render(&good, kind, &mut ChaCha8Rng::seed_from_u64(seed));
            let (defective, mask) = draw(5);
            assert_eq!(
                (defective.clone(), mask.clone()),
                draw(5),
                "{kind:?} is deterministic"
            );
            assert_ne!(mask, draw(6).1, "{kind:?} draws with its seed");
            let masked: Vec<(u32, u32)> = mask
                .enumerate_pixels()
                .filter(|(_, _, p)| p.0[0] == 255)
                .map(|(x, y, _)| (x, y))
                .collect();
            assert!(masked.len() >= 10, "{kind:?} masks {} pixels", masked.len());
            let changed = |x: u32, y: u32| {
                let (a, b) = (defective.get_pixel(x, y).0, good.get_pixel(x, y).0);
                a.iter()
                    .zip(b)
                    .map(|(&a, b)| a.abs_diff(b))
                    .max()
                    .unwrap_or(0)
            };
            let in_mask_change: u32 = masked.iter().map(|&(x, y)| u32::from(changed(x, y))).sum();
            assert!(
                in_mask_change as f32 / masked.len() as f32 >= 3.0,
                "{kind:?} is visible where it is masked"
            );
            // Away from the mask (beyond its soft edge and a fibre's shadow), nothing moves.
            let near = |x: u32, y: u32| {
                masked
                    .iter()
                    .any(|&(mx, my)| mx.abs_diff(x).max(my.abs_diff(y)) <= 8)
            };
            for (x, y, _) in defective.enumerate_pixels() {
                assert!(
                    near(x, y) || changed(x, y) <= 2,
                    "{kind:?} changed ({x}, {y}) far from its mask"
                );
            }
            // No defect is given away by being smoother (or grainier) than the surface around it.
            let (inside, outside) = (
                fine_detail(&defective, |x, y| mask.get_pixel(x, y).0[0] == 255),
                fine_detail(&defective, |x, y| !near(x, y)),
            );
            assert!(
                (0.5..2.5).contains(&(inside / outside)),
                "{kind:?}: fine detail {inside} inside against {outside} outside"
            );
        }
    }

    #[test]
    fn a_grey_photograph_stays_grey() {
        let grey = image::DynamicImage::ImageLuma8(sample(Texture::Grain, 1, 0, 96, false).image)
            .to_rgb8();
        for kind in PhotoDefect::ALL {
            let (defective, _) = render(&grey, kind, &mut ChaCha8Rng::seed_from_u64(1));
            assert!(
                defective
                    .pixels()
                    .all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn a_folder_of_good_photographs_becomes_a_category_with_masks() {
        let dir = tempfile::tempdir().unwrap();
        let good: Vec<PathBuf> = (0..10)
            .map(|i| {
                let path = dir.path().join(format!("frame-{i:02}.png"));
                photo(i, 64).save(&path).unwrap();
                path
            })
            .collect();
        let root = dir.path().join("set");
        let options = PhotoSetOptions {
            test_share: 0.3,
            ..Default::default()
        };
        let mut calls = 0;
        let written = write_photo_set(&good, &root, "part", &options, &mut || calls += 1).unwrap();
        assert_eq!(
            (written.train, written.test_good, written.test_defective),
            (7, 3, 3)
        );
        assert_eq!(calls, 10);

        // The last frames in name order are held out; the kinds are drawn in turn (listed by folder).
        let train = mvtec::train(&root, "part").unwrap();
        assert!(
            train
                .iter()
                .all(|i| i.path.file_name().unwrap() < "frame-07.png")
        );
        let test = mvtec::test(&root, "part").unwrap();
        let kinds: Vec<String> = test
            .iter()
            .filter(|i| i.defective)
            .map(|i| {
                i.path
                    .parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(
            kinds,
            ["discolouration", "fibre", "glue"],
            "glue, fibre, discolouration in turn"
        );
        assert!(test.iter().all(|i| i.defective == i.mask.is_some()));

        // Rewriting into the same folder is refused rather than mixing two sets.
        let again = write_photo_set(&good, &root, "part", &options, &mut || ());
        assert!(again.unwrap_err().to_string().contains("written twice"));
        let one = write_photo_set(
            &good[..1],
            &dir.path().join("one"),
            "part",
            &options,
            &mut || (),
        );
        assert!(one.unwrap_err().to_string().contains("at least one"));
        assert!(
            PhotoDefect::from_name("dust")
                .unwrap_err()
                .to_string()
                .contains("glue")
        );
    }
}
