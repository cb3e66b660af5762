// SPDX-License-Identifier: MIT OR Apache-2.0
//! Y'CbCr to R'G'B' on the device, so that a decoder's NV12 or I420 output needs no CPU conversion.

use tch::{Kind, Tensor};

/// How Y'CbCr code values map to R'G'B': the luma coefficients of the colour matrix and the range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct YuvMatrix {
    pub kr: f64,
    pub kb: f64,
    /// Full range (0–255) rather than studio range (Y' 16–235, Cb and Cr 16–240).
    pub full_range: bool,
}

impl YuvMatrix {
    pub const BT601: Self = Self::studio(0.299, 0.114);
    pub const BT709: Self = Self::studio(0.2126, 0.0722);
    pub const BT2020: Self = Self::studio(0.2627, 0.0593);

    const fn studio(kr: f64, kb: f64) -> Self {
        YuvMatrix {
            kr,
            kb,
            full_range: false,
        }
    }

    pub const fn with_full_range(self, full_range: bool) -> Self {
        YuvMatrix { full_range, ..self }
    }

    /// The Y', Cb and Cr code values of an R'G'B' colour (the overlay paints YUV pictures with them).
    pub fn yuv_of(self, rgb: [u8; 3]) -> [f32; 3] {
        let [r, g, b] = rgb.map(|c| f64::from(c) / 255.0);
        let y = self.kr * r + (1.0 - self.kr - self.kb) * g + self.kb * b;
        let cb = (b - y) / (2.0 * (1.0 - self.kb));
        let cr = (r - y) / (2.0 * (1.0 - self.kr));
        let (luma, chroma) = if self.full_range {
            (255.0 * y, 255.0)
        } else {
            (16.0 + 219.0 * y, 224.0)
        };
        [luma, 128.0 + chroma * cb, 128.0 + chroma * cr].map(|v| v.clamp(0.0, 255.0) as f32)
    }

    /// R'G'B' [B, 3, H, W] in 0–255 (float) from luma [B, 1, H, W] and chroma [B, 2, H, W] (Cb, Cr)
    /// code values (float). Only scalar arithmetic: no constant is uploaded per frame.
    pub(crate) fn to_rgb(self, luma: &Tensor, chroma: &Tensor) -> Tensor {
        let (luma_scale, chroma_scale, luma_black) = if self.full_range {
            (1.0, 1.0, 0.0)
        } else {
            (255.0 / 219.0, 255.0 / 224.0, 16.0)
        };
        let y = (luma - luma_black) * luma_scale;
        let c = (chroma - 128.0) * chroma_scale;
        let (cb, cr) = (c.narrow(1, 0, 1), c.narrow(1, 1, 1));
        let kg = 1.0 - self.kr - self.kb;
        let r = &y + &cr * (2.0 * (1.0 - self.kr));
        let g = &y
            - &cb * (2.0 * self.kb * (1.0 - self.kb) / kg)
            - &cr * (2.0 * self.kr * (1.0 - self.kr) / kg);
        let b = &y + &cb * (2.0 * (1.0 - self.kb));
        Tensor::cat(&[r, g, b], 1).clamp(0.0, 255.0)
    }
}

/// Chroma planes [B, 2, ⌈H/2⌉, ⌈W/2⌉] (uint8) brought to [B, 2, H, W] float, each sample covering its 2×2
/// block of luma.
pub(crate) fn upsample_chroma(chroma: &Tensor, height: i64, width: i64) -> Tensor {
    chroma
        .to_kind(Kind::Float)
        .repeat_interleave_self_int(2, 2, None)
        .repeat_interleave_self_int(2, 3, None)
        .narrow(2, 0, height)
        .narrow(3, 0, width)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(matrix: YuvMatrix, y: f64, cb: f64, cr: f64) -> Vec<f32> {
        let luma = Tensor::from_slice(&[y as f32]).view([1, 1, 1, 1]);
        let chroma = Tensor::from_slice(&[cb as f32, cr as f32]).view([1, 2, 1, 1]);
        Vec::<f32>::try_from(matrix.to_rgb(&luma, &chroma).flatten(0, -1)).unwrap()
    }

    #[test]
    fn studio_range_black_white_and_primaries() {
        let close = |a: &[f32], b: [f32; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 0.6);
        for matrix in [YuvMatrix::BT601, YuvMatrix::BT709, YuvMatrix::BT2020] {
            assert!(close(&convert(matrix, 16.0, 128.0, 128.0), [0.0; 3]));
            assert!(close(&convert(matrix, 235.0, 128.0, 128.0), [255.0; 3]));
        }
        // BT.601 studio-range red: Y' 81, Cb 90, Cr 240.
        let red = convert(YuvMatrix::BT601, 81.0, 90.0, 240.0);
        assert!(close(&red, [255.0, 0.0, 0.0]), "{red:?}");
        // Full range: Y' is the grey level itself.
        let grey = convert(YuvMatrix::BT709.with_full_range(true), 100.0, 128.0, 128.0);
        assert!(close(&grey, [100.0; 3]), "{grey:?}");
    }

    #[test]
    fn yuv_of_inverts_to_rgb() {
        for matrix in [YuvMatrix::BT601, YuvMatrix::BT709.with_full_range(true)] {
            for colour in [[0u8, 200, 0], [230, 0, 0], [255, 255, 255], [12, 34, 56]] {
                let [y, cb, cr] = matrix.yuv_of(colour).map(f64::from);
                let back = convert(matrix, y, cb, cr);
                for (b, c) in back.iter().zip(colour) {
                    assert!(
                        (b - f32::from(c)).abs() < 0.01,
                        "{matrix:?} {colour:?} → {back:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn chroma_covers_two_by_two_blocks_and_odd_sizes() {
        let chroma = Tensor::from_slice(&[1u8, 2, 3, 4, 5, 6, 7, 8]).view([1, 2, 2, 2]);
        let up = upsample_chroma(&chroma, 3, 3);
        assert_eq!(up.size(), [1, 2, 3, 3]);
        let cb = Vec::<f32>::try_from(up.get(0).get(0).flatten(0, -1)).unwrap();
        assert_eq!(cb, [1.0, 1.0, 2.0, 1.0, 1.0, 2.0, 3.0, 3.0, 4.0]);
    }
}
