// SPDX-License-Identifier: MIT OR Apache-2.0
//! The picture a verdict is painted on with `overlay=true`: heatmap, region boxes and a verdict border.
//! Packed pictures are painted in place; YUV pictures plane by plane, the chroma planes at half resolution.

use gst_video::prelude::*;
use nfbmr::heatmap::{Canvas, Surface};
use nfbmr::{PixelFormat, Verdict, YuvMatrix};

use super::Colormap;

const GOOD_COLOUR: [u8; 3] = [0, 200, 0];
const DEFECT_COLOUR: [u8; 3] = [230, 0, 0];
const REGION_COLOUR: [u8; 3] = [255, 255, 255];

/// How the overlay looks: the element's overlay properties.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub alpha: f64,
    pub above_threshold_only: bool,
    pub colormap: Colormap,
    pub draw_regions: bool,
}

/// What each plane of a picture in `format` holds, and its subsampling.
fn surfaces(format: PixelFormat) -> Vec<(Surface, usize)> {
    let chroma = |matrix: YuvMatrix, cb, cr, bytes| Surface::Chroma {
        matrix,
        cb,
        cr,
        bytes,
    };
    match format {
        PixelFormat::Packed(layout) => vec![(Surface::Packed(layout), 1)],
        PixelFormat::Nv12(matrix) => vec![
            (Surface::Luma(matrix), 1),
            (chroma(matrix, Some(0), Some(1), 2), 2),
        ],
        PixelFormat::I420(matrix) => vec![
            (Surface::Luma(matrix), 1),
            (chroma(matrix, Some(0), None, 1), 2),
            (chroma(matrix, None, Some(0), 1), 2),
        ],
    }
}

/// Paints `verdict` over a frame of `info` in `format`.
pub fn draw(
    buffer: &mut gst::BufferRef,
    (info, format): (&gst_video::VideoInfo, PixelFormat),
    style: &Style,
    verdict: &Verdict,
) -> Result<(), glib::BoolError> {
    let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(buffer, info)?;
    let (width, height) = (frame.width() as usize, frame.height() as usize);
    let lut = nfbmr::heatmap::Colormap::from(style.colormap).lut();
    let thickness = (width.min(height) / 120).max(2);
    for (plane, (surface, subsampling)) in surfaces(format).into_iter().enumerate() {
        let stride = frame.plane_stride()[plane] as usize;
        let mut canvas = Canvas {
            data: frame.plane_data_mut(plane as u32)?,
            width: width.div_ceil(subsampling),
            height: height.div_ceil(subsampling),
            stride,
            surface,
        };
        paint(&mut canvas, subsampling, style, verdict, &lut, thickness);
    }
    Ok(())
}

/// Paints one plane, whose pixels cover `subsampling`×`subsampling` pixels of the frame.
fn paint(
    canvas: &mut Canvas,
    subsampling: usize,
    style: &Style,
    verdict: &Verdict,
    lut: &[[u8; 3]],
    thickness: usize,
) {
    canvas.blend_map(
        &verdict.map,
        verdict.pixel_threshold as f32,
        lut,
        style.alpha as f32,
        style.above_threshold_only,
    );
    let scaled = |v: usize| v.div_ceil(subsampling);
    if style.draw_regions {
        for r in &verdict.regions {
            canvas.draw_rectangle(
                r.x as usize / subsampling,
                r.y as usize / subsampling,
                scaled(r.width as usize),
                scaled(r.height as usize),
                REGION_COLOUR,
                scaled(thickness / 2 + 1),
            );
        }
    }
    let border = if verdict.is_anomaly {
        DEFECT_COLOUR
    } else {
        GOOD_COLOUR
    };
    let (width, height) = (canvas.width, canvas.height);
    canvas.draw_rectangle(0, 0, width, height, border, scaled(thickness * 2));
}
