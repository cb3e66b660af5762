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

/// Most bytes a pixel of any surface has.
const MAX_PIXEL_BYTES: usize = 4;

/// A colour at an opacity for one surface, as what it does to each byte of a pixel: byte `i` becomes
/// `(byte · keep[i] + add[i] + 128) >> 8`, the colour premultiplied in fixed point (1/256 steps). Bytes the
/// colour leaves alone (alpha, the other chroma) keep their value with `keep` 256 and `add` 0, so that every
/// byte is mixed alike, without a branch: overlays are drawn on every frame of a live stream.
#[derive(Clone, Copy)]
struct Paint {
    keep: [u32; MAX_PIXEL_BYTES],
    add: [u32; MAX_PIXEL_BYTES],
}

impl Paint {
    /// Leaves every byte as it is.
    const NONE: Paint = Paint {
        keep: [256; MAX_PIXEL_BYTES],
        add: [0; MAX_PIXEL_BYTES],
    };

    fn new(colour: [u8; 3], alpha: f32, surface: Surface) -> Self {
        let weight = (alpha.clamp(0.0, 1.0) * 256.0).round() as u32;
        let mut paint = Paint::NONE;
        let mut set = |offset: usize, value: f32| {
            paint.keep[offset] = 256 - weight;
            paint.add[offset] = (value.round().clamp(0.0, 255.0) as u32) * weight;
        };
        let [r, g, b] = colour.map(f32::from);
        match surface {
            Surface::Packed(PixelLayout::GRAY8) => set(0, 0.299 * r + 0.587 * g + 0.114 * b),
            Surface::Packed(layout) => {
                for (offset, value) in layout.rgb.into_iter().zip([r, g, b]) {
                    set(offset, value);
                }
            }
            Surface::Luma(matrix) => set(0, matrix.yuv_of(colour)[0]),
            Surface::Chroma { matrix, cb, cr, .. } => {
                let [_, u, v] = matrix.yuv_of(colour);
                for (offset, value) in [(cb, u), (cr, v)] {
                    if let Some(offset) = offset {
                        set(offset, value);
                    }
                }
            }
        }
        paint
    }

    fn mix<const BYTES: usize>(&self, pixel: &mut [u8; BYTES]) {
        for (i, byte) in pixel.iter_mut().enumerate() {
            *byte = ((u32::from(*byte) * self.keep[i] + self.add[i] + 128) >> 8) as u8;
        }
    }
}

/// Mixes each paint into the next pixel of `row`, pixels of `BYTES` bytes.
fn mix_pixels<'p, const BYTES: usize>(row: &mut [u8], paints: impl Iterator<Item = &'p Paint>) {
    for (pixel, paint) in row.as_chunks_mut::<BYTES>().0.iter_mut().zip(paints) {
        paint.mix(pixel);
    }
}

/// Mixes each paint into the next pixel of `row`, pixels of `bytes` bytes: the mixing unrolled for each
/// pixel size.
fn mix_row<'p>(row: &mut [u8], bytes: usize, paints: impl Iterator<Item = &'p Paint>) {
    match bytes {
        1 => mix_pixels::<1>(row, paints),
        2 => mix_pixels::<2>(row, paints),
        3 => mix_pixels::<3>(row, paints),
        _ => mix_pixels::<MAX_PIXEL_BYTES>(row, paints),
    }
}

impl Canvas<'_> {
    /// Mixes `paint` into pixels `columns` of row `y`.
    fn mix_span(&mut self, y: usize, columns: std::ops::Range<usize>, paint: &Paint) {
        let bytes = self.surface.bytes_per_pixel();
        let row = &mut self.data[y * self.stride..][columns.start * bytes..columns.end * bytes];
        mix_row(row, bytes, std::iter::repeat(paint));
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
        // The colormap's paints, then one that leaves a pixel as it is.
        let mut paints: Vec<Paint> = lut
            .iter()
            .map(|&colour| Paint::new(colour, alpha, self.surface))
            .collect();
        paints.push(Paint::NONE);
        let (untouched, top) = (lut.len() as u16, (lut.len() - 1) as f32);
        let (width, height, stride) = (self.width, self.height, self.stride);
        let bytes = self.surface.bytes_per_pixel();
        // The threshold at the middle of the colormap, twice the threshold at its top.
        let lut_steps_per_unit = top / (2.0 * threshold);
        let blend_band = |band: &mut [u8], rows: std::ops::Range<usize>| {
            let first = rows.start;
            let mut indices = vec![0; width];
            map.for_each_resized_row(width, height, rows, |y, values| {
                for (index, &value) in indices.iter_mut().zip(values) {
                    // Adding ½ and truncating rounds these non-negative values without a call to `round`.
                    *index = (value * lut_steps_per_unit + 0.5).clamp(0.0, top) as u16;
                }
                if only_above_threshold {
                    for (index, &value) in indices.iter_mut().zip(values) {
                        if value < threshold {
                            *index = untouched;
                        }
                    }
                }
                let row = &mut band[(y - first) * stride..][..width * bytes];
                mix_row(row, bytes, indices.iter().map(|&i| &paints[usize::from(i)]));
            });
        };
        // A 1080p frame takes about 7 ms on one core: large frames are blended in bands on several.
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
