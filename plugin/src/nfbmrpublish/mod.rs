// SPDX-License-Identifier: MIT OR Apache-2.0
/**
 * SECTION:element-nfbmrpublish
 *
 * Publishes the verdicts of an upstream `nfbmr` to an MQTT broker, the plant's message bus. Each scored
 * frame's `NfbmrMeta` and defect regions become the element's JSON line (`frame`, `pts`, `running-time`,
 * `timestamp`, `score`, `raw-score`, `threshold`, `is-anomaly`, `regions`, `model-id`) on
 * `PREFIX/STATION/frames`; each defect event announced in-band (`nfbmr-event`) goes to `PREFIX/STATION/events`;
 * a retained `PREFIX/STATION/status` says `online` with the model id and threshold, and `offline` when the
 * element stops or, as the last will, when the station vanishes. Buffers pass through unchanged.
 *
 * The streaming thread never waits on the network: messages wait in a queue bounded by `queue-limit` and
 * `queue-bytes` while the broker is away and are sent in order once it is back (reconnection is automatic,
 * with backoff). When the queue overflows, its oldest messages are dropped: a warning says so once per
 * outage, and the element message `nfbmrpublish-dropped` (`dropped`: the running total) is posted when the
 * broker is back and when the element stops. With `qos=1` every message within the bound arrives at least
 * once, in order. An address that does not resolve, an unreadable TLS file and a refused login are errors
 * at start; a broker that cannot be reached at start is not (it is tried again).
 *
 * ## Example
 * ```shell
 * gst-launch-1.0 v4l2src ! videoconvert ! nfbmr model=part.nfbmr ! nfbmrpublish broker=mqtt://broker:1883 \
 *     station-id=line1-cam2 ! fakesink
 * mosquitto_sub -h broker -v -t 'nfbmr/#'
 * ```
 *
 * Since: 0.1.0
 */
mod imp;
mod link;
mod settings;

use gst::glib;
use gst::prelude::*;

/// Which frames `nfbmrpublish` publishes; events are always published.
#[derive(Debug, Default, Eq, PartialEq, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstNfbmrPublishWhat")]
pub enum Publish {
    #[default]
    #[enum_value(name = "Every scored frame", nick = "frames")]
    Frames,
    #[enum_value(name = "Scored frames judged defective", nick = "anomalies")]
    Anomalies,
    #[enum_value(name = "Events only", nick = "events")]
    Events,
}

glib::wrapper! {
    pub struct NfbmrPublish(ObjectSubclass<imp::NfbmrPublish>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "nfbmrpublish",
        gst::Rank::NONE,
        NfbmrPublish::static_type(),
    )
}
