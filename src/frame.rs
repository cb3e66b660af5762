// SPDX-License-Identifier: MIT OR Apache-2.0
//! Raw pixels in, normalised model input out. One code path for video frames and image files.

use std::path::Path;

use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

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
}

/// A borrowed 8-bit packed image with an arbitrary row stride.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub data: &'a [u8],
    pub width: usize,
    pub height: usize,
    /// Bytes from the start of one row to the next.
    pub stride: usize,
    pub layout: PixelLayout,
}

impl<'a> Frame<'a> {
    /// A frame whose rows follow each other without padding.
    pub fn packed(data: &'a [u8], width: usize, height: usize, layout: PixelLayout) -> Self {
        Frame {
            data,
            width,
            height,
            stride: width * layout.bytes_per_pixel,
            layout,
        }
    }

    fn row_bytes(&self) -> usize {
        self.width * self.layout.bytes_per_pixel
    }

    fn validate(&self) -> Result<()> {
        let row = self.row_bytes();
        if self.width == 0 || self.height == 0 {
            return Err(Error::Input(format!(
                "empty frame ({}x{})",
                self.width, self.height
            )));
        }
        if self.stride < row {
            return Err(Error::Input(format!(
                "row stride {} is shorter than a row of {row} bytes",
                self.stride
            )));
        }
        let needed = self.stride * (self.height - 1) + row;
        if self.data.len() < needed {
            return Err(Error::Input(format!(
                "{}x{} frame needs {needed} bytes, got {}",
                self.width,
                self.height,
                self.data.len()
            )));
        }
        Ok(())
    }

    /// The frame as a [1, 3, H, W] uint8 RGB tensor on `device`.
    pub fn to_tensor(&self, device: Device) -> Result<Tensor> {
        self.validate()?;
        let row = self.row_bytes();
        let mut packed = Vec::with_capacity(row * self.height);
        for y in 0..self.height {
            packed.extend_from_slice(&self.data[y * self.stride..y * self.stride + row]);
        }
        let channels = Tensor::from_slice(&self.layout.rgb.map(|c| c as i64));
        let pixels = Tensor::from_slice(&packed)
            .view([
                self.height as i64,
                self.width as i64,
                self.layout.bytes_per_pixel as i64,
            ])
            .index_select(2, &channels)
            .permute([2, 0, 1])
            .unsqueeze(0);
        Ok(pixels.to_device(device))
    }
}

/// Resizes uint8 RGB [B, 3, H, W] to size×size with antialiasing and normalises each channel.
pub fn normalise(pixels: &Tensor, size: i64, mean: [f64; 3], std: [f64; 3]) -> Tensor {
    let options = (Kind::Float, pixels.device());
    let rgb = pixels.to_kind(Kind::Float) / 255.0;
    let resized = if rgb.size()[2..] == [size, size] {
        rgb
    } else {
        rgb.internal_upsample_bilinear2d_aa([size, size], false, None, None)
    };
    let mean = Tensor::from_slice(&mean)
        .to_kind(Kind::Float)
        .view([1, 3, 1, 1]);
    let std = Tensor::from_slice(&std)
        .to_kind(Kind::Float)
        .view([1, 3, 1, 1]);
    (resized - mean.to_device(options.1)) / std.to_device(options.1)
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
                data: &data,
                width: 2,
                height: 2,
                stride: 2 * pixel.len() + 3,
                layout,
            };
            let t = frame.to_tensor(Device::Cpu).unwrap();
            assert_eq!(t.size(), vec![1, 3, 2, 2]);
            let values = Vec::<u8>::try_from(t.flatten(0, -1)).unwrap();
            assert_eq!(values, [[r; 4], [g; 4], [b; 4]].concat(), "{layout:?}");
        }
    }

    #[test]
    fn grey_is_replicated_and_short_buffers_are_rejected() {
        let data = [7u8, 8, 9, 10];
        let t = Frame::packed(&data, 2, 2, PixelLayout::GRAY8)
            .to_tensor(Device::Cpu)
            .unwrap();
        assert_eq!(
            Vec::<u8>::try_from(t.flatten(0, -1)).unwrap(),
            [data; 3].concat()
        );
        let err = Frame::packed(&data[..3], 2, 2, PixelLayout::GRAY8)
            .to_tensor(Device::Cpu)
            .unwrap_err();
        assert!(err.to_string().contains("needs 4 bytes"), "{err}");
    }
}
