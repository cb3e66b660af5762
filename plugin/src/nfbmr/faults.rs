// SPDX-License-Identifier: MIT OR Apache-2.0
//! Faults injected into a named element, in test builds only: a panic in the streaming thread and one on
//! the inference thread each become an element error, the pipeline stops cleanly, and another pipeline in
//! the same process goes on scoring.

use std::sync::Mutex;

/// Where a fault strikes, at the element's next frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    StreamingThreadPanic,
    InferenceThreadPanic,
}

static ARMED: Mutex<Vec<(String, Fault)>> = Mutex::new(Vec::new());

/// Makes the element named `element` meet `fault` at its next frame.
pub fn arm(element: &str, fault: Fault) {
    crate::lock(&ARMED).push((element.to_owned(), fault));
}

/// The fault armed for `element`, disarmed.
pub fn take(element: &str) -> Option<Fault> {
    let mut armed = crate::lock(&ARMED);
    let index = armed.iter().position(|(name, _)| name == element)?;
    Some(armed.remove(index).1)
}

#[path = "../../../tests/common/tiny.rs"]
mod tiny;

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use gst::prelude::*;

    use super::{Fault, arm, tiny};

    fn model(dir: &std::path::Path) -> PathBuf {
        let images = tiny::textured_images(dir, 4, 64, 3);
        let mut options = tiny::tiny_options(64, 1);
        options.hold_out = 0.0;
        let path = dir.join("model.nfbmr");
        tiny::train_quietly(&images, &options).save(&path).unwrap();
        path
    }

    fn pipeline(name: &str, model: &std::path::Path) -> gst::Pipeline {
        gst::parse::launch(&format!(
            "videotestsrc is-live=true pattern=ball ! video/x-raw,format=RGB,width=64,height=48,framerate=30/1 \
             ! nfbmr name={name} model={} ! fakesink name=sink",
            model.display()
        ))
        .unwrap()
        .downcast()
        .unwrap()
    }

    /// Scored frames seen by the sink of `pipeline` (frames carrying a verdict).
    fn count_frames(pipeline: &gst::Pipeline) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        let count = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = std::sync::Arc::clone(&count);
        let sink = pipeline.by_name("sink").unwrap();
        sink.static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(buffer) = info.buffer()
                    && crate::NfbmrMeta::from_buffer(buffer).is_some()
                {
                    counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                gst::PadProbeReturn::Ok
            });
        count
    }

    fn error_of(pipeline: &gst::Pipeline) -> String {
        let message = pipeline
            .bus()
            .unwrap()
            .timed_pop_filtered(gst::ClockTime::from_seconds(20), &[gst::MessageType::Error])
            .expect("an element error, not a hang");
        let gst::MessageView::Error(err) = message.view() else {
            unreachable!()
        };
        format!("{} {:?}", err.error(), err.debug())
    }

    #[test]
    fn a_panic_becomes_an_element_error_and_the_rest_of_the_process_keeps_working() {
        gst::init().unwrap();
        crate::plugin_register_static().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let model = model(dir.path());
        let survivor = pipeline("survivor", &model);
        let survived = count_frames(&survivor);
        survivor.set_state(gst::State::Playing).unwrap();

        for (name, fault, words) in [
            ("streaming", Fault::StreamingThreadPanic, "Panicked"),
            (
                "inference",
                Fault::InferenceThreadPanic,
                "inference thread panicked",
            ),
        ] {
            let victim = pipeline(name, &model);
            arm(name, fault);
            victim.set_state(gst::State::Playing).unwrap();
            let error = error_of(&victim);
            assert!(error.contains(words), "{error}");
            assert!(error.contains("injected fault"), "{error}");
            assert_eq!(
                victim.set_state(gst::State::Null),
                Ok(gst::StateChangeSuccess::Success),
                "stops cleanly"
            );
        }

        let before = survived.load(std::sync::atomic::Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(500));
        let after = survived.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            after > before,
            "the other pipeline still scores ({before} → {after})"
        );
        assert!(
            survivor
                .bus()
                .unwrap()
                .pop_filtered(&[gst::MessageType::Error])
                .is_none()
        );
        survivor.set_state(gst::State::Null).unwrap();
    }
}
