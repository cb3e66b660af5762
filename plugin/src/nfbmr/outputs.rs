// SPDX-License-Identifier: MIT OR Apache-2.0
//! Where a frame's verdict goes: `NfbmrMeta` and region metas on the buffer, the `nfbmr` bus message and
//! a JSON line. Each is a rendering of the same [`Verdict`]; none decides anything.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use gst::prelude::*;
use serde::Serialize;

use nfbmr::events::Event;
use nfbmr::{FrameRegion, Verdict};

use super::source::OutageRecord;
use crate::meta::{NfbmrMeta, set_decision};

/// ROI type and param structure name of defect regions.
pub const REGION_TYPE: &str = "nfbmr-defect";
/// Side of the anomaly map carried in `NfbmrMeta` (the model's map, max-pooled).
const META_MAP_SIZE: usize = 64;

/// One frame's verdict with what places it in the stream.
pub struct Report<'a> {
    pub verdict: &'a Verdict,
    /// False on frames skipped by `inference-interval`, which carry the last verdict.
    pub inferred: bool,
    /// The defect event in progress.
    pub event_id: Option<u64>,
    pub model_id: &'a str,
    pub pts: Option<gst::ClockTime>,
    pub running_time: Option<gst::ClockTime>,
}

impl Report<'_> {
    /// Attaches `NfbmrMeta` and one region-of-interest meta per defect region.
    pub fn attach(&self, buffer: &mut gst::BufferRef) -> Result<(), glib::BoolError> {
        let verdict = self.verdict;
        let map = verdict.normalised_map(META_MAP_SIZE);
        NfbmrMeta {
            score: verdict.score,
            raw_score: verdict.raw_score,
            threshold: verdict.threshold,
            is_anomaly: verdict.is_anomaly,
            inferred: self.inferred,
            event_id: self.event_id.unwrap_or(0),
            model_id: self.model_id.to_owned(),
            map_width: map.width as u32,
            map_height: map.height as u32,
            map: map.values,
        }
        .add(buffer)?;
        for region in &verdict.regions {
            let mut roi = gst_video::VideoRegionOfInterestMeta::add(
                buffer,
                REGION_TYPE,
                (region.x, region.y, region.width, region.height),
            );
            roi.add_param(
                gst::Structure::builder(REGION_TYPE)
                    .field("score", region.score)
                    .build(),
            );
        }
        Ok(())
    }

    /// The element message `nfbmr`.
    pub fn message(&self) -> gst::Structure {
        let verdict = self.verdict;
        let regions: gst::Array = verdict
            .regions
            .iter()
            .map(|r| region_structure(r).to_send_value())
            .collect();
        let mut message = gst::Structure::builder("nfbmr")
            .field("timestamp", self.pts)
            .field("running-time", self.running_time)
            .build();
        set_decision(
            &mut message,
            verdict.score,
            verdict.raw_score,
            verdict.threshold,
            verdict.is_anomaly,
        );
        message.set("regions", regions);
        message
    }

    /// The JSON line of the `frame`th scored frame.
    pub fn json_line(&self, frame: u64) -> String {
        let wall_clock = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        let line = JsonLine {
            frame,
            pts: self.pts.map(gst::ClockTime::nseconds),
            running_time: self.running_time.map(gst::ClockTime::nseconds),
            timestamp: wall_clock,
            verdict: self.verdict,
            model_id: self.model_id,
        };
        serde_json::to_string(&line).expect("results serialise")
    }
}

/// The element message `nfbmr-event`.
pub fn event_message(event: &Event) -> gst::Structure {
    let time = |ns: Option<u64>| ns.map(gst::ClockTime::from_nseconds);
    let mut s = gst::Structure::new_empty("nfbmr-event");
    s.set("event", event.event);
    s.set("id", event.id);
    s.set("pts", time(event.at.pts));
    s.set("running-time", time(event.at.running_time));
    s.set("peak-score", event.peak_score);
    if event.event == "end" {
        s.set("peak-pts", time(event.peak_pts));
    }
    if let Some(region) = &event.region {
        s.set("region", region_structure(region));
    }
    s
}

/// The JSON line of an event: its fields, `event` among them, with the model's id.
pub fn event_line(event: &Event, model_id: &str) -> String {
    #[derive(Serialize)]
    struct Line<'a> {
        #[serde(flatten)]
        event: &'a Event,
        #[serde(rename = "model-id")]
        model_id: &'a str,
    }
    serde_json::to_string(&Line { event, model_id }).expect("events serialise")
}

/// The element message `nfbmr-outage`.
pub fn outage_message(record: &OutageRecord) -> gst::Structure {
    let mut s = gst::Structure::new_empty("nfbmr-outage");
    s.set("outage", record.outage);
    s.set("id", record.id);
    s.set("status", &record.status);
    s.set("timestamp", record.timestamp);
    if let Some(duration) = record.duration {
        s.set("duration", gst::ClockTime::from_seconds_f64(duration));
    }
    s
}

fn region_structure(region: &FrameRegion) -> gst::Structure {
    gst::Structure::builder("region")
        .field("x", region.x)
        .field("y", region.y)
        .field("width", region.width)
        .field("height", region.height)
        .field("score", region.score)
        .build()
}

/// A line of `results-location`: the verdict's fields with the frame's place in the stream.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct JsonLine<'a> {
    frame: u64,
    /// Nanoseconds.
    pts: Option<u64>,
    running_time: Option<u64>,
    /// Wall clock, UNIX seconds.
    timestamp: f64,
    #[serde(flatten)]
    verdict: &'a Verdict,
    model_id: &'a str,
}

/// Whether `line` is one the element writes: a verdict or an event (with `model-id`) or an outage.
fn is_results_line(line: &str) -> bool {
    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line)
        .is_ok_and(|fields| fields.contains_key("model-id") || fields.contains_key("outage"))
}

/// The `results-location` file, appended to a line per scored frame.
pub struct ResultsFile {
    pub path: PathBuf,
    writer: BufWriter<File>,
}

impl ResultsFile {
    /// Opens `path` to append to. A file that exists must be nfbmr results already (its first line one of
    /// the element's JSON lines), so that a mistyped path never appends to someone else's file; a device or
    /// a pipe (`/dev/stdout`) is written to as it is.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        use std::io::{BufRead, Error, ErrorKind};
        match std::fs::metadata(path) {
            Ok(found) if found.is_dir() => {
                return Err(Error::new(
                    ErrorKind::IsADirectory,
                    "it is a folder, not a file",
                ));
            }
            Ok(found) if found.is_file() && found.len() > 0 => {
                let mut first = String::new();
                std::io::BufReader::new(File::open(path)?).read_line(&mut first)?;
                if !is_results_line(&first) {
                    return Err(Error::new(
                        ErrorKind::AlreadyExists,
                        "it exists and does not hold nfbmr results, so it is left as it is; choose \
                         another path",
                    ));
                }
            }
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::NotFound => {
                let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
                if let Some(folder) = folder.filter(|folder| !folder.is_dir()) {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!("its folder {} does not exist", folder.display()),
                    ));
                }
            }
            Err(err) => return Err(err),
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(ResultsFile {
            path: path.to_owned(),
            writer: BufWriter::new(file),
        })
    }

    /// Appends a line and flushes it, so that a reader tailing the file sees every frame as it is scored.
    pub fn append(&mut self, line: &str) -> std::io::Result<()> {
        writeln!(self.writer, "{line}")?;
        self.writer.flush()
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}
