// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `nfbmr` element on real buffers through a harness: verdicts, properties, overlay and model swaps,
//! with tiny models trained here.

mod common;

use common::{RGB, harness, meta, models, push, rois};
use gst::prelude::*;
use gst_controller::prelude::*;
use gstnfbmr::NfbmrMeta;
use nfbmr::PixelLayout;

#[test]
fn every_frame_carries_the_detectors_verdict() {
    let mut h = harness("", RGB);
    let pictures: Vec<Vec<u8>> = (0..4).map(|i| common::pixels(64, 48, 3, i)).collect();
    let expected: Vec<f64> = pictures
        .iter()
        .map(|p| common::raw_score(p, 64, 48, PixelLayout::RGB))
        .collect();
    let mut anomalies = 0;
    // From the third frame on, a threshold low enough that the frames are defects with regions.
    let low = expected[2].min(expected[3]) / 2.0;
    for (i, (pixels, &expected)) in pictures.into_iter().zip(&expected).enumerate() {
        if i == 2 {
            h.element().unwrap().set_property("threshold", low);
        }
        let out = push(&mut h, gst::Buffer::from_mut_slice(pixels));
        let m = meta(&out);
        assert!(
            common::same_score(m.raw_score, expected),
            "{m:?} vs {expected}"
        );
        assert!(m.inferred && m.threshold > 0.0);
        assert!((m.score - m.raw_score / m.threshold).abs() < 1e-9);
        assert_eq!(m.is_anomaly, m.score >= 1.0);
        assert_eq!(m.model_id, common::Models::id(&models().first));
        assert_eq!(m.map.len(), (m.map_width * m.map_height) as usize);
        assert!(m.map_width > 0 && m.map_width <= 64);
        let peak = m.map.iter().copied().fold(f32::MIN, f32::max) as f64;
        assert!(
            (peak - m.score).abs() < 1e-4 * m.score,
            "map peak {peak} vs {m:?}"
        );
        let rois: Vec<_> = out
            .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
            .collect();
        // Regions only on defects; the low threshold makes them large enough to report.
        assert!(m.is_anomaly || rois.is_empty(), "{m:?}");
        assert!(i < 2 || !rois.is_empty(), "{m:?}");
        anomalies += usize::from(m.is_anomaly);
        for roi in rois {
            assert_eq!(roi.roi_type(), "nfbmr-defect");
            let (x, y, w, hgt) = roi.rect();
            assert!(x + w <= 64 && y + hgt <= 48 && w > 0 && hgt > 0);
            let score: f64 = roi.param("nfbmr-defect").unwrap().get("score").unwrap();
            assert!(score >= 1.0 && score <= m.score + 1e-9, "{score} in {m:?}");
        }
    }
    assert!(
        anomalies >= 2,
        "the frames after the low threshold are defects"
    );
}

#[test]
fn grey_and_four_byte_frames_score_as_the_same_rgb_picture_across_caps_changes() {
    let mut h = harness(
        "",
        "video/x-raw,format=GRAY8,width=64,height=48,framerate=30/1",
    );
    let grey = common::pixels(64, 48, 1, 0);
    let out = meta(&push(&mut h, gst::Buffer::from_mut_slice(grey.clone())));
    let expected = common::raw_score(&grey, 64, 48, PixelLayout::GRAY8);
    assert!(
        common::same_score(out.raw_score, expected),
        "{out:?} vs {expected}"
    );

    // The same RGB picture as BGRx: a swapped channel order or a stride slip would change the score.
    let rgb = common::pixels(80, 60, 3, 4);
    let bgrx: Vec<u8> = rgb
        .chunks_exact(3)
        .flat_map(|p| [p[2], p[1], p[0], 77])
        .collect();
    h.set_src_caps_str("video/x-raw,format=BGRx,width=80,height=60,framerate=30/1");
    let out = meta(&push(&mut h, gst::Buffer::from_mut_slice(bgrx)));
    let expected = common::raw_score(&rgb, 80, 60, PixelLayout::RGB);
    assert!(
        common::same_score(out.raw_score, expected),
        "{out:?} vs {expected}"
    );
    assert_ne!(
        out.raw_score,
        common::raw_score(&rgb, 80, 60, PixelLayout::BGR)
    );

    h.set_src_caps_str(RGB);
    assert!(meta(&push(&mut h, common::frame(64, 48, 3, 0))).inferred);
}

#[test]
fn skipped_frames_carry_the_last_result() {
    let mut h = harness("inference-interval=3", RGB);
    let metas: Vec<NfbmrMeta> = (0..7)
        .map(|i| meta(&push(&mut h, common::frame(64, 48, 3, i))))
        .collect();
    let inferred: Vec<bool> = metas.iter().map(|m| m.inferred).collect();
    assert_eq!(inferred, [true, false, false, true, false, false, true]);
    assert_eq!(metas[1].raw_score, metas[0].raw_score);
    assert_eq!(metas[2].map, metas[0].map);
    assert_ne!(
        metas[3].raw_score, metas[0].raw_score,
        "a new frame is scored afresh"
    );
}

#[test]
fn threshold_changes_while_playing_take_effect_on_the_next_frame() {
    let mut h = harness("", RGB);
    let input = common::frame(64, 48, 3, 9);
    let raw = meta(&push(&mut h, input.copy())).raw_score;
    let element = h.element().unwrap();
    element.set_property("threshold", raw * 2.0);
    let high = meta(&push(&mut h, input.copy()));
    assert!(
        !high.is_anomaly && (high.score - 0.5).abs() < 1e-6,
        "{high:?}"
    );
    element.set_property("threshold", raw / 2.0);
    let out = push(&mut h, input.copy());
    let low = meta(&out);
    assert!(low.is_anomaly && (low.score - 2.0).abs() < 1e-6);
    assert!(
        !rois(&out).is_empty(),
        "a defect frame has at least one region"
    );
}

#[test]
fn the_threshold_follows_a_control_source_by_stream_time() {
    let mut h = harness("", RGB);
    let element = h.element().unwrap();
    let input = common::frame(64, 48, 3, 2);
    let raw = meta(&push(&mut h, input.copy())).raw_score;
    let source = gst_controller::InterpolationControlSource::new();
    source.set_mode(gst_controller::InterpolationMode::None);
    source.set(gst::ClockTime::ZERO, raw * 2.0);
    source.set(gst::ClockTime::SECOND, raw / 4.0);
    let binding =
        gst_controller::DirectControlBinding::new_absolute(&element, "threshold", &source);
    element.add_control_binding(&binding).unwrap();
    let mut at = |seconds: u64| {
        let mut buffer = input.copy();
        buffer
            .get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_seconds(seconds));
        meta(&push(&mut h, buffer))
    };
    let (before, after) = (at(0), at(1));
    assert_eq!((before.threshold, before.is_anomaly), (raw * 2.0, false));
    assert_eq!((after.threshold, after.is_anomaly), (raw / 4.0, true));
}

/// The output pixels of `input` (an RGB frame) with `properties`.
fn painted(properties: &str, input: &gst::Buffer) -> (Vec<u8>, NfbmrMeta) {
    let mut h = harness(properties, RGB);
    let out = push(&mut h, input.copy());
    let m = meta(&out);
    (out.map_readable().unwrap().to_vec(), m)
}

/// RGB pixels of a 64×48 frame at least `margin` pixels inside the edge, clear of the verdict border.
fn interior(data: &[u8], margin: usize) -> impl Iterator<Item = &[u8]> {
    data.chunks_exact(3).enumerate().filter_map(move |(i, p)| {
        let (x, y) = (i % 64, i / 64);
        (x >= margin && x < 64 - margin && y >= margin && y < 48 - margin).then_some(p)
    })
}

#[test]
fn pixels_change_only_with_the_overlay() {
    let input = common::frame(64, 48, 3, 5);
    let original = input.map_readable().unwrap().to_vec();
    let (plain, _) = painted("", &input);
    assert_eq!(plain, original, "overlay off: pixels untouched");
    let (out, m) = painted("overlay=true overlay-alpha=0.8", &input);
    assert_ne!(out, original);
    // The verdict border: the corner pixel is pure green (good) or red (defect).
    let expected: [u8; 3] = if m.is_anomaly {
        [230, 0, 0]
    } else {
        [0, 200, 0]
    };
    assert_eq!(&out[..3], expected);
}

#[test]
fn the_colormap_and_the_threshold_gate_shape_the_heatmap() {
    common::init();
    let input = gst::Buffer::from_mut_slice(vec![128u8; 64 * 48 * 3]);
    let grey = |data: &[u8]| interior(data, 5).all(|p| p[0] == p[1] && p[1] == p[2]);
    let (gray, _) = painted(
        "overlay=true overlay-alpha=1 colormap=gray draw-regions=false",
        &input,
    );
    assert!(grey(&gray), "the gray colormap paints grey");
    let (jet, _) = painted(
        "overlay=true overlay-alpha=1 colormap=jet draw-regions=false",
        &input,
    );
    assert!(!grey(&jet), "jet paints colours");

    // Far above every score: with the gate on, no pixel reaches the pixel threshold.
    let (_, m) = painted("", &input);
    let high = format!(
        "overlay=true threshold={} overlay-alpha=1",
        m.raw_score * 100.0
    );
    let (gated, _) = painted(&format!("{high} overlay-above-threshold=true"), &input);
    assert!(
        interior(&gated, 5).all(|p| *p == [128u8, 128, 128]),
        "gated: untouched"
    );
    let (ungated, _) = painted(&high, &input);
    assert!(
        interior(&ungated, 5).all(|p| *p != [128u8, 128, 128]),
        "ungated: painted"
    );
}

#[test]
fn regions_are_outlined_on_request_and_filtered_by_area() {
    common::init();
    // A dark patch in the middle of the texture: the hottest region, away from the verdict border.
    let mut pixels = common::pixels(64, 48, 3, 6);
    for y in 18..30 {
        pixels[(y * 64 + 26) * 3..(y * 64 + 38) * 3].fill(0);
    }
    let input = gst::Buffer::from_mut_slice(pixels);
    let (_, m) = painted("", &input);
    let low = format!("threshold={}", m.raw_score * 0.7);
    // An invisible heatmap, so that only the outlines change pixels.
    let (outlined, m) = painted(&format!("{low} overlay=true overlay-alpha=0"), &input);
    assert!(m.is_anomaly);
    let (plain, _) = painted(
        &format!("{low} overlay=true overlay-alpha=0 draw-regions=false"),
        &input,
    );
    let changed: Vec<&[u8]> = outlined
        .chunks_exact(3)
        .zip(plain.chunks_exact(3))
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a)
        .collect();
    let mut h = harness(&low, RGB);
    let regions = rois(&push(&mut h, input.copy()));
    assert!(!changed.is_empty(), "outlines of {regions:?} drawn");
    assert!(changed.iter().all(|p| *p == [255, 255, 255]), "in white");

    assert!(!regions.is_empty());
    let mut h = harness(&format!("{low} min-region-area={}", 64 * 48 + 1), RGB);
    let out = push(&mut h, input.copy());
    assert!(
        meta(&out).is_anomaly && rois(&out).is_empty(),
        "no region is that large"
    );
}

#[test]
fn a_bad_device_is_refused_when_set() {
    common::init();
    let err = gst::parse::launch("videotestsrc ! nfbmr device=tpu ! fakesink").unwrap_err();
    assert!(err.to_string().contains("device"), "{err}");
    let element = gst::ElementFactory::make("nfbmr").build().unwrap();
    element.set_property_from_str("device", "cuda");
    element.set_property("device-index", 2u32);
    assert_eq!(
        element.property::<gstnfbmr::Device>("device"),
        gstnfbmr::Device::Cuda
    );
    assert_eq!(element.property::<u32>("device-index"), 2);
}

#[test]
fn a_new_model_is_swapped_in_at_the_next_frame_and_a_bad_one_is_refused() {
    let mut h = harness("", RGB);
    let element = h.element().unwrap();
    let bus = gst::Bus::new();
    element.set_bus(Some(&bus));
    let id = |h: &mut gst_check::Harness| meta(&push(h, common::frame(64, 48, 3, 0))).model_id;
    assert_eq!(id(&mut h), common::Models::id(&models().first));

    // Two quick changes: the last one set is the one loaded.
    element.set_property("model", models().corrupt.to_str().unwrap());
    element.set_property("model", models().second.to_str().unwrap());
    assert_eq!(id(&mut h), common::Models::id(&models().second));
    assert!(bus.pop_filtered(&[gst::MessageType::Warning]).is_none());

    element.set_property("model", models().corrupt.to_str().unwrap());
    assert_eq!(
        id(&mut h),
        common::Models::id(&models().second),
        "old model kept"
    );
    let debug = common::next_warning(&bus);
    assert!(
        debug.contains("corrupt.nfbmr") && debug.contains("second.nfbmr"),
        "{debug}"
    );
    assert_eq!(id(&mut h), common::Models::id(&models().second));
    assert!(
        bus.pop_filtered(&[gst::MessageType::Warning]).is_none(),
        "warned once"
    );
}

#[test]
fn setting_the_model_does_not_wait_for_a_frame_being_scored() {
    let caps = "video/x-raw,format=RGB,width=1920,height=1080,framerate=30/1";
    let mut h = harness("", caps);
    let element = h.element().unwrap();
    // The setter starts when a frame enters the element and sets `model` while it is being scored.
    let (entered, wait) = std::sync::mpsc::channel();
    element
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            let _ = entered.send(());
            gst::PadProbeReturn::Ok
        });
    let setter = std::thread::spawn(move || {
        wait.recv().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(10));
        let started = std::time::Instant::now();
        element.set_property("model", models().second.to_str().unwrap());
        started.elapsed()
    });
    let started = std::time::Instant::now();
    push(&mut h, common::frame(1920, 1080, 3, 0));
    let scoring = started.elapsed();
    let setting = setter.join().unwrap();
    assert!(
        setting * 10 < scoring,
        "set_property took {setting:?} while a frame took {scoring:?}"
    );
    let next = meta(&push(&mut h, common::frame(1920, 1080, 3, 1)));
    assert_eq!(next.model_id, common::Models::id(&models().second));
}

#[test]
fn defect_intervals_become_debounced_events_on_the_bus_in_the_meta_and_the_json_lines() {
    let (good, defect, threshold) = common::good_and_defect_pictures();
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.jsonl");
    let mut h = harness(
        &format!(
            "threshold={threshold} event-start-frames=2 event-window=3 event-end-frames=2 \
             results-location={}",
            results.display()
        ),
        RGB,
    );
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    // Defects on frames 4–9 and 16–18; a frame lasts 40 ms.
    let frame_ns = 40_000_000u64;
    let defective = |i: u64| (4..10).contains(&i) || (16..19).contains(&i);
    let mut event_ids = Vec::new();
    for i in 0..25 {
        let mut buffer = gst::Buffer::from_mut_slice(if defective(i) {
            defect.clone()
        } else {
            good.clone()
        });
        buffer
            .get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_nseconds(i * frame_ns));
        let m = meta(&push(&mut h, buffer));
        assert_eq!(m.is_anomaly, defective(i), "frame {i}");
        event_ids.push(m.event_id);
    }
    drop(h);

    // Starts are confirmed by the second defect frame and dated at the first; ends by the second good
    // frame and dated at the first.
    let events: Vec<(String, u64, u64)> = std::iter::from_fn(|| bus.pop())
        .filter_map(|message| {
            let gst::MessageView::Element(e) = message.view() else {
                return None;
            };
            let s = e.structure().filter(|s| s.name() == "nfbmr-event")?;
            let pts: gst::ClockTime = s.get("pts").unwrap();
            if s.get::<String>("event").unwrap() == "end" {
                let peak: gst::ClockTime = s.get("peak-pts").unwrap();
                assert!(s.get::<f64>("peak-score").unwrap() >= 1.0);
                assert!(peak < pts, "the peak lies inside the event");
            }
            assert!(s.get::<gst::Structure>("region").is_ok());
            Some((
                s.get("event").unwrap(),
                s.get("id").unwrap(),
                pts.nseconds() / frame_ns,
            ))
        })
        .collect();
    let expected = [
        ("start", 1, 4),
        ("end", 1, 10),
        ("start", 2, 16),
        ("end", 2, 19),
    ];
    let expected: Vec<(String, u64, u64)> = expected
        .iter()
        .map(|&(e, id, frame)| (e.to_owned(), id, frame))
        .collect();
    assert_eq!(events, expected);
    let covered: Vec<u64> = (0..25)
        .map(|i| match i {
            5..=10 => 1,
            17..=19 => 2,
            _ => 0,
        })
        .collect();
    assert_eq!(event_ids, covered, "the meta names the event in progress");

    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&results)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let in_file: Vec<(String, u64, u64)> = lines
        .iter()
        .filter(|l| l.get("event").is_some())
        .map(|l| {
            let frame = l["pts"].as_u64().unwrap() / frame_ns;
            (
                l["event"].as_str().unwrap().to_owned(),
                l["id"].as_u64().unwrap(),
                frame,
            )
        })
        .collect();
    assert_eq!(in_file, expected);
    assert_eq!(lines.len(), 25 + 4, "a line per frame and per event");
}
