// SPDX-License-Identifier: MIT OR Apache-2.0
//! Colormaps and blending of anomaly maps over pictures.
//!
//! Maps are shown on a fixed scale tied to the threshold, never stretched per frame: a good part stays cool
//! and a defect is hot whatever else is in view. The threshold sits at the middle of the colormap and
//! twice the threshold at its top.

use std::str::FromStr;

use crate::anomaly::AnomalyMap;
use crate::error::Error;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Colormap {
    #[default]
    Turbo,
    Jet,
    Inferno,
    Gray,
}

/// Control points (position, RGB) of each colormap, linearly interpolated.
fn control_points(colormap: Colormap) -> &'static [(f32, [f32; 3])] {
    match colormap {
        Colormap::Turbo => &[
            (0.0, [48.0, 18.0, 59.0]),
            (0.125, [65.0, 105.0, 225.0]),
            (0.25, [40.0, 173.0, 238.0]),
            (0.375, [27.0, 229.0, 181.0]),
            (0.5, [131.0, 255.0, 82.0]),
            (0.625, [210.0, 233.0, 53.0]),
            (0.75, [251.0, 170.0, 37.0]),
            (0.875, [226.0, 82.0, 14.0]),
            (1.0, [122.0, 4.0, 3.0]),
        ],
        Colormap::Jet => &[
            (0.0, [0.0, 0.0, 128.0]),
            (0.125, [0.0, 0.0, 255.0]),
            (0.375, [0.0, 255.0, 255.0]),
            (0.625, [255.0, 255.0, 0.0]),
            (0.875, [255.0, 0.0, 0.0]),
            (1.0, [128.0, 0.0, 0.0]),
        ],
        Colormap::Inferno => &[
            (0.0, [0.0, 0.0, 4.0]),
            (0.25, [87.0, 16.0, 110.0]),
            (0.5, [188.0, 55.0, 84.0]),
            (0.75, [249.0, 142.0, 9.0]),
            (1.0, [252.0, 255.0, 164.0]),
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

/// Position of a raw map value on the colormap: 0.5 at the threshold, 1.0 at twice the threshold.
pub fn colormap_position(value: f32, threshold: f32) -> f32 {
    (value / (2.0 * threshold)).clamp(0.0, 1.0)
}

/// Blends the map (already at the picture's size) over packed RGB pixels in place. `alpha` is the
/// heatmap's opacity; with `only_above_threshold`, pixels below the threshold are left untouched.
pub fn blend_rgb(
    rgb: &mut [u8],
    map: &AnomalyMap,
    threshold: f32,
    lut: &[[u8; 3]],
    alpha: f32,
    only_above_threshold: bool,
) {
    for (pixel, &value) in rgb.chunks_exact_mut(3).zip(&map.values) {
        if only_above_threshold && value < threshold {
            continue;
        }
        let index = (colormap_position(value, threshold) * 255.0).round() as usize;
        let colour = lut[index];
        for c in 0..3 {
            pixel[c] = (pixel[c] as f32 * (1.0 - alpha) + colour[c] as f32 * alpha).round() as u8;
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
        let map = AnomalyMap {
            width: 2,
            height: 1,
            values: vec![0.5, 4.0],
        };
        let lut = Colormap::Gray.lut();
        let mut rgb = vec![100u8; 6];
        blend_rgb(&mut rgb, &map, 1.0, &lut, 0.5, true);
        assert_eq!(&rgb[..3], &[100, 100, 100], "below threshold: untouched");
        assert_eq!(
            &rgb[3..],
            &[178, 178, 178],
            "saturated white at half opacity"
        );
        let mut rgb = vec![0u8; 6];
        blend_rgb(&mut rgb, &map, 1.0, &lut, 1.0, false);
        assert_eq!(rgb[0], 64, "a quarter of the way up the gray ramp");
    }
}
