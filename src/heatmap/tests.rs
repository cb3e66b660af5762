// SPDX-License-Identifier: MIT OR Apache-2.0
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

#[test]
fn a_large_frame_blended_in_bands_is_the_map_resized_and_coloured_at_every_pixel() {
    // Odd sizes and padded rows, so that no band boundary falls anywhere convenient.
    let (width, height, stride) = (1283, 721, 1283 * 3 + 5);
    let map = AnomalyMap::new(
        64,
        48,
        (0..64 * 48).map(|i| (i % 97) as f32 / 40.0).collect(),
    );
    let lut = Colormap::Turbo.lut();
    let mut data = vec![7u8; stride * height];
    Canvas {
        data: &mut data,
        width,
        height,
        stride,
        surface: Surface::Packed(PixelLayout::RGB),
    }
    .blend_map(&map, 1.0, &lut, 1.0, false);
    // At full opacity each pixel is the LUT colour of the resized map's value there.
    let resized = map.resized(width, height);
    let steps_per_unit = (lut.len() - 1) as f32 / 2.0;
    for y in 0..height {
        for x in 0..width {
            let value = resized.values[y * width + x];
            let index = (value * steps_per_unit + 0.5).clamp(0.0, (lut.len() - 1) as f32) as usize;
            assert_eq!(
                data[y * stride + x * 3..][..3],
                lut[index],
                "pixel ({x}, {y})"
            );
        }
        assert_eq!(
            data[y * stride + width * 3..][..5],
            [7; 5],
            "row {y}'s padding"
        );
    }
}

#[test]
fn partial_opacity_mixes_each_colour_byte_and_leaves_the_others() {
    // ARGB: the colour goes to bytes 1 to 3, byte 0 (alpha) keeps whatever it held.
    let (width, height) = (37, 11);
    let map = AnomalyMap::new(5, 3, (0..15).map(|i| i as f32 / 7.0).collect());
    let lut = Colormap::Inferno.lut();
    let original: Vec<u8> = (0..width * height * 4)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let mut data = original.clone();
    Canvas::packed(&mut data, width, height, PixelLayout::ARGB)
        .blend_map(&map, 1.0, &lut, 0.3, false);
    let weight = (0.3f32 * 256.0).round() as u32;
    let resized = map.resized(width, height);
    for (i, (&value, (pixel, before))) in resized
        .values
        .iter()
        .zip(data.chunks_exact(4).zip(original.chunks_exact(4)))
        .enumerate()
    {
        let colour = lut[(value * 127.5 + 0.5).clamp(0.0, 255.0) as usize];
        let mixed = |old: u8, new: u8| {
            ((u32::from(old) * (256 - weight) + u32::from(new) * weight + 128) >> 8) as u8
        };
        let expected = [
            before[0],
            mixed(before[1], colour[0]),
            mixed(before[2], colour[1]),
            mixed(before[3], colour[2]),
        ];
        assert_eq!(pixel, expected, "pixel {i}");
    }
}
