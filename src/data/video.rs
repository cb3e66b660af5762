// SPDX-License-Identifier: MIT OR Apache-2.0
//! Training frames from footage of good parts: a stream of binary PNM pictures (what GStreamer's `pnmenc`
//! writes, one per frame, in the pixels the element would see), every Nth frame kept unless it nearly
//! repeats one already kept.

use std::io::BufRead;

use image::imageops::FilterType;

use crate::{Error, Result};

/// Reads binary PNM pictures (P6 colour, P5 grey; 8-bit) one after another from `reader`.
pub struct PnmFrames<R> {
    reader: R,
}

impl<R: BufRead> PnmFrames<R> {
    pub fn new(reader: R) -> Self {
        PnmFrames { reader }
    }

    /// The next header token, skipping whitespace and `#` comments; None at the end of the stream.
    fn token(&mut self) -> Result<Option<String>> {
        let mut token = Vec::new();
        let mut comment = false;
        loop {
            let mut byte = [0u8];
            if self
                .reader
                .read(&mut byte)
                .map_err(|e| Error::io("reading frames", e))?
                == 0
            {
                break;
            }
            match byte[0] {
                b'#' if token.is_empty() => comment = true,
                b'\n' if comment => comment = false,
                _ if comment => {}
                b if b.is_ascii_whitespace() => {
                    if !token.is_empty() {
                        break;
                    }
                }
                b => token.push(b),
            }
        }
        Ok((!token.is_empty()).then(|| String::from_utf8_lossy(&token).into_owned()))
    }

    fn number(&mut self, what: &str) -> Result<u32> {
        let token = self.token()?.unwrap_or_default();
        token
            .parse()
            .map_err(|_| Error::Data(format!("frames: bad PNM {what} {token:?}")))
    }

    fn next_frame(&mut self) -> Result<Option<image::RgbImage>> {
        let Some(magic) = self.token()? else {
            return Ok(None);
        };
        let channels = match magic.as_str() {
            "P6" => 3,
            "P5" => 1,
            other => {
                return Err(Error::Data(format!(
                    "frames: not a binary PNM picture (magic {other:?}); pipe `pnmenc` output"
                )));
            }
        };
        let (width, height) = (self.number("width")?, self.number("height")?);
        if self.number("maximum value")? != 255 {
            return Err(Error::Data(
                "frames: only 8-bit PNM pictures are read".into(),
            ));
        }
        let mut pixels = vec![0u8; width as usize * height as usize * channels];
        self.reader
            .read_exact(&mut pixels)
            .map_err(|e| Error::io(format!("frames: a {width}x{height} picture cut short"), e))?;
        let image = if channels == 3 {
            image::RgbImage::from_raw(width, height, pixels)
        } else {
            image::GrayImage::from_raw(width, height, pixels)
                .map(|grey| image::DynamicImage::ImageLuma8(grey).to_rgb8())
        };
        Ok(image)
    }
}

impl<R: BufRead> Iterator for PnmFrames<R> {
    type Item = Result<image::RgbImage>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}

/// Side of the grey thumbnails that near-duplicates are found with.
const THUMBNAIL: u32 = 32;

/// Why a frame was not kept.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pick {
    Kept,
    /// Not one of every Nth.
    Between,
    /// Its mean difference from a kept frame (0–1) is under the minimum change.
    NearDuplicate(f64),
}

/// Keeps every `every`th frame that differs from all those kept by at least `min_change` (mean absolute
/// difference of 32×32 grey thumbnails, 0–1).
pub struct FramePicker {
    every: u64,
    min_change: f64,
    kept: Vec<image::GrayImage>,
}

impl FramePicker {
    pub fn new(every: u64, min_change: f64) -> Self {
        FramePicker {
            every: every.max(1),
            min_change,
            kept: Vec::new(),
        }
    }

    /// Whether the `index`th frame of the video is kept.
    pub fn offer(&mut self, index: u64, frame: &image::RgbImage) -> Pick {
        if !index.is_multiple_of(self.every) {
            return Pick::Between;
        }
        let grey = image::DynamicImage::ImageRgb8(frame.clone()).to_luma8();
        let thumbnail = image::imageops::resize(&grey, THUMBNAIL, THUMBNAIL, FilterType::Triangle);
        let nearest = self
            .kept
            .iter()
            .map(|kept| mean_difference(kept, &thumbnail))
            .fold(f64::INFINITY, f64::min);
        if nearest < self.min_change {
            return Pick::NearDuplicate(nearest);
        }
        self.kept.push(thumbnail);
        Pick::Kept
    }
}

fn mean_difference(a: &image::GrayImage, b: &image::GrayImage) -> f64 {
    let total: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    total as f64 / (a.as_raw().len() as f64 * 255.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pnm(magic: &str, width: u32, height: u32, pixels: &[u8]) -> Vec<u8> {
        let mut bytes = format!("{magic}\n# made by a test\n{width} {height}\n255\n").into_bytes();
        bytes.extend_from_slice(pixels);
        bytes
    }

    #[test]
    fn reads_colour_and_grey_pictures_one_after_another() {
        let mut stream = pnm("P6", 2, 1, &[1, 2, 3, 4, 5, 6]);
        stream.extend(pnm("P5", 1, 2, &[7, 8]));
        let frames: Vec<_> = PnmFrames::new(&stream[..]).collect::<Result<_>>().unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].as_raw(), &[1, 2, 3, 4, 5, 6]);
        assert_eq!(frames[1].as_raw(), &[7, 7, 7, 8, 8, 8]);
    }

    #[test]
    fn a_short_or_foreign_stream_is_a_clear_error() {
        let short = pnm("P6", 2, 2, &[0; 5]);
        let err = PnmFrames::new(&short[..]).next().unwrap().unwrap_err();
        assert!(err.to_string().contains("2x2 picture cut short"), "{err}");
        let png = b"\x89PNG\r\n";
        let err = PnmFrames::new(&png[..]).next().unwrap().unwrap_err();
        assert!(err.to_string().contains("not a binary PNM"), "{err}");
    }

    #[test]
    fn keeps_every_nth_frame_and_skips_near_duplicates() {
        let flat = |v: u8| image::RgbImage::from_pixel(8, 8, image::Rgb([v, v, v]));
        let mut picker = FramePicker::new(2, 0.05);
        assert_eq!(picker.offer(0, &flat(100)), Pick::Kept);
        assert_eq!(picker.offer(1, &flat(200)), Pick::Between);
        // 5/255 apart: a near-duplicate of the first.
        assert!(matches!(picker.offer(2, &flat(105)), Pick::NearDuplicate(d) if d < 0.05));
        assert_eq!(picker.offer(4, &flat(200)), Pick::Kept);
        assert!(matches!(picker.offer(6, &flat(98)), Pick::NearDuplicate(_)));
        assert_eq!(picker.offer(8, &flat(150)), Pick::Kept);
    }
}
