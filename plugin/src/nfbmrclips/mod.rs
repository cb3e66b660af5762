// SPDX-License-Identifier: MIT OR Apache-2.0
/**
 * SECTION:element-nfbmrclips
 *
 * Writes one playable clip per defect event, like a smart recorder: from `pre-roll` before the event's start
 * (from the keyframe at or before it) to `post-roll` after its end, with a JSON file beside it (`clip`,
 * `start` and `end` as the events were reported, `clip-start-pts`, `clip-end-pts`, `frames`). It sits after
 * the encoder, downstream of an `nfbmr` element, which announces each event's start and end in-band with a
 * custom downstream event `nfbmr-event`; the encoded frames of the last `pre-roll` are kept in a ring of
 * whole GOPs bounded by `max-ring-bytes`. The stream passes through unchanged.
 *
 * H.264 and H.265 are parsed on their way into each clip, so codec data reaches the muxer; a byte-stream
 * needs its parameter sets at every keyframe (`h264parse config-interval=-1`). A clip that cannot be written
 * (full disk) posts a warning; the stream goes on. A clip still open at EOS ends there.
 *
 * ## Example
 * ```shell
 * gst-launch-1.0 -e v4l2src ! videoconvert ! nfbmr model=part.nfbmr overlay=true ! videoconvert \
 *     ! x264enc tune=zerolatency key-int-max=30 ! h264parse config-interval=-1 \
 *     ! nfbmrclips location=clips/event-%05d.mkv pre-roll=5000000000 post-roll=5000000000 ! fakesink
 * ```
 *
 * Since: 0.1.0
 */
mod clip;
mod imp;
mod ring;

use gst::glib;
use gst::prelude::*;

glib::wrapper! {
    pub struct NfbmrClips(ObjectSubclass<imp::NfbmrClips>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "nfbmrclips",
        gst::Rank::NONE,
        NfbmrClips::static_type(),
    )
}
