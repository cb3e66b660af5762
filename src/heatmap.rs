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
        let bytes = self.surface.bytes_per_pixel();
        // The threshold at the middle of the colormap, twice the threshold at its top.
        let lut_steps_per_unit = (lut.len() - 1) as f32 / (2.0 * threshold);
        map.for_each_resized_row(self.width, self.height, |y, values| {
            let row = &mut self.data[y * self.stride..][..self.width * bytes];
            for (pixel, &value) in row.chunks_exact_mut(bytes).zip(values) {
                if only_above_threshold && value < threshold {
                    continue;
                }
                // Adding ½ and truncating rounds these non-negative values without a call to `round`.
                let index = (value * lut_steps_per_unit + 0.5).clamp(0.0, (lut.len() - 1) as f32);
                Self::mix(pixel, &paints[index as usize]);
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
mod tests {
    use super::*;

    #[test]
    fn luts_hit_their_end_points_and_names_round_trip() {
        for colormap in Colormap::ALL {
            let lut = colormap.lut();
            let points = control_points(colormap);
            assert_eq!(lut.len(), 256);
            assert_eq!(lut[0], points[0].1.map(|c| c as u8));
            assert_eq!(lut[255], points[points.len() - 1].1.map(|c| c as u8));
            assert_eq!(colormap.name().parse::<Colormap>().unwrap(), colormap);
        }
        assert!("rainbow".parse::<Colormap>().is_err());
    }

    #[test]
    fn blending_respects_alpha_and_the_threshold_gate() {
        let map = AnomalyMap::new(2, 1, vec![0.5, 4.0]);
        let lut = Colormap::Gray.lut();
        let mut data = vec![100u8; 6];
        let mut canvas = Canvas {
            data: &mut data,
            width: 2,
            height: 1,
            stride: 6,
            surface: Surface::Packed(PixelLayout::RGB),
        };
        canvas.blend_map(&map, 1.0, &lut, 0.5, true);
        assert_eq!(&data[..3], &[100, 100, 100], "below threshold: untouched");
        assert_eq!(
            &data[3..],
            &[178, 178, 178],
            "saturated white at half opacity"
        );
        let mut data = vec![0u8; 6];
        Canvas {
            data: &mut data,
            width: 2,
            height: 1,
            stride: 6,
            surface: Surface::Packed(PixelLayout::RGB),
        }
        .blend_map(&map, 1.0, &lut, 1.0, false);
        assert_eq!(data[0], 64, "a quarter of the way up the gray ramp");
    }

    #[test]
    fn drawing_follows_the_layout_and_stays_inside() {
        // 4x3 BGRx with 4 bytes of row padding; a red 1-pixel outline of the whole picture.
        let mut data = vec![0u8; 3 * 20];
        let mut canvas = Canvas {
            data: &mut data,
            width: 4,
            height: 3,
            stride: 20,
            surface: Surface::Packed(PixelLayout::BGRA),
        };
        canvas.draw_rectangle(0, 0, 10, 10, [255, 0, 0], 1);
        let red = [0u8, 0, 255, 0];
        assert_eq!(&data[0..4], &red, "corner, stored as B, G, R, x");
        assert_eq!(&data[20 + 4..20 + 8], &[0; 4], "interior untouched");
        assert_eq!(&data[16..20], &[0; 4], "row padding untouched");
        let mut grey = vec![0u8; 4];
        Canvas {
            data: &mut grey,
            width: 2,
            height: 2,
            stride: 2,
            surface: Surface::Packed(PixelLayout::GRAY8),
        }
        .draw_rectangle(0, 0, 1, 1, [255, 0, 0], 1);
        assert_eq!(grey, [76, 0, 0, 0], "grey gets the colour's luminance");
    }

    #[test]
    fn yuv_planes_get_the_colour_in_their_own_terms() {
        let matrix = YuvMatrix::BT601;
        let mut luma = vec![16u8; 4];
        Canvas {
            data: &mut luma,
            width: 2,
            height: 2,
            stride: 2,
            surface: Surface::Luma(matrix),
        }
        .draw_rectangle(0, 0, 1, 1, [255, 255, 255], 1);
        assert_eq!(luma, [235, 16, 16, 16], "studio-range white");
        // One NV12 chroma sample (Cb, Cr), half-transparent red over neutral grey.
        let mut chroma = vec![128u8, 128];
        let surface = Surface::Chroma {
            matrix,
            cb: Some(0),
            cr: Some(1),
            bytes: 2,
        };
        let map = AnomalyMap::new(1, 1, vec![2.0]);
        let red = [[230u8, 0, 0]; 2];
        Canvas {
            data: &mut chroma,
            width: 1,
            height: 1,
            stride: 2,
            surface,
        }
        .blend_map(&map, 1.0, &red, 0.5, false);
        let [_, cb, cr] = matrix.yuv_of(red[0]);
        let half = |target: f32| ((128.0 + target) / 2.0).round() as u8;
        assert_eq!(chroma, [half(cb), half(cr)]);
    }

    #[test]
    fn rectangles_paint_exactly_their_band() {
        let (width, height) = (12, 9);
        // (x, y, width, height, thickness): inside, thicker than half, and clipped at the picture's edge.
        for (x, y, w, h, t) in [(1, 2, 8, 6, 2), (2, 1, 5, 4, 3), (7, 5, 10, 10, 1)] {
            let mut data = vec![0u8; width * height];
            Canvas {
                data: &mut data,
                width,
                height,
                stride: width,
                surface: Surface::Packed(PixelLayout::GRAY8),
            }
            .draw_rectangle(x, y, w, h, [255, 255, 255], t);
            for py in 0..height {
                for px in 0..width {
                    let covered = (x..x + w).contains(&px) && (y..y + h).contains(&py);
                    let inside = px >= x + t && px + t < x + w && py >= y + t && py + t < y + h;
                    let expected = if covered && !inside { 255 } else { 0 };
                    assert_eq!(
                        data[py * width + px],
                        expected,
                        "({px}, {py}) of {x},{y} {w}x{h}/{t}"
                    );
                }
            }
        }
    }
}
