// SPDX-License-Identifier: MIT OR Apache-2.0
//! Colormaps and blending of anomaly maps over pictures.
//!
//! Maps are shown on a fixed scale tied to the threshold, never stretched per frame: a good part stays cool
//! and a defect is hot whatever else is in view. The threshold sits at the middle of the colormap and
//! twice the threshold at its top.

use std::str::FromStr;

use crate::anomaly::AnomalyMap;
use crate::error::Error;
use crate::frame::{PixelLayout, YuvMatrix};

/// Blending a map is split across threads in bands of at least this many pixels (a 640x480 frame is two)…
const BLEND_PIXELS_PER_THREAD: usize = 1 << 17;
/// …on at most this many threads: the streaming thread and a few others, not every core of a server.
const BLEND_THREADS: usize = 8;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Colormap {
    #[default]
    Turbo,
    Jet,
    Inferno,
    Gray,
}

/// Control points (position, RGB) of each colormap, linearly interpolated.
#[rustfmt::skip]
fn control_points(colormap: Colormap) -> &'static [(f32, [f32; 3])] {
    match colormap {
        Colormap::Turbo => &[
            (0.0, [48.0, 18.0, 59.0]), (0.125, [65.0, 105.0, 225.0]), (0.25, [40.0, 173.0, 238.0]),
            (0.375, [27.0, 229.0, 181.0]), (0.5, [131.0, 255.0, 82.0]), (0.625, [210.0, 233.0, 53.0]),
            (0.75, [251.0, 170.0, 37.0]), (0.875, [226.0, 82.0, 14.0]), (1.0, [122.0, 4.0, 3.0]),
        ],
        Colormap::Jet => &[
            (0.0, [0.0, 0.0, 128.0]), (0.125, [0.0, 0.0, 255.0]), (0.375, [0.0, 255.0, 255.0]),
            (0.625, [255.0, 255.0, 0.0]), (0.875, [255.0, 0.0, 0.0]), (1.0, [128.0, 0.0, 0.0]),
        ],
        Colormap::Inferno => &[
            (0.0, [0.0, 0.0, 4.0]), (0.25, [87.0, 16.0, 110.0]), (0.5, [188.0, 55.0, 84.0]),
            (0.75, [249.0, 142.0, 9.0]), (1.0, [252.0, 255.0, 164.0]),
        ],
        Colormap::Gray => &[(0.0, [0.0, 0.0, 0.0]), (1.0, [255.0, 255.0, 255.0])],
    }
}

impl Colormap {
    pub const ALL: [Colormap; 4] = [
        Colormap::Turbo,
        Colormap::Jet,
        Colormap::Inferno,
        Colormap::Gray,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Colormap::Turbo => "turbo",
            Colormap::Jet => "jet",
            Colormap::Inferno => "inferno",
            Colormap::Gray => "gray",
        }
    }

    /// 256-entry RGB lookup table.
    pub fn lut(self) -> Vec<[u8; 3]> {
        let points = control_points(self);
        (0..256)
            .map(|i| {
                let x = i as f32 / 255.0;
                let upper = points
                    .iter()
                    .position(|&(p, _)| p >= x)
                    .unwrap_or(points.len() - 1)
                    .max(1);
                let ((p0, c0), (p1, c1)) = (points[upper - 1], points[upper]);
                let t = ((x - p0) / (p1 - p0)).clamp(0.0, 1.0);
                [0, 1, 2].map(|c| (c0[c] + (c1[c] - c0[c]) * t).round() as u8)
            })
            .collect()
    }
}

impl FromStr for Colormap {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Colormap::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                Error::Input(format!(
                    "unknown colormap '{s}' (turbo, jet, inferno or gray)"
                ))
            })
    }
}

/// What the bytes of a canvas hold: packed pixels, or one plane of a YUV picture.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Surface {
    /// Packed pixels of a [`PixelLayout`]; grey draws luminance.
    Packed(PixelLayout),
    /// The Y' plane of a YUV picture.
    Luma(YuvMatrix),
    /// A chroma plane at half resolution: samples of `bytes` bytes holding Cb and/or Cr at these offsets.
    Chroma {
        matrix: YuvMatrix,
        cb: Option<usize>,
        cr: Option<usize>,
        bytes: usize,
    },
}

impl Surface {
    fn bytes_per_pixel(self) -> usize {
        match self {
            Surface::Packed(layout) => layout.bytes_per_pixel,
            Surface::Luma(_) => 1,
            Surface::Chroma { bytes, .. } => bytes,
        }
    }
}

/// A mutable 8-bit picture, or one plane of it, to draw on.
pub struct Canvas<'a> {
    pub data: &'a mut [u8],
    pub width: usize,
    pub height: usize,
    /// Bytes from the start of one row to the next.
    pub stride: usize,
    pub surface: Surface,
}

impl<'a> Canvas<'a> {
    /// A packed picture whose rows follow each other without padding.
    pub fn packed(data: &'a mut [u8], width: usize, height: usize, layout: PixelLayout) -> Self {
        Canvas {
            data,
            width,
            height,
            stride: width * layout.bytes_per_pixel,
            surface: Surface::Packed(layout),
        }
    }

    /// A decoded RGB image.
    pub fn rgb_image(image: &'a mut image::RgbImage) -> Self {
        let (width, height) = (image.width() as usize, image.height() as usize);
        Self::packed(image, width, height, PixelLayout::RGB)
    }
}

/// A colour at an opacity for one surface: the byte offsets it changes in a pixel and the values it mixes
/// in, premultiplied in fixed point (1/256 steps) so that mixing costs one multiply-add per byte: overlays
/// are drawn on every frame of a live stream.
#[derive(Clone, Copy)]
struct Paint {
    channels: [(usize, u32); 3],
    count: usize,
    /// Weight of the old value.
    keep: u32,
}

impl Paint {
    fn new(colour: [u8; 3], alpha: f32, surface: Surface) -> Self {
        let weight = (alpha.clamp(0.0, 1.0) * 256.0).round() as u32;
        let premultiplied = |value: f32| (value.round().clamp(0.0, 255.0) as u32) * weight;
        let [r, g, b] = colour.map(f32::from);
        let mut channels = [(0, 0); 3];
        let mut count = 0;
        let mut push = |offset: usize, value: f32| {
            channels[count] = (offset, premultiplied(value));
            count += 1;
        };
        match surface {
            Surface::Packed(PixelLayout::GRAY8) => push(0, 0.299 * r + 0.587 * g + 0.114 * b),
            Surface::Packed(layout) => {
                for (offset, value) in layout.rgb.into_iter().zip([r, g, b]) {
                    push(offset, value);
                }
            }
            Surface::Luma(matrix) => push(0, matrix.yuv_of(colour)[0]),
            Surface::Chroma { matrix, cb, cr, .. } => {
                let [_, u, v] = matrix.yuv_of(colour);
                for (offset, value) in [(cb, u), (cr, v)] {
                    if let Some(offset) = offset {
                        push(offset, value);
                    }
                }
            }
        }
        Paint {
            channels,
            count,
            keep: 256 - weight,
        }
    }
}

impl Canvas<'_> {
    /// Mixes `paint` into `pixel`.
    fn mix(pixel: &mut [u8], paint: &Paint) {
        for &(offset, new) in &paint.channels[..paint.count] {
            pixel[offset] = ((u32::from(pixel[offset]) * paint.keep + new + 128) >> 8) as u8;
        }
    }

    /// Mixes `paint` into pixels `columns` of row `y`.
    fn mix_span(&mut self, y: usize, columns: std::ops::Range<usize>, paint: &Paint) {
        let bytes = self.surface.bytes_per_pixel();
        let row = &mut self.data[y * self.stride..][..self.width * bytes];
        for pixel in row[columns.start * bytes..columns.end * bytes].chunks_exact_mut(bytes) {
            Self::mix(pixel, paint);
        }
    }

    /// Blends the map over the picture. The map is sampled bilinearly at each pixel, so it may have any
    /// resolution. With `only_above_threshold`, pixels below the threshold are left untouched.
    pub fn blend_map(
        &mut self,
        map: &AnomalyMap,
        threshold: f32,
        lut: &[[u8; 3]],
        alpha: f32,
        only_above_threshold: bool,
    ) {
        let paints: Vec<Paint> = lut
            .iter()
            .map(|&colour| Paint::new(colour, alpha, self.surface))
            .collect();
        let (width, height, stride) = (self.width, self.height, self.stride);
        let bytes = self.surface.bytes_per_pixel();
        // The threshold at the middle of the colormap, twice the threshold at its top.
        let lut_steps_per_unit = (lut.len() - 1) as f32 / (2.0 * threshold);
        let blend_band = |band: &mut [u8], rows: std::ops::Range<usize>| {
            let first = rows.start;
            map.for_each_resized_row(width, height, rows, |y, values| {
                let row = &mut band[(y - first) * stride..][..width * bytes];
                for (pixel, &value) in row.chunks_exact_mut(bytes).zip(values) {
                    if only_above_threshold && value < threshold {
                        continue;
                    }
                    // Adding ½ and truncating rounds these non-negative values without a call to `round`.
                    let index =
                        (value * lut_steps_per_unit + 0.5).clamp(0.0, (lut.len() - 1) as f32);
                    Self::mix(pixel, &paints[index as usize]);
                }
            });
        };
        // A 1080p frame takes 30 ms on one core: large frames are blended in bands on several.
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let bands = (width * height / BLEND_PIXELS_PER_THREAD).clamp(1, cores.min(BLEND_THREADS));
        let band_rows = height.div_ceil(bands);
        std::thread::scope(|scope| {
            for (index, band) in self.data.chunks_mut(band_rows * stride).enumerate() {
                let rows = index * band_rows..((index + 1) * band_rows).min(height);
                if rows.end == height {
                    blend_band(band, rows);
                } else {
                    scope.spawn(move || blend_band(band, rows));
                }
            }
        });
    }

    /// Outlines the rectangle (clipped to the picture) with lines `thickness` pixels wide, drawn inwards.
    pub fn draw_rectangle(
        &mut self,
        x: usize,
        y: usize,
        width: usize,
        height: usize,
        colour: [u8; 3],
        thickness: usize,
    ) {
        let paint = Paint::new(colour, 1.0, self.surface);
        let (x1, y1) = ((x + width).min(self.width), (y + height).min(self.height));
        let (x, y) = (x.min(x1), y.min(y1));
        let left = x..(x + thickness).min(x1);
        let right = (x + width).saturating_sub(thickness).max(left.end).min(x1)..x1;
        for py in y..y1 {
            if py < y + thickness || py + thickness >= y + height {
                self.mix_span(py, x..x1, &paint);
            } else {
                self.mix_span(py, left.clone(), &paint);
                self.mix_span(py, right.clone(), &paint);
            }
        }
    }
}

#[cfg(test)]
mod tests;
