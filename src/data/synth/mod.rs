// SPDX-License-Identifier: MIT OR Apache-2.0
//! Procedural textures with defects and pixel-exact masks, in the spirit of DAGM 2007: ten classes, each
//! with its own texture model and defect family. Every image of a class is a fresh draw of the same
//! stochastic texture under its own shift, orientation and lighting, so normal images are never copies;
//! defects range from faint to obvious and are darker or brighter than the surface. Seeded and
//! deterministic.

mod defects;
mod noise;
pub mod photo;
mod textures;

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use image::GrayImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::data::dagm::Split;
use crate::error::{Error, Result};
use defects::{Surface, add_defect};
use noise::render;
use textures::texture;

/// Texture classes, in class order (class 1 is `TEXTURES[0]`).
pub const TEXTURES: [Texture; 10] = [
    Texture::FineNoise,
    Texture::Grain,
    Texture::Fabric,
    Texture::Clouds,
    Texture::BrushedMetal,
    Texture::Speckle,
    Texture::Mesh,
    Texture::Cells,
    Texture::Stripes,
    Texture::Paper,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Texture {
    /// Isotropic band-pass noise; defect: a thin scratch (a polyline).
    FineNoise,
    /// Oriented wood-like grain; defect: a round spot.
    Grain,
    /// Woven threads; defect: a stain with a ragged edge.
    Fabric,
    /// Fractal clouds (fBm); defect: a crack (a thin dark random walk).
    Clouds,
    /// Streaks along one direction; defect: a dent, lit on one side and shaded on the other.
    BrushedMetal,
    /// Sand-like dots on a flat ground; defect: a clump of coarser grains.
    Speckle,
    /// A square grid of threads; defect: a thread break (a gap in one thread).
    Mesh,
    /// Voronoi cells like leather; defect: a blob with a soft edge.
    Cells,
    /// Oriented stripes with phase jitter; defect: a patch of stripes in another orientation.
    Stripes,
    /// Faint paper fibre under strong uneven lighting; defect: a long, low-contrast fold line.
    Paper,
}

/// One generated sample.
pub struct Sample {
    pub image: GrayImage,
    /// 255 where the defect is, 0 elsewhere; all zero for a good sample.
    pub mask: GrayImage,
}

/// Sample `index` of a class: the same (kind, seed, index, defective) always gives the same pixels.
pub fn sample(kind: Texture, seed: u64, index: u64, size: u32, defective: bool) -> Sample {
    let class = TEXTURES.iter().position(|&t| t == kind).unwrap_or(0) as u64;
    let stream = (class << 40) ^ (index << 1) ^ defective as u64;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut pixels = texture(kind, &mut rng, size);
    let mut mask = vec![0u8; pixels.len()];
    if defective {
        let mut surface = Surface {
            size,
            pixels: &mut pixels,
            mask: &mut mask,
        };
        add_defect(kind, &mut rng, &mut surface);
    }
    // Lighting: a gain and a gradient in a random direction; Paper is lit unevenly on purpose.
    let uneven = if kind == Texture::Paper { 0.3 } else { 0.1 };
    let gain = rng.gen_range(0.85f32..1.15);
    let (gx, gy) = (
        rng.gen_range(-uneven..uneven),
        rng.gen_range(-uneven..uneven),
    );
    let bytes: Vec<u8> = render(size, |x, y| {
        let i = y as usize * size as usize + x as usize;
        let (x, y) = (x / size as f32 - 0.5, y / size as f32 - 0.5);
        ((pixels[i] * gain + gx * x + gy * y).clamp(0.0, 1.0) * 255.0).round()
    })
    .into_iter()
    .map(|v| v as u8)
    .collect();
    Sample {
        image: GrayImage::from_raw(size, size, bytes).expect("size matches"),
        mask: GrayImage::from_raw(size, size, mask).expect("size matches"),
    }
}

/// Options of the synthetic DAGM-like dataset.
#[derive(Clone, Debug)]
pub struct SynthOptions {
    pub seed: u64,
    /// Image side in pixels.
    pub size: u32,
    /// Images per class in Train and in Test.
    pub train: usize,
    pub test: usize,
    /// Fraction of each split that is defective.
    pub defect_fraction: f64,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            seed: 0,
            size: 256,
            train: 100,
            test: 50,
            defect_fraction: 0.2,
        }
    }
}

/// Writes class `number` (1-based) of the synthetic dataset under `root/ClassN`.
pub fn write_dagm_class(root: &Path, number: usize, options: &SynthOptions) -> Result<()> {
    let texture: Texture = *TEXTURES.get(number.wrapping_sub(1)).ok_or_else(|| {
        Error::Input(format!(
            "class {number} does not exist: the generator has classes 1 to {}",
            TEXTURES.len()
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
            let sample = sample(texture, options.seed, index, options.size, defective);
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

/// Saves an image, creating its folder.
fn save<P: image::PixelWithColorType>(
    image: &image::ImageBuffer<P, Vec<P::Subpixel>>,
    path: &Path,
) -> Result<()>
where
    [P::Subpixel]: image::EncodableLayout,
{
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    }
    image.save(path).map_err(|e| Error::Image {
        path: path.to_owned(),
        problem: format!("cannot write: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::dagm;

    #[test]
    fn samples_are_deterministic_distinct_and_masked() {
        for kind in TEXTURES {
            let a = sample(kind, 7, 0, 64, true);
            let again = sample(kind, 7, 0, 64, true);
            assert_eq!(a.image, again.image, "{kind:?}");
            assert_eq!(a.mask, again.mask);
            assert!(
                a.mask.pixels().any(|p| p.0[0] == 255),
                "{kind:?} defect has a mask"
            );
            let good = sample(kind, 7, 1, 64, false);
            assert!(good.mask.pixels().all(|p| p.0[0] == 0));
            assert_ne!(good.image, sample(kind, 7, 2, 64, false).image, "no copies");
            assert_ne!(
                good.image,
                sample(kind, 8, 1, 64, false).image,
                "seed matters"
            );
        }
    }

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
        write_dagm_class(root.path(), 2, &options).unwrap();
        let train = dagm::read_split(root.path(), "Class2", dagm::Split::Train).unwrap();
        let test = dagm::read_split(root.path(), "Class2", dagm::Split::Test).unwrap();
        assert_eq!((train.len(), test.len()), (6, 4));
        assert_eq!(test.iter().filter(|i| i.defective).count(), 2);
        assert!(train.iter().all(|i| i.defective == i.mask.is_some()));
        assert!(write_dagm_class(root.path(), 99, &options).is_err());

        let labels = root.path().join("Class2/Test/Label/Labels.txt");
        let mask = test.iter().find_map(|i| i.mask.clone()).unwrap();
        fs::remove_file(&mask).unwrap();
        let err = dagm::read_split(root.path(), "Class2", dagm::Split::Test)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
        fs::remove_file(labels).unwrap();
        let err = dagm::read_split(root.path(), "Class2", dagm::Split::Test)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Labels.txt"), "{err}");
    }
}
