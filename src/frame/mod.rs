// SPDX-License-Identifier: MIT OR Apache-2.0
//! Raw pixels in, normalised model input out. One code path for video frames and image files: a frame's
//! planes are gathered once into a host buffer (pinned when bound for CUDA), uploaded as bytes, and
//! converted, resized and normalised on the device.

mod normalise;
mod yuv;

use std::path::Path;

use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

pub use normalise::{Normaliser, normalise};
pub use yuv::YuvMatrix;

/// Where R, G and B sit inside one pixel of a packed 8-bit format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PixelLayout {
    pub bytes_per_pixel: usize,
    /// Byte offsets of R, G and B within a pixel (all equal for grey).
    pub rgb: [usize; 3],
}

impl PixelLayout {
    pub const RGB: Self = Self::new(3, [0, 1, 2]);
    pub const BGR: Self = Self::new(3, [2, 1, 0]);
    /// RGBA and RGBx.
    pub const RGBA: Self = Self::new(4, [0, 1, 2]);
    /// BGRA and BGRx.
    pub const BGRA: Self = Self::new(4, [2, 1, 0]);
    /// ARGB and xRGB.
    pub const ARGB: Self = Self::new(4, [1, 2, 3]);
    /// ABGR and xBGR.
    pub const ABGR: Self = Self::new(4, [3, 2, 1]);
    pub const GRAY8: Self = Self::new(1, [0, 0, 0]);

    const fn new(bytes_per_pixel: usize, rgb: [usize; 3]) -> Self {
        PixelLayout {
            bytes_per_pixel,
            rgb,
        }
    }

    /// R, G and B [B, 3, H, W] of pixels [B, H, W, bytes per pixel] by slicing alone: every layout keeps
    /// its colour bytes adjacent, so no index tensor has to be uploaded.
    fn select_rgb(self, pixels: &Tensor) -> Tensor {
        let [r, g, b] = self.rgb.map(|c| c as i64);
        let rgb = if r == b {
            let grey = pixels.narrow(3, r, 1);
            let size = grey.size();
            grey.expand([size[0], size[1], size[2], 3], false)
        } else if r < b {
            pixels.narrow(3, r, 3)
        } else {
            pixels.narrow(3, b, 3).flip([3])
        };
        debug_assert!(r == b || r.abs_diff(b) == 2 && g == (r + b) / 2);
        rgb.permute([0, 3, 1, 2])
    }
}

/// How a frame's pixels are laid out in its planes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PixelFormat {
    /// One plane of packed 8-bit pixels.
    Packed(PixelLayout),
    /// Y' at full resolution, then Cb and Cr interleaved at half width and height: decoders' usual output.
    Nv12(YuvMatrix),
    /// Y' at full resolution, then Cb, then Cr, each at half width and height.
    I420(YuvMatrix),
}

impl PixelFormat {
    /// (bytes per row, rows) of each plane of a `width`×`height` frame.
    pub fn plane_shapes(self, width: usize, height: usize) -> Vec<(usize, usize)> {
        let (chroma_width, chroma_height) = (width.div_ceil(2), height.div_ceil(2));
        match self {
            PixelFormat::Packed(layout) => vec![(width * layout.bytes_per_pixel, height)],
            PixelFormat::Nv12(_) => vec![(width, height), (2 * chroma_width, chroma_height)],
            PixelFormat::I420(_) => vec![
                (width, height),
                (chroma_width, chroma_height),
                (chroma_width, chroma_height),
            ],
        }
    }
}

/// One plane of a frame: its bytes and the distance from one row to the next.
#[derive(Clone, Copy, Debug)]
pub struct Plane<'a> {
    pub data: &'a [u8],
    pub stride: usize,
}

/// A borrowed 8-bit frame whose planes may have padded rows.
#[derive(Clone, Debug)]
pub struct Frame<'a> {
    pub width: usize,
    pub height: usize,
    pub format: PixelFormat,
    /// One per plane of `format`, in its order.
    pub planes: Vec<Plane<'a>>,
}

impl<'a> Frame<'a> {
    /// A packed frame whose rows follow each other without padding.
    pub fn packed(data: &'a [u8], width: usize, height: usize, layout: PixelLayout) -> Self {
        Frame {
            width,
            height,
            format: PixelFormat::Packed(layout),
            planes: vec![Plane {
                data,
                stride: width * layout.bytes_per_pixel,
            }],
        }
    }

    fn validate(&self) -> Result<()> {
        if self.width == 0 || self.height == 0 {
            return Err(Error::Input(format!(
                "empty frame ({}x{})",
                self.width, self.height
            )));
        }
        let shapes = self.format.plane_shapes(self.width, self.height);
        if shapes.len() != self.planes.len() {
            return Err(Error::Input(format!(
                "{:?} has {} planes, got {}",
                self.format,
                shapes.len(),
                self.planes.len()
            )));
        }
        for (index, (plane, (row, rows))) in self.planes.iter().zip(shapes).enumerate() {
            if plane.stride < row {
                return Err(Error::Input(format!(
                    "plane {index}: row stride {} is shorter than a row of {row} bytes",
                    plane.stride
                )));
            }
            let needed = plane.stride * (rows - 1) + row;
            if plane.data.len() < needed {
                return Err(Error::Input(format!(
                    "{}x{} frame needs {needed} bytes in plane {index}, got {}",
                    self.width,
                    self.height,
                    plane.data.len()
                )));
            }
        }
        Ok(())
    }

    /// Gathers the visible bytes of every plane into one host buffer bound for `device`: pinned for CUDA,
    /// so that its upload is a single asynchronous copy. The buffer of `reuse`, an earlier frame, is
    /// filled again when it fits, so that a stream allocates (and pins) once.
    pub fn stage(&self, device: Device, reuse: Option<StagedFrame>) -> Result<StagedFrame> {
        self.validate()?;
        let shapes = self.format.plane_shapes(self.width, self.height);
        let total: usize = shapes.iter().map(|(row, rows)| row * rows).sum();
        let pinned = device.is_cuda();
        let bytes = match reuse {
            Some(frame) if frame.bytes.numel() == total && frame.pinned == pinned => frame.bytes,
            _ => {
                let buffer = Tensor::empty([total as i64], (Kind::Uint8, Device::Cpu));
                if pinned {
                    buffer.pin_memory(device)
                } else {
                    buffer
                }
            }
        };
        // SAFETY: `bytes` is a contiguous uint8 CPU tensor of `total` elements that nothing else uses.
        let target = unsafe { std::slice::from_raw_parts_mut(bytes.data_ptr() as *mut u8, total) };
        let mut at = 0;
        for (plane, (row, rows)) in self.planes.iter().zip(shapes) {
            for y in 0..rows {
                target[at..at + row].copy_from_slice(&plane.data[y * plane.stride..][..row]);
                at += row;
            }
        }
        Ok(StagedFrame {
            bytes,
            pinned,
            width: self.width,
            height: self.height,
            format: self.format,
        })
    }

    /// The frame as R'G'B' [1, 3, H, W] on `device`, float in 0–255.
    pub fn to_tensor(&self, device: Device) -> Result<Tensor> {
        Ok(self.stage(device, None)?.rgb(device))
    }
}

/// A frame's planes gathered into one host buffer, one after the other without row padding.
#[derive(Debug)]
pub struct StagedFrame {
    bytes: Tensor,
    /// Page-locked, for uploads to CUDA.
    pinned: bool,
    pub width: usize,
    pub height: usize,
    pub format: PixelFormat,
}

impl StagedFrame {
    /// Uploads the frame and converts it to R'G'B' [1, 3, H, W], float in 0–255, on `device`.
    pub fn rgb(&self, device: Device) -> Tensor {
        let bytes = self.bytes.to_device_(device, Kind::Uint8, true, false);
        let (width, height) = (self.width as i64, self.height as i64);
        let luma = || {
            bytes
                .narrow(0, 0, width * height)
                .view([1, 1, height, width])
        };
        let (chroma_width, chroma_height) = ((width + 1) / 2, (height + 1) / 2);
        let chroma_plane = chroma_width * chroma_height;
        match self.format {
            PixelFormat::Packed(layout) => {
                let pixels = bytes.view([1, height, width, layout.bytes_per_pixel as i64]);
                layout.select_rgb(&pixels).to_kind(Kind::Float)
            }
            PixelFormat::Nv12(matrix) => {
                let chroma = bytes
                    .narrow(0, width * height, 2 * chroma_plane)
                    .view([1, chroma_height, chroma_width, 2])
                    .permute([0, 3, 1, 2]);
                let chroma = yuv::upsample_chroma(&chroma, height, width);
                matrix.to_rgb(&luma().to_kind(Kind::Float), &chroma)
            }
            PixelFormat::I420(matrix) => {
                let chroma = bytes.narrow(0, width * height, 2 * chroma_plane).view([
                    1,
                    2,
                    chroma_height,
                    chroma_width,
                ]);
                let chroma = yuv::upsample_chroma(&chroma, height, width);
                matrix.to_rgb(&luma().to_kind(Kind::Float), &chroma)
            }
        }
    }
}

/// An image file decoded to 8-bit RGB (grey, 16-bit and alpha images are converted).
pub fn load_rgb(path: &Path) -> Result<image::RgbImage> {
    let reader = image::ImageReader::open(path).map_err(|e| Error::Image {
        path: path.to_owned(),
        problem: format!("cannot open: {e}"),
    })?;
    let reader = reader.with_guessed_format().map_err(|e| Error::Image {
        path: path.to_owned(),
        problem: format!("cannot read: {e}"),
    })?;
    let decoded = reader.decode().map_err(|e| Error::Image {
        path: path.to_owned(),
        problem: format!("not a readable PNG, JPEG or BMP image: {e}"),
    })?;
    Ok(decoded.to_rgb8())
}

/// A decoded RGB image viewed as a frame.
pub fn rgb_frame(image: &image::RgbImage) -> Frame<'_> {
    Frame::packed(
        image.as_raw(),
        image.width() as usize,
        image.height() as usize,
        PixelLayout::RGB,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of(t: &Tensor) -> Vec<u8> {
        Vec::<f32>::try_from(t.flatten(0, -1))
            .unwrap()
            .into_iter()
            .map(|v| v.round() as u8)
            .collect()
    }

    #[test]
    fn every_layout_yields_the_same_rgb() {
        let (r, g, b) = (10u8, 20u8, 30u8);
        let cases: [(PixelLayout, Vec<u8>); 6] = [
            (PixelLayout::RGB, vec![r, g, b]),
            (PixelLayout::BGR, vec![b, g, r]),
            (PixelLayout::RGBA, vec![r, g, b, 255]),
            (PixelLayout::BGRA, vec![b, g, r, 255]),
            (PixelLayout::ARGB, vec![255, r, g, b]),
            (PixelLayout::ABGR, vec![255, b, g, r]),
        ];
        for (layout, pixel) in cases {
            // Two rows of two pixels, each row padded with 3 junk bytes.
            let mut data = Vec::new();
            for _ in 0..2 {
                data.extend(pixel.iter().chain(&pixel));
                data.extend([99, 99, 99]);
            }
            let frame = Frame {
                width: 2,
                height: 2,
                format: PixelFormat::Packed(layout),
                planes: vec![Plane {
                    data: &data,
                    stride: 2 * pixel.len() + 3,
                }],
            };
            let t = frame.to_tensor(Device::Cpu).unwrap();
            assert_eq!(t.size(), vec![1, 3, 2, 2]);
            assert_eq!(
                bytes_of(&t),
                [[r; 4], [g; 4], [b; 4]].concat(),
                "{layout:?}"
            );
        }
    }

    #[test]
    fn grey_is_replicated_and_short_buffers_are_rejected() {
        let data = [7u8, 8, 9, 10];
        let t = Frame::packed(&data, 2, 2, PixelLayout::GRAY8)
            .to_tensor(Device::Cpu)
            .unwrap();
        assert_eq!(bytes_of(&t), [data; 3].concat());
        let err = Frame::packed(&data[..3], 2, 2, PixelLayout::GRAY8)
            .to_tensor(Device::Cpu)
            .unwrap_err();
        assert!(err.to_string().contains("needs 4 bytes"), "{err}");
    }

    /// A 3×3 frame (odd, so the chroma planes are 2×2) in NV12 and I420 with padded rows, and what each
    /// pixel's R'G'B' must be.
    #[test]
    fn nv12_and_i420_agree_with_a_per_pixel_conversion() {
        let luma: [u8; 9] = [16, 60, 100, 140, 180, 235, 30, 90, 200];
        let (cb, cr) = ([90u8, 128, 200, 240], [240u8, 128, 60, 110]);
        let matrix = YuvMatrix::BT709;
        let padded = |rows: &[&[u8]], stride: usize| -> Vec<u8> {
            rows.iter()
                .flat_map(|row| {
                    row.iter()
                        .copied()
                        .chain(std::iter::repeat_n(0xEE, stride - row.len()))
                })
                .collect()
        };
        let y_plane = padded(&[&luma[0..3], &luma[3..6], &luma[6..9]], 5);
        let interleaved: Vec<u8> = cb.iter().zip(&cr).flat_map(|(&u, &v)| [u, v]).collect();
        let uv_plane = padded(&[&interleaved[0..4], &interleaved[4..8]], 6);
        let u_plane = padded(&[&cb[0..2], &cb[2..4]], 3);
        let v_plane = padded(&[&cr[0..2], &cr[2..4]], 3);
        let plane = |data, stride| Plane { data, stride };
        let nv12 = Frame {
            width: 3,
            height: 3,
            format: PixelFormat::Nv12(matrix),
            planes: vec![plane(&y_plane, 5), plane(&uv_plane, 6)],
        };
        let i420 = Frame {
            format: PixelFormat::I420(matrix),
            planes: vec![plane(&y_plane, 5), plane(&u_plane, 3), plane(&v_plane, 3)],
            ..nv12.clone()
        };
        let expected: Vec<f32> = (0..9)
            .map(|i| {
                let block = (i / 3 / 2) * 2 + (i % 3) / 2;
                let one = |v: u8| Tensor::from_slice(&[f32::from(v)]).view([1, 1, 1, 1]);
                let chroma = Tensor::cat(&[one(cb[block]), one(cr[block])], 1);
                matrix.to_rgb(&one(luma[i]), &chroma)
            })
            .map(|rgb| Vec::<f32>::try_from(rgb.flatten(0, -1)).unwrap())
            .fold(vec![Vec::new(); 3], |mut channels, rgb| {
                for (c, v) in rgb.into_iter().enumerate() {
                    channels[c].push(v);
                }
                channels
            })
            .concat();
        for frame in [nv12, i420] {
            let t = frame.to_tensor(Device::Cpu).unwrap();
            assert_eq!(t.size(), [1, 3, 3, 3]);
            let got = Vec::<f32>::try_from(t.flatten(0, -1)).unwrap();
            assert_eq!(got, expected, "{:?}", frame.format);
        }
    }

    #[test]
    fn a_staged_buffer_is_reused_when_it_fits() {
        let data = [1u8; 12];
        let frame = Frame::packed(&data, 2, 2, PixelLayout::RGB);
        let first = frame.stage(Device::Cpu, None).unwrap();
        let address = first.bytes.data_ptr();
        let again = frame.stage(Device::Cpu, Some(first)).unwrap();
        assert_eq!(again.bytes.data_ptr(), address);
        let smaller = Frame::packed(&data[..3], 1, 1, PixelLayout::RGB);
        assert_eq!(
            smaller
                .stage(Device::Cpu, Some(again))
                .unwrap()
                .bytes
                .numel(),
            3
        );
    }

    #[test]
    fn a_wrong_plane_count_is_an_error() {
        let data = [0u8; 16];
        let frame = Frame {
            width: 2,
            height: 2,
            format: PixelFormat::Nv12(YuvMatrix::BT601),
            planes: vec![Plane {
                data: &data,
                stride: 2,
            }],
        };
        let err = frame.to_tensor(Device::Cpu).unwrap_err().to_string();
        assert!(err.contains("has 2 planes, got 1"), "{err}");
    }
}
