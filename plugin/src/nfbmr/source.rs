// SPDX-License-Identifier: MIT OR Apache-2.0
//! The camera's health, as the reconnecting source upstream reports it (gst-plugins-rs `fallbacksrc`,
//! whose `status` is running, buffering, retrying or stopped). A camera that reboots or a cable pulled is an
//! outage: it starts when the source, having run, stops running, or when it retries before it ever ran (a
//! camera unreachable at start-up); it ends when the source runs again or, when the source substitutes no
//! picture of its own (no dummy, no fallback), at the first frame after it restarted the camera: every frame
//! is then the camera's. Frames during an outage are not scored.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gst::glib;
use gst::prelude::*;
use serde::Serialize;

/// The factory of the reconnecting source this element follows.
const RECONNECTING_SOURCE: &str = "fallbacksrc";

/// The status nick of a source that delivers the camera's frames.
const RUNNING: &str = "running";
/// The status nick of a source waiting to restart the camera.
const RETRYING: &str = "retrying";

/// A reconnecting source whose status notifications the element follows.
pub struct SourceWatch {
    source: gst::Element,
    handler: Option<glib::SignalHandlerId>,
}

impl SourceWatch {
    /// Calls `changed` with the source's status nick at every change of it.
    pub fn follow(source: gst::Element, changed: impl Fn(&str) + Send + Sync + 'static) -> Self {
        let handler = source.connect_notify(Some("status"), move |source, _| {
            if let Some(status) = status_of(source) {
                changed(&status);
            }
        });
        SourceWatch {
            source,
            handler: Some(handler),
        }
    }

    pub fn name(&self) -> glib::GString {
        self.source.name()
    }

    /// Whether the source takes the camera's end of stream as a drop, rather than passing it on as the end.
    pub fn restarts_on_eos(&self) -> bool {
        self.source.property::<bool>("restart-on-eos")
    }

    /// Whether the source fills outages with a picture of its own (its dummy, or its fallback URI).
    pub fn substitutes_pictures(&self) -> bool {
        self.source.property::<bool>("enable-dummy")
            || self
                .source
                .property::<Option<String>>("fallback-uri")
                .is_some()
    }
}

impl Drop for SourceWatch {
    fn drop(&mut self) {
        if let Some(handler) = self.handler.take() {
            self.source.disconnect(handler);
        }
    }
}

fn status_of(source: &gst::Element) -> Option<String> {
    let value = source.property_value("status");
    let (_, status) = glib::EnumValue::from_value(&value)?;
    Some(status.nick().to_owned())
}

fn is_reconnecting_source(element: &gst::Element) -> bool {
    element
        .factory()
        .is_some_and(|factory| factory.name() == RECONNECTING_SOURCE)
}

/// The reconnecting source feeding `element`: the one found by following its sink pads upstream, else the
/// only one in its pipeline (a source's pads appear only once it knows its streams, after this is asked).
pub fn reconnecting_source_of(element: &gst::Element) -> Option<gst::Element> {
    if let Some(source) = upstream(element, 0) {
        return Some(source);
    }
    let mut top = element.clone().upcast::<gst::Object>();
    while let Some(parent) = top.parent() {
        top = parent;
    }
    let pipeline = top.downcast::<gst::Bin>().ok()?;
    let mut found = pipeline
        .iterate_recurse()
        .into_iter()
        .filter_map(Result::ok)
        .filter(is_reconnecting_source);
    let only = found.next()?;
    found.next().is_none().then_some(only)
}

fn upstream(element: &gst::Element, depth: usize) -> Option<gst::Element> {
    // Deep enough for any chain of converters, queues and tees; bounded against loops.
    if depth > 32 {
        return None;
    }
    element.sink_pads().iter().find_map(|pad| {
        let peer = pad.peer()?.parent_element()?;
        if is_reconnecting_source(&peer) {
            Some(peer)
        } else {
            upstream(&peer, depth + 1)
        }
    })
}

/// A start or end of an outage: an `nfbmr-outage` bus message and a JSON line.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct OutageRecord {
    /// `start` or `end`.
    pub outage: &'static str,
    /// Increasing from 1 for each element.
    pub id: u64,
    /// The source's status when the record was made.
    pub status: String,
    /// Wall clock, UNIX seconds.
    pub timestamp: f64,
    /// Seconds the outage lasted; on `end` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
}

/// Outages from status changes and frames.
#[derive(Debug, Default)]
pub struct Outages {
    /// Whether frames during an outage may be a stand-in picture rather than the camera's.
    stand_ins: bool,
    has_run: bool,
    status: String,
    /// The outage in progress: its id and when it started.
    open: Option<(u64, SystemTime)>,
    last_id: u64,
}

impl Outages {
    /// No outage yet, from a source that fills outages with `stand_ins` pictures of its own or not.
    pub fn new(stand_ins: bool) -> Self {
        Outages {
            stand_ins,
            ..Outages::default()
        }
    }

    /// Whether frames are the camera's and scored: not during an outage.
    pub fn scoring(&self) -> bool {
        self.open.is_none()
    }

    /// Takes the status the source changed to at `now`; a record when an outage starts or ends.
    pub fn observe(&mut self, status: &str, now: SystemTime) -> Option<OutageRecord> {
        status.clone_into(&mut self.status);
        let running = status == RUNNING;
        match self.open {
            None if running => {
                self.has_run = true;
                None
            }
            // The source stopping with the pipeline, or buffering as it first connects, is no outage.
            None if status == "stopped" || (!self.has_run && status != RETRYING) => None,
            None => {
                self.last_id += 1;
                self.open = Some((self.last_id, now));
                Some(self.record("start", self.last_id, now, None))
            }
            Some(_) if running => self.end(now),
            Some(_) => None,
        }
    }

    /// Takes a frame arriving at `now`; a record when it ends an outage: a frame after the source restarted
    /// the camera, from a source with no stand-in picture.
    pub fn frame_arrived(&mut self, now: SystemTime) -> Option<OutageRecord> {
        if self.open.is_none() || self.stand_ins || self.status == RETRYING {
            return None;
        }
        self.end(now)
    }

    fn end(&mut self, now: SystemTime) -> Option<OutageRecord> {
        let (id, since) = self.open.take()?;
        self.has_run = true;
        let lasted = now.duration_since(since).unwrap_or_default();
        Some(self.record("end", id, now, Some(lasted)))
    }

    fn record(
        &self,
        outage: &'static str,
        id: u64,
        now: SystemTime,
        duration: Option<Duration>,
    ) -> OutageRecord {
        OutageRecord {
            outage,
            id,
            status: self.status.clone(),
            timestamp: now
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64(),
            duration: duration.map(|d| d.as_secs_f64()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(outages: &mut Outages, statuses: &[&str]) -> Vec<(&'static str, u64)> {
        let start = UNIX_EPOCH + Duration::from_secs(1000);
        statuses
            .iter()
            .enumerate()
            .filter_map(|(i, status)| {
                outages.observe(status, start + Duration::from_secs(i as u64))
            })
            .map(|record| (record.outage, record.id))
            .collect()
    }

    #[test]
    fn a_camera_that_drops_and_returns_is_one_outage_per_drop() {
        let mut outages = Outages::default();
        let records = feed(
            &mut outages,
            &[
                "stopped",
                "buffering",
                "running",
                "retrying",
                "retrying",
                "buffering",
                "running",
                "buffering",
                "running",
                "stopped",
            ],
        );
        assert_eq!(
            records,
            [("start", 1), ("end", 1), ("start", 2), ("end", 2)]
        );
        assert!(outages.scoring());
    }

    #[test]
    fn without_stand_in_pictures_the_first_frame_after_a_restart_ends_an_outage() {
        let mut outages = Outages::default();
        feed(&mut outages, &["buffering", "running", "retrying"]);
        // Frames still in flight when the camera went away.
        assert!(outages.frame_arrived(UNIX_EPOCH).is_none());
        assert!(!outages.scoring());
        assert!(outages.observe("buffering", UNIX_EPOCH).is_none());
        let end = outages.frame_arrived(UNIX_EPOCH).unwrap();
        assert_eq!(
            (end.outage, end.id, end.status.as_str()),
            ("end", 1, "buffering")
        );
        assert!(outages.scoring());
        assert!(outages.observe("running", UNIX_EPOCH).is_none());
        // A source with a stand-in picture: only its status ends an outage.
        let mut outages = Outages::new(true);
        feed(
            &mut outages,
            &["buffering", "running", "retrying", "buffering"],
        );
        assert!(outages.frame_arrived(UNIX_EPOCH).is_none());
        assert!(outages.observe("running", UNIX_EPOCH).is_some());
    }

    #[test]
    fn an_unreachable_camera_at_start_up_is_an_outage_until_it_runs() {
        let mut outages = Outages::default();
        assert!(feed(&mut outages, &["buffering"]).is_empty());
        assert!(outages.scoring());
        let start = outages.observe("retrying", UNIX_EPOCH).unwrap();
        assert_eq!((start.outage, start.id, start.duration), ("start", 1, None));
        assert!(!outages.scoring());
        assert!(outages.observe("buffering", UNIX_EPOCH).is_none());
        let end = outages
            .observe("running", UNIX_EPOCH + Duration::from_millis(2500))
            .unwrap();
        assert_eq!((end.outage, end.id, end.duration), ("end", 1, Some(2.5)));
        assert!(outages.scoring());
    }
}
