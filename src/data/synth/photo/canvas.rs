// SPDX-License-Identifier: MIT OR Apache-2.0
//! A photograph as linear floats, the smoothed copy and grain level the defects need, and the canvas a
//! defect is painted on with its mask.

use image::{GrayImage, RgbImage};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// RGB pixels in [0, 1], row-major.
#[derive(Clone)]
pub(super) struct Photo {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<[f32; 3]>,
}

impl Photo {
    pub fn from_rgb(image: &RgbImage) -> Self {
        Photo {
            width: image.width() as usize,
            height: image.height() as usize,
            pixels: image
                .pixels()
                .map(|p| p.0.map(|v| f32::from(v) / 255.0))
                .collect(),
        }
    }

    pub fn to_rgb(&self) -> RgbImage {
        let bytes = self
            .pixels
            .iter()
            .flat_map(|p| p.map(|v| (v * 255.0).round().clamp(0.0, 255.0) as u8))
            .collect();
        RgbImage::from_raw(self.width as u32, self.height as u32, bytes).expect("size matches")
    }

    /// The shorter side, the unit defects are sized in.
    pub fn side(&self) -> f32 {
        self.width.min(self.height) as f32
    }

    /// Bilinear sample at (x, y), clamped to the picture.
    pub fn sample(&self, x: f32, y: f32) -> [f32; 3] {
        let x = x.clamp(0.0, (self.width - 1) as f32);
        let y = y.clamp(0.0, (self.height - 1) as f32);
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.width - 1), (y0 + 1).min(self.height - 1));
        let (tx, ty) = (x - x0 as f32, y - y0 as f32);
        let at = |x: usize, y: usize| self.pixels[y * self.width + x];
        let (a, b, c, d) = (at(x0, y0), at(x1, y0), at(x0, y1), at(x1, y1));
        std::array::from_fn(|k| {
            (a[k] * (1.0 - tx) + b[k] * tx) * (1.0 - ty) + (c[k] * (1.0 - tx) + d[k] * tx) * ty
        })
    }

    /// Three box blurs of `radius` pixels: close to a Gaussian of σ ≈ radius.
    pub fn blurred(&self, radius: usize) -> Photo {
        let mut photo = self.clone();
        for _ in 0..3 {
            photo.box_pass(radius, true);
            photo.box_pass(radius, false);
        }
        photo
    }

    /// A running-sum box mean along rows (`along_rows`) or columns, edges clamped.
    fn box_pass(&mut self, radius: usize, along_rows: bool) {
        let (lines, length) = match along_rows {
            true => (self.height, self.width),
            false => (self.width, self.height),
        };
        let index = |line: usize, i: usize| match along_rows {
            true => line * self.width + i,
            false => i * self.width + line,
        };
        let span = (2 * radius + 1) as f32;
        let mut line_values = vec![[0.0f32; 3]; length];
        for line in 0..lines {
            for (i, value) in line_values.iter_mut().enumerate() {
                *value = self.pixels[index(line, i)];
            }
            let clamped = |i: isize| line_values[i.clamp(0, length as isize - 1) as usize];
            let mut sum = [0.0f32; 3];
            for i in -(radius as isize)..=radius as isize {
                let v = clamped(i);
                (0..3).for_each(|k| sum[k] += v[k]);
            }
            for i in 0..length {
                self.pixels[index(line, i)] = sum.map(|s| s / span);
                let (enter, leave) = (
                    clamped(i as isize + radius as isize + 1),
                    clamped(i as isize - radius as isize),
                );
                (0..3).for_each(|k| sum[k] += enter[k] - leave[k]);
            }
        }
    }

    /// Standard deviation of the finest detail (texture grain and sensor noise together), estimated
    /// robustly from each pixel's difference to the mean of its four neighbours.
    pub fn fine_grain(&self) -> f32 {
        let (w, h) = (self.width, self.height);
        let luma = |i: usize| self.pixels[i].iter().sum::<f32>() / 3.0;
        let mut residuals: Vec<f32> = (1..h.saturating_sub(1))
            .flat_map(|y| (1..w.saturating_sub(1)).map(move |x| y * w + x))
            .map(|i| {
                (luma(i) - (luma(i - 1) + luma(i + 1) + luma(i - w) + luma(i + w)) / 4.0).abs()
            })
            .collect();
        if residuals.is_empty() {
            return 0.0;
        }
        let middle = residuals.len() / 2;
        let (_, median, _) = residuals.select_nth_unstable_by(middle, f32::total_cmp);
        // MAD to σ for a Gaussian, and the residual of white noise is √(5/4) times the noise.
        1.4826 * *median / 1.118
    }

    /// Whether every pixel is grey (a monochrome photograph stays monochrome).
    pub fn is_grey(&self) -> bool {
        self.pixels
            .iter()
            .all(|p| (p[0] - p[1]).abs() < 1e-6 && (p[1] - p[2]).abs() < 1e-6)
    }
}

/// A standard normal draw (Box–Muller).
pub(super) fn gaussian(rng: &mut ChaCha8Rng) -> f32 {
    let (u, v): (f32, f32) = (rng.gen_range(f32::EPSILON..1.0), rng.r#gen());
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f32::consts::PI * v).cos()
}

/// The pixels a defect may touch: a box around its centre, within the picture.
#[derive(Clone)]
pub(super) struct Bounds {
    pub x: std::ops::Range<usize>,
    pub y: std::ops::Range<usize>,
}

impl Bounds {
    pub fn around(centre: (f32, f32), reach: f32, photo: &Photo) -> Self {
        let range = |c: f32, limit: usize| {
            let start = (c - reach).floor().clamp(0.0, limit as f32) as usize;
            let end = (c + reach).ceil().clamp(0.0, limit as f32) as usize;
            start..end
        };
        Bounds {
            x: range(centre.0, photo.width),
            y: range(centre.1, photo.height),
        }
    }
}

/// What a defect paints on a pixel: how much of the pixel it replaces, and with what.
pub(super) struct Stroke {
    pub weight: f32,
    pub value: [f32; 3],
    /// How much of the picture's own fine grain the defect removed there (0 to 1): it is put back as
    /// noise of the same strength, so the defect is not given away by being smoother than the surface.
    pub smoothed: f32,
    /// Whether the pixel belongs to the defect's mask.
    pub labelled: bool,
}

/// The defective picture under construction, with its mask.
pub(super) struct Canvas<'a> {
    pub original: &'a Photo,
    pub photo: Photo,
    pub mask: Vec<u8>,
    pub grain: f32,
    pub grey: bool,
}

impl<'a> Canvas<'a> {
    pub fn new(original: &'a Photo) -> Self {
        Canvas {
            original,
            photo: original.clone(),
            mask: vec![0; original.width * original.height],
            grain: original.fine_grain(),
            grey: original.is_grey(),
        }
    }

    /// Blends `stroke(x, y, original pixel)` into every pixel of `bounds` that it covers.
    pub fn paint(
        &mut self,
        rng: &mut ChaCha8Rng,
        bounds: Bounds,
        stroke: impl Fn(f32, f32, [f32; 3]) -> Option<Stroke>,
    ) {
        let width = self.photo.width;
        for y in bounds.y.clone() {
            for x in bounds.x.clone() {
                let i = y * width + x;
                let Some(s) = stroke(x as f32, y as f32, self.original.pixels[i]) else {
                    continue;
                };
                let w = s.weight.clamp(0.0, 1.0);
                if w <= 0.0 {
                    continue;
                }
                let kept = 1.0 - s.smoothed.clamp(0.0, 1.0) * w;
                let noise = self.grain * (1.0 - kept * kept).sqrt() * gaussian(rng);
                let old = self.photo.pixels[i];
                let mut new: [f32; 3] =
                    std::array::from_fn(|k| old[k] * (1.0 - w) + s.value[k] * w + noise);
                if self.grey {
                    new = [new.iter().sum::<f32>() / 3.0; 3];
                }
                self.photo.pixels[i] = new.map(|v| v.clamp(0.0, 1.0));
                if s.labelled {
                    self.mask[i] = 255;
                }
            }
        }
    }

    pub fn finish(self) -> (RgbImage, GrayImage) {
        let (w, h) = (self.photo.width as u32, self.photo.height as u32);
        (
            self.photo.to_rgb(),
            GrayImage::from_raw(w, h, self.mask).expect("size matches"),
        )
    }
}
