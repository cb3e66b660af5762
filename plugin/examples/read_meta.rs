// SPDX-License-Identifier: MIT OR Apache-2.0
//! Reading nfbmr's verdicts from a Rust application: a pad probe after the element reads `NfbmrMeta` with
//! the typed accessor of the plugin crate, and the defect regions from the standard ROI metas.
//!
//! Usage: cargo run --release -p gst-plugin-nfbmr --example read_meta -- MODEL.nfbmr [FRAMES]

use gst::prelude::*;
use gstnfbmr::NfbmrMeta;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model = args.next().ok_or("usage: read_meta MODEL.nfbmr [FRAMES]")?;
    let frames: u32 = args.next().map(|f| f.parse()).transpose()?.unwrap_or(10);

    gst::init()?;
    // Applications linking the plugin crate register it statically; installed plugins need not.
    gstnfbmr::plugin_register_static()?;
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers={frames} ! video/x-raw,width=320,height=240 ! videoconvert ! \
         nfbmr name=detector model={model} ! fakesink"
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline")?;

    let detector = pipeline.by_name("detector").ok_or("no detector")?;
    let src = detector.static_pad("src").ok_or("no src pad")?;
    src.add_probe(gst::PadProbeType::BUFFER, |_pad, info| {
        if let Some(buffer) = info.buffer()
            && let Some(meta) = NfbmrMeta::from_buffer(buffer)
        {
            let regions: Vec<(u32, u32, u32, u32)> = buffer
                .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
                .filter(|roi| roi.roi_type() == "nfbmr-defect")
                .map(|roi| roi.rect())
                .collect();
            println!(
                "pts={} score={:.3} anomaly={} inferred={} map={}x{} regions={regions:?}",
                buffer.pts().map(|t| t.nseconds()).unwrap_or_default(),
                meta.score,
                meta.is_anomaly,
                meta.inferred,
                meta.map_width,
                meta.map_height,
            );
        }
        gst::PadProbeReturn::Ok
    });

    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().ok_or("no bus")?;
    for message in bus.iter_timed(gst::ClockTime::NONE) {
        match message.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                pipeline.set_state(gst::State::Null)?;
                return Err(format!("{}: {:?}", e.error(), e.debug()).into());
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null)?;
    Ok(())
}
