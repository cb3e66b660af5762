// SPDX-License-Identifier: MIT OR Apache-2.0
//! The picture a verdict is painted on with `overlay=true`: heatmap, region boxes and a verdict border.

use gst_video::prelude::*;
use nfbmr::heatmap::Canvas;
use nfbmr::{PixelLayout, Verdict};

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

/// Paints `verdict` over a frame of `info` whose first plane is packed in `layout`.
pub fn draw(
    buffer: &mut gst::BufferRef,
    (info, layout): (&gst_video::VideoInfo, PixelLayout),
    style: &Style,
    verdict: &Verdict,
) -> Result<(), glib::BoolError> {
    let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(buffer, info)?;
    let (width, height) = (frame.width() as usize, frame.height() as usize);
    let stride = frame.plane_stride()[0] as usize;
    let mut canvas = Canvas {
        data: frame.plane_data_mut(0)?,
        width,
        height,
        stride,
        layout,
    };
    let lut = nfbmr::heatmap::Colormap::from(style.colormap).lut();
    canvas.blend_map(
        &verdict.map,
        verdict.pixel_threshold as f32,
        &lut,
        style.alpha as f32,
        style.above_threshold_only,
    );
    let thickness = (width.min(height) / 120).max(2);
    if style.draw_regions {
        for r in &verdict.regions {
            canvas.draw_rectangle(
                r.x as usize,
                r.y as usize,
                r.width as usize,
                r.height as usize,
                REGION_COLOUR,
                thickness / 2 + 1,
            );
        }
    }
    let border = if verdict.is_anomaly {
        DEFECT_COLOUR
    } else {
        GOOD_COLOUR
    };
    canvas.draw_rectangle(0, 0, width, height, border, thickness * 2);
    Ok(())
}
