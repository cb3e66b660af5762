// SPDX-License-Identifier: MIT OR Apache-2.0
//! One engine, many elements: elements of a process that load the same model file on the same device
//! share one engine, which scores their frames in batches without changing a score or an order; YUV frames
//! are read as the same pictures as RGB ones.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use gst::prelude::*;

/// One verdict as the bus reported it.
#[derive(Clone, Debug)]
struct Scored {
    pts: u64,
    raw_score: f64,
    is_anomaly: bool,
}

/// Plays `pipeline` to the end and returns the verdicts each element posted, in order.
fn verdicts(pipeline: &gst::Pipeline) -> HashMap<String, Vec<Scored>> {
    let mut by_element: HashMap<String, Vec<Scored>> = HashMap::new();
    for (source, verdict) in common::observe::nfbmr_messages(pipeline) {
        by_element.entry(source).or_default().push(Scored {
            pts: verdict.get::<u64>("timestamp").unwrap(),
            raw_score: verdict.get("raw-score").unwrap(),
            is_anomaly: verdict.get("is-anomaly").unwrap(),
        });
    }
    by_element
}

const PATTERNS: [&str; 4] = ["ball", "smpte", "checkers-8", "zone-plate"];

fn stream(index: usize, model: &Path, engine: &str) -> String {
    format!(
        "videotestsrc num-buffers=12 pattern={} ! video/x-raw,format=RGB,width=64,height=48,framerate=30/1 \
         ! nfbmr name=e{index} model={} {engine} ! fakesink",
        PATTERNS[index],
        model.display()
    )
}

fn engine_users(pipeline: &gst::Pipeline, name: &str) -> u32 {
    pipeline.by_name(name).unwrap().property("engine-users")
}

#[test]
fn four_elements_share_one_engine_and_batching_changes_no_score_or_order() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::own_model(dir.path());
    let batching = "max-batch=4 batch-timeout=50000";
    let together = common::launch(
        &(0..4)
            .map(|i| stream(i, &model, batching))
            .collect::<Vec<_>>()
            .join(" "),
    );
    let mut shared = HashMap::new();
    let sizes = common::batch_sizes(&model, || {
        together.set_state(gst::State::Paused).unwrap();
        for i in 0..4 {
            assert_eq!(engine_users(&together, &format!("e{i}")), 4, "one engine");
        }
        shared = verdicts(&together);
    });
    assert!(
        sizes.iter().any(|&size| size > 1) && sizes.iter().all(|&size| size <= 4),
        "batches of up to 4 frames: {sizes:?}"
    );
    assert_eq!(sizes.iter().sum::<usize>(), 4 * 12, "{sizes:?}");

    for i in 0..4 {
        let name = format!("e{i}");
        let alone = common::launch(&stream(i, &model, ""));
        alone.set_state(gst::State::Paused).unwrap();
        assert_eq!(engine_users(&alone, &name), 1);
        let expected = &verdicts(&alone)[&name];
        let got = &shared[&name];
        assert_eq!(got.len(), 12, "{name}");
        assert_eq!(expected.len(), 12, "{name}");
        for (frame, (a, b)) in got.iter().zip(expected).enumerate() {
            assert_eq!(a.pts, b.pts, "{name} frame {frame}: in order");
            assert!(
                common::same_score(a.raw_score, b.raw_score),
                "{name} frame {frame}: batched {} alone {}",
                a.raw_score,
                b.raw_score
            );
        }
        // The stream's own pictures: its scores are not another stream's.
        assert!(got.windows(2).all(|w| w[0].pts < w[1].pts));
    }
    let distinct = |i: usize, j: usize| {
        shared[&format!("e{i}")][0].raw_score != shared[&format!("e{j}")][0].raw_score
    };
    assert!(distinct(0, 1) && distinct(1, 2) && distinct(2, 3));
}

#[test]
fn a_model_swap_on_one_element_leaves_the_others_their_engine() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::own_model(dir.path());
    let live = |name: &str| {
        format!(
            "videotestsrc is-live=true pattern=ball ! video/x-raw,format=RGB,width=64,height=48,framerate=30/1 \
             ! nfbmr name={name} model={} ! fakesink",
            model.display()
        )
    };
    let pipeline = common::launch(&format!("{} {}", live("a"), live("b")));
    let (a, b) = (
        pipeline.by_name("a").unwrap(),
        pipeline.by_name("b").unwrap(),
    );
    let frames =
        |element: &gst::Element| common::observe::Arrivals::at(&element.static_pad("src").unwrap());
    let (seen_a, seen_b) = (frames(&a), frames(&b));
    pipeline.set_state(gst::State::Playing).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(engine_users(&pipeline, "a"), 2);

    let second = &common::models().second;
    a.set_property("model", second.to_str().unwrap());
    std::thread::sleep(std::time::Duration::from_millis(600));
    let first_id = common::Models::id(&model);
    let second_id = common::Models::id(second);
    assert_eq!(
        engine_users(&pipeline, "a"),
        1,
        "a has an engine of its own"
    );
    assert_eq!(engine_users(&pipeline, "b"), 1, "b keeps the old one");
    let (ids_a, ids_b) = (seen_a.model_ids(), seen_b.model_ids());
    assert_eq!(ids_a.last(), Some(&second_id));
    assert!(
        ids_b.iter().all(|id| *id == first_id),
        "b never changed model"
    );
    let before = ids_b.len();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(seen_b.model_ids().len() > before, "b goes on scoring");
    assert!(
        pipeline
            .bus()
            .unwrap()
            .pop_filtered(&[gst::MessageType::Error, gst::MessageType::Warning])
            .is_none()
    );
    pipeline.set_state(gst::State::Null).unwrap();
}

/// The good and the defect picture as RGB frames, through `videoconvert` into `format`, then the element
/// with its overlay on: the verdicts, and the colour of each output frame's top-left corner (the border).
fn verdicts_in(format: &str, model: &Path, threshold: f64) -> (Vec<Scored>, Vec<[u8; 3]>) {
    let (good, defect, _) = common::good_and_defect_pictures();
    let pipeline = common::launch(&format!(
        "appsrc name=src format=time caps=video/x-raw,format=RGB,width=64,height=48,framerate=30/1 \
         ! videoconvert ! video/x-raw,format={format} ! nfbmr name=e model={} threshold={threshold} \
         overlay=true ! videoconvert ! video/x-raw,format=RGB ! appsink name=out sync=false",
        model.display()
    ));
    let corners = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&corners);
    let sink = pipeline.by_name("out").unwrap();
    sink.downcast::<gst_app::AppSink>().unwrap().set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let map = sample.buffer().unwrap().map_readable().unwrap();
                seen.lock().unwrap().push([map[0], map[1], map[2]]);
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    for (i, picture) in [good, defect].into_iter().enumerate() {
        let mut buffer = gst::Buffer::from_mut_slice(picture);
        buffer
            .get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(33 * i as u64));
        src.push_buffer(buffer).unwrap();
    }
    src.end_of_stream().unwrap();
    let verdicts = verdicts(&pipeline).remove("e").unwrap();
    let corners = corners.lock().unwrap().clone();
    (verdicts, corners)
}

#[test]
fn nv12_and_i420_give_the_verdicts_and_the_overlay_of_rgb() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::own_model(dir.path());
    let (_, _, threshold) = common::good_and_defect_pictures();
    let (rgb, _) = verdicts_in("RGB", &model, threshold);
    assert_eq!(
        rgb.iter().map(|v| v.is_anomaly).collect::<Vec<_>>(),
        [false, true]
    );
    let mut nv12 = Vec::new();
    for format in ["RGB", "NV12", "I420"] {
        let (yuv, corners) = verdicts_in(format, &model, threshold);
        assert_eq!(yuv.len(), 2, "{format}");
        for (a, b) in yuv.iter().zip(&rgb) {
            assert_eq!(a.is_anomaly, b.is_anomaly, "{format}: {a:?} vs {b:?}");
            // The test pictures change colour from pixel to pixel, and YUV 4:2:0 keeps one colour per
            // 2×2 block: the pictures themselves differ, by a few percent of the score.
            let relative = (a.raw_score - b.raw_score).abs() / b.raw_score;
            assert!(relative < 0.1, "{format}: {a:?} vs {b:?}");
        }
        // NV12 and I420 hold the same samples, only arranged differently.
        match format {
            "NV12" => nv12 = yuv.clone(),
            "I420" => assert!(
                yuv.iter()
                    .zip(&nv12)
                    .all(|(a, b)| common::same_score(a.raw_score, b.raw_score)),
                "{yuv:?} vs {nv12:?}"
            ),
            _ => {}
        }
        // The verdict border: green on the good frame, red on the defect.
        let [good, defect] = corners[..] else {
            panic!("{format}: two frames out, got {corners:?}")
        };
        assert!(
            good[1] > 150 && good[0] < 60 && good[2] < 60,
            "{format}: {good:?}"
        );
        assert!(
            defect[0] > 170 && defect[1] < 60 && defect[2] < 60,
            "{format}: {defect:?}"
        );
    }
}

#[test]
fn the_batch_timeout_is_reported_as_latency() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::own_model(dir.path());
    let latency = |timeout_us: u64| {
        let pipeline = common::launch(&format!(
            "videotestsrc is-live=true ! video/x-raw,format=RGB,width=64,height=48,framerate=30/1 \
             ! nfbmr model={} batch-timeout={timeout_us} ! fakesink sync=true",
            model.display()
        ));
        pipeline.set_state(gst::State::Playing).unwrap();
        pipeline.state(gst::ClockTime::from_seconds(10)).0.unwrap();
        let mut query = gst::query::Latency::new();
        assert!(pipeline.query(&mut query));
        pipeline.set_state(gst::State::Null).unwrap();
        let (live, min, _) = query.result();
        assert!(live);
        min
    };
    let added = latency(40_000) - latency(0);
    assert_eq!(added, gst::ClockTime::from_mseconds(40));
}

#[test]
fn each_precision_has_its_own_engine_and_half_precisions_score_close_to_fp32() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::own_model(dir.path());
    let precisions = ["fp32", "fp16", "bf16"];
    let pipeline = common::launch(
        &precisions
            .iter()
            .map(|precision| {
                format!(
                    "videotestsrc num-buffers=6 pattern=smpte ! video/x-raw,format=RGB,width=64,height=48 \
                     ! nfbmr name={precision} model={} device=cpu precision={precision} ! fakesink",
                    model.display()
                )
            })
            .collect::<Vec<_>>()
            .join(" "),
    );
    pipeline.set_state(gst::State::Paused).unwrap();
    for precision in precisions {
        assert_eq!(engine_users(&pipeline, precision), 1, "{precision}");
    }
    let scored = verdicts(&pipeline);
    let fp32 = &scored["fp32"];
    assert_eq!(fp32.len(), 6);
    // Half precision keeps 11 significant bits, bfloat16 8: measured on this model, they move a score by
    // about 0.1% and 2%.
    for (precision, tolerance) in [("fp16", 0.01), ("bf16", 0.05)] {
        let got = &scored[precision];
        assert_eq!(got.len(), 6, "{precision}");
        for (a, b) in got.iter().zip(fp32) {
            let relative = (a.raw_score - b.raw_score).abs() / b.raw_score;
            assert!(
                relative < tolerance,
                "{precision}: {a:?} against fp32 {b:?}"
            );
            assert!(
                a.raw_score != b.raw_score,
                "{precision} computes in its own format"
            );
        }
    }
}

#[test]
fn frames_in_flight_keep_order_and_meta_and_all_reach_eos() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::own_model(dir.path());
    let run = |properties: &str| {
        let pipeline = common::launch(&format!(
            "videotestsrc num-buffers=20 pattern=ball ! video/x-raw,format=RGB,width=64,height=48,framerate=30/1 \
             ! nfbmr model={} inference-interval=3 {properties} ! fakesink name=sink",
            model.display()
        ));
        let arrivals = common::observe::Arrivals::at_sink(&pipeline);
        verdicts(&pipeline);
        arrivals.get()
    };
    let one_at_a_time = run("");
    let mut in_flight = Vec::new();
    let sizes = common::batch_sizes(&model, || {
        in_flight = run("frames-in-flight=4 max-batch=4 batch-timeout=30000");
    });
    // One stream's frames can only be batched together when several of them are in flight.
    assert!(sizes.iter().any(|&size| size > 1), "{sizes:?}");
    assert_eq!(
        sizes.iter().sum::<usize>(),
        7,
        "frames 0, 3, …, 18 scored: {sizes:?}"
    );
    assert_eq!(in_flight.len(), 20, "every frame out before EOS");
    for (frame, (got, expected)) in in_flight.iter().zip(&one_at_a_time).enumerate() {
        assert_eq!(got.0, expected.0, "frame {frame} in order");
        let (meta, expected) = (got.1.as_ref().unwrap(), expected.1.as_ref().unwrap());
        assert_eq!(meta.inferred, expected.inferred, "frame {frame}");
        assert!(
            common::same_score(meta.raw_score, expected.raw_score),
            "frame {frame}"
        );
    }
}

#[test]
fn a_flushing_seek_with_frames_in_flight_loses_no_frame_or_meta() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::own_model(dir.path());
    let pipeline = common::launch(&format!(
        "videotestsrc pattern=ball ! video/x-raw,format=RGB,width=64,height=48,framerate=30/1 \
         ! nfbmr model={} frames-in-flight=4 ! fakesink name=sink sync=false",
        model.display()
    ));
    let arrivals = common::observe::Arrivals::at_sink(&pipeline);
    pipeline.set_state(gst::State::Paused).unwrap();
    pipeline.state(gst::ClockTime::from_seconds(30)).0.unwrap();
    pipeline
        .seek(
            1.0,
            gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
            gst::SeekType::Set,
            gst::ClockTime::from_seconds(1),
            gst::SeekType::Set,
            gst::ClockTime::from_seconds(2),
        )
        .unwrap();
    pipeline.state(gst::ClockTime::from_seconds(30)).0.unwrap();
    let scored = verdicts(&pipeline);
    let arrivals = arrivals.get();
    let expected: Vec<u64> = (30..60)
        .map(|n| {
            gst::ClockTime::SECOND
                .mul_div_floor(n, 30)
                .unwrap()
                .nseconds()
        })
        .collect();
    let pts: Vec<u64> = arrivals.iter().map(|(pts, _)| *pts).collect();
    assert_eq!(
        pts, expected,
        "every frame of the second after the seek, once, in order"
    );
    assert!(
        arrivals.iter().all(|(_, meta)| meta.is_some()),
        "{arrivals:?}"
    );
    let after_seek = scored.values().flatten().filter(|v| v.pts >= expected[0]);
    assert_eq!(
        after_seek.count(),
        30,
        "one verdict per frame after the seek"
    );
}

#[test]
fn cuda_graphs_score_as_the_model_does() {
    if !tch::Cuda::is_available() {
        return; // refused on the CPU: tests/faults.rs
    }
    let dir = tempfile::tempdir().unwrap();
    let model = common::own_model(dir.path());
    // Three frames in flight make batches of 1 to 3, replayed from graphs recorded for 1, 2 and 4 frames.
    let branch = |name: &str, graphs: bool| {
        format!(
            "videotestsrc num-buffers=12 pattern=ball ! video/x-raw,format=RGB,width=64,height=48 \
             ! nfbmr name={name} model={} device=cuda cuda-graphs={graphs} frames-in-flight=3 ! fakesink",
            model.display()
        )
    };
    let pipeline = common::launch(&format!(
        "{} {}",
        branch("eager", false),
        branch("graphed", true)
    ));
    pipeline.set_state(gst::State::Paused).unwrap();
    assert_eq!(
        engine_users(&pipeline, "graphed"),
        1,
        "an engine of its own"
    );
    let scored = verdicts(&pipeline);
    let (eager, graphed) = (&scored["eager"], &scored["graphed"]);
    assert_eq!((eager.len(), graphed.len()), (12, 12));
    for (a, b) in graphed.iter().zip(eager) {
        assert_eq!(a.pts, b.pts);
        assert!(
            common::same_score(a.raw_score, b.raw_score),
            "{a:?} against {b:?}"
        );
    }
}
