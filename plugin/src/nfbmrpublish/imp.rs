// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `nfbmrpublish` element: passes buffers through and queues each scored frame's verdict, and each
//! defect event announced in-band, for the broker (see [`super::link`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::BaseTransformMode;
use gst_base::subclass::prelude::*;
use serde_json::{Value, json};

use super::Publish;
use super::link::{Link, Message, Report};
use super::settings::Settings;
use crate::NfbmrMeta;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "nfbmrpublish",
        gst::DebugColorFlags::empty(),
        Some("NF-BMR results to an MQTT broker"),
    )
});

/// How long the first connection may take before the element starts anyway (and keeps trying).
const FIRST_ANSWER: Duration = Duration::from_secs(3);
/// How long stopping waits for the queue to reach a connected broker.
const DRAIN: Duration = Duration::from_secs(5);

struct State {
    settings: Settings,
    link: Link,
    /// Buffers seen: the `frame` of the JSON lines.
    frames: u64,
    /// The model id and threshold of the last status published.
    status: Option<(String, f64)>,
    model_id: String,
    /// Drops already reported on the bus.
    reported: Arc<AtomicU64>,
}

#[derive(Default)]
pub struct NfbmrPublish {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

fn wall_clock() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

fn status(station: &str, online: bool, model: Option<(&str, f64)>) -> String {
    let mut status = json!({
        "status": if online { "online" } else { "offline" },
        "station": station,
        "timestamp": wall_clock(),
    });
    if let Some((model_id, threshold)) = model {
        status["model-id"] = model_id.into();
        status["threshold"] = threshold.into();
    }
    status.to_string()
}

/// The element's JSON line of a scored frame, from its meta, its regions and its place in the stream.
fn frame_line(
    frame: u64,
    buffer: &gst::BufferRef,
    meta: &NfbmrMeta,
    running_time: Option<gst::ClockTime>,
) -> Value {
    let mut regions: Vec<Value> = buffer
        .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .filter(|roi| roi.roi_type() == crate::nfbmr::REGION_TYPE)
        .map(|roi| {
            let (x, y, width, height) = roi.rect();
            let score = roi
                .param(crate::nfbmr::REGION_TYPE)
                .and_then(|p| p.get::<f64>("score").ok())
                .unwrap_or_default();
            json!({"x": x, "y": y, "width": width, "height": height, "score": score})
        })
        .collect();
    // Highest peak first, as the verdict lists them.
    regions.sort_by(|a, b| {
        b["score"]
            .as_f64()
            .partial_cmp(&a["score"].as_f64())
            .unwrap()
    });
    json!({
        "frame": frame,
        "pts": buffer.pts().map(gst::ClockTime::nseconds),
        "running-time": running_time.map(gst::ClockTime::nseconds),
        "timestamp": wall_clock(),
        "score": meta.score,
        "raw-score": meta.raw_score,
        "threshold": meta.threshold,
        "is-anomaly": meta.is_anomaly,
        "regions": regions,
        "model-id": meta.model_id,
    })
}

impl NfbmrPublish {
    fn post(&self, structure: gst::Structure) {
        let message = gst::message::Element::builder(structure)
            .src(&*self.obj())
            .build();
        let _ = self.obj().post_message(message);
    }

    /// What the link reports, on the bus: an outage once, drops when the broker is back.
    fn reporter(&self, reported: Arc<AtomicU64>) -> impl Fn(Report) + Send + 'static {
        let element = self.obj().downgrade();
        let lost = AtomicBool::new(false);
        move |report| {
            let Some(element) = element.upgrade() else {
                return;
            };
            let imp = element.imp();
            match report {
                Report::Connected { dropped } => {
                    lost.store(false, Ordering::Relaxed);
                    gst::info!(CAT, imp = imp, "Connected to the broker");
                    imp.report_drops(&reported, dropped);
                }
                Report::Lost(why) => {
                    if !lost.swap(true, Ordering::Relaxed) {
                        gst::element_imp_warning!(
                            imp,
                            gst::ResourceError::Write,
                            [
                                "Broker unreachable: {why}; messages are queued and it is tried again"
                            ]
                        );
                    }
                }
            }
        }
    }

    fn report_drops(&self, reported: &AtomicU64, dropped: u64) {
        if reported.swap(dropped, Ordering::Relaxed) != dropped {
            self.post(
                gst::Structure::builder("nfbmrpublish-dropped")
                    .field("dropped", dropped)
                    .build(),
            );
        }
    }

    fn queue(&self, state: &State, topic: &str, payload: String) {
        let message = Message {
            topic: state.settings.topic(topic),
            payload,
        };
        if state.link.push(message) {
            gst::element_imp_warning!(
                self,
                gst::ResourceError::NoSpaceLeft,
                ["The queue for the broker is full: its oldest messages are dropped"]
            );
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for NfbmrPublish {
    const NAME: &'static str = "GstNfbmrPublish";
    type Type = super::NfbmrPublish;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for NfbmrPublish {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(Settings::properties);
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        crate::lock(&self.settings).set(pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        crate::lock(&self.settings).get(pspec.name())
    }
}

impl GstObjectImpl for NfbmrPublish {}

impl ElementImpl for NfbmrPublish {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "NF-BMR results to MQTT",
                "Filter/Video",
                "Publishes the verdicts and defect events of an upstream nfbmr to an MQTT broker, queueing \
                 them while the broker is away; passes the stream through",
                "nfbmr developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(|| crate::sink_and_src_templates(&gst::Caps::new_any()));
        PAD_TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for NfbmrPublish {
    const MODE: BaseTransformMode = BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = true;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = true;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = crate::lock(&self.settings).clone();
        let options = settings
            .mqtt_options()
            .map_err(|problem| gst::error_msg!(gst::ResourceError::Settings, ["{problem}"]))?;
        let reported = Arc::new(AtomicU64::new(0));
        let link = Link::open(
            options,
            settings.qos(),
            settings.bounds(),
            settings.topic("status"),
            status(&settings.station_id, false, None),
            FIRST_ANSWER,
            self.reporter(Arc::clone(&reported)),
        )
        .map_err(|refused| {
            gst::error_msg!(
                gst::ResourceError::OpenWrite,
                ["Cannot publish to {}: {}", settings.broker, refused.0]
            )
        })?;
        link.set_status(status(&settings.station_id, true, None));
        *crate::lock(&self.state) = Some(State {
            settings,
            link,
            frames: 0,
            status: None,
            model_id: String::new(),
            reported,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(state) = crate::lock(&self.state).take() {
            let offline = status(&state.settings.station_id, false, None);
            let dropped = state.link.close(offline, DRAIN);
            self.report_drops(&state.reported, dropped);
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::CustomDownstream(custom) = event.view()
            && let Some(structure) = custom.structure().filter(|s| s.name() == "nfbmr-event")
            && let Some(state) = crate::lock(&self.state).as_ref()
        {
            let mut line = crate::structure_to_json(structure);
            line.insert("model-id".into(), state.model_id.clone().into());
            self.queue(state, "events", Value::Object(line).to_string());
        }
        self.parent_sink_event(event)
    }

    fn transform_ip_passthrough(
        &self,
        buffer: &gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = crate::lock(&self.state);
        let Some(state) = guard.as_mut() else {
            return Err(gst::FlowError::Flushing);
        };
        let frame = state.frames;
        state.frames += 1;
        let Some(meta) = NfbmrMeta::from_buffer(buffer) else {
            return Ok(gst::FlowSuccess::Ok);
        };
        state.model_id.clone_from(&meta.model_id);
        if state.status.as_ref() != Some(&(meta.model_id.clone(), meta.threshold)) {
            let model = Some((meta.model_id.as_str(), meta.threshold));
            state
                .link
                .set_status(status(&state.settings.station_id, true, model));
            state.status = Some((meta.model_id.clone(), meta.threshold));
        }
        let wanted = match state.settings.publish {
            Publish::Frames => meta.inferred,
            Publish::Anomalies => meta.inferred && meta.is_anomaly,
            Publish::Events => false,
        };
        if wanted {
            let segment = self.obj().segment();
            let running_time = segment
                .downcast_ref::<gst::ClockTime>()
                .and_then(|segment| segment.to_running_time(buffer.pts()?));
            let line = frame_line(frame, buffer, &meta, running_time);
            self.queue(state, "frames", line.to_string());
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
