// SPDX-License-Identifier: MIT OR Apache-2.0
//! What the element announces beyond each frame's verdict: defect events (on the bus, in the JSON lines
//! and in-band for nfbmrclips) and camera outages (following the reconnecting source upstream).

use std::time::SystemTime;

use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;

use nfbmr::events::Event;

use super::super::outputs::{event_line, event_message, outage_message};
use super::super::source::{OutageRecord, SourceWatch, reconnecting_source_of};
use super::{CAT, Nfbmr};

impl Nfbmr {
    /// The stream ended: so does the defect event in progress.
    pub(super) fn end_open_event(&self) {
        let mut guard = crate::lock(&self.state);
        let Some(state) = guard.as_mut() else { return };
        let stream_end = state.stream_end;
        let Some(event) = state.events.finish(stream_end) else {
            return;
        };
        let model_id = state.engine.model().id.clone();
        drop(guard);
        self.write_result(&event_line(&event, &model_id));
        self.announce(&event);
    }

    /// A defect event's start or end: on the bus, and in-band ahead of the frame for nfbmrclips.
    pub(super) fn announce(&self, event: &Event) {
        let structure = event_message(event);
        let _ = self
            .obj()
            .src_pad()
            .push_event(gst::event::CustomDownstream::new(structure.clone()));
        self.post(structure);
    }

    /// Follows the reconnecting source upstream, if any: outages start and end with its status.
    pub(super) fn watch_source(&self) -> Option<SourceWatch> {
        let source = reconnecting_source_of(self.obj().upcast_ref())?;
        let element = self.obj().downgrade();
        let watch = SourceWatch::follow(source, move |status| {
            if let Some(element) = element.upgrade() {
                element.imp().source_status_changed(status);
            }
        });
        gst::info!(CAT, imp = self, "Following the status of {}", watch.name());
        if !watch.restarts_on_eos() {
            gst::warning!(
                CAT,
                imp = self,
                "{} has restart-on-eos=false: a camera that ends its stream ends the pipeline",
                watch.name()
            );
        }
        Some(watch)
    }

    fn source_status_changed(&self, status: &str) {
        let record = crate::lock(&self.outages).observe(status, SystemTime::now());
        if let Some(record) = record {
            self.report_outage(&record);
        }
    }

    /// Whether the frame arriving now is scored: not during an outage.
    pub(super) fn camera_frame(&self) -> bool {
        let mut outages = crate::lock(&self.outages);
        let record = outages.frame_arrived(SystemTime::now());
        let scoring = outages.scoring();
        drop(outages);
        if let Some(record) = record {
            self.report_outage(&record);
        }
        scoring
    }

    fn report_outage(&self, record: &OutageRecord) {
        self.write_result(&serde_json::to_string(&record).expect("outages serialise"));
        self.post(outage_message(record));
        if record.outage == "start" {
            gst::element_imp_warning!(
                self,
                gst::ResourceError::Read,
                [
                    "Camera unavailable (source {}): inspection paused until it is back",
                    record.status
                ]
            );
        } else {
            gst::element_imp_info!(
                self,
                gst::ResourceError::Read,
                [
                    "Camera back after {:.1} s: inspecting again",
                    record.duration.unwrap_or_default()
                ]
            );
        }
    }
}
