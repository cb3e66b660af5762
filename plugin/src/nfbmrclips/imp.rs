// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `nfbmrclips` element: passes an encoded stream through, keeps its last seconds in a ring of whole
//! GOPs, and writes one clip per defect event that an upstream `nfbmr` announces in-band.

use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};
use std::thread::JoinHandle;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::BaseTransformMode;
use gst_base::subclass::prelude::*;
use serde_json::{Map, Value};

use super::clip::Clip;
use super::ring::{Ring, Timed};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "nfbmrclips",
        gst::DebugColorFlags::empty(),
        Some("NF-BMR defect clips"),
    )
});

/// The in-band event `nfbmr` sends downstream at each defect event's start and end.
const EVENT_NAME: &str = "nfbmr-event";

const DEFAULT_LOCATION: &str = "clip-%05d.mkv";
const DEFAULT_PRE_ROLL: gst::ClockTime = gst::ClockTime::from_seconds(5);
const DEFAULT_POST_ROLL: gst::ClockTime = gst::ClockTime::from_seconds(5);
const DEFAULT_MAX_RING_BYTES: u64 = 256 << 20;
const DEFAULT_MUXER: &str = "matroskamux";

#[derive(Clone, Debug)]
struct Settings {
    location: String,
    pre_roll: gst::ClockTime,
    post_roll: gst::ClockTime,
    max_ring_bytes: u64,
    muxer: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            location: DEFAULT_LOCATION.to_owned(),
            pre_roll: DEFAULT_PRE_ROLL,
            post_roll: DEFAULT_POST_ROLL,
            max_ring_bytes: DEFAULT_MAX_RING_BYTES,
            muxer: DEFAULT_MUXER.to_owned(),
        }
    }
}

struct State {
    settings: Settings,
    ring: Ring,
    caps: Option<gst::Caps>,
    /// Clips being written: their event id and the clip.
    open: Vec<(u64, Clip)>,
    /// Clips being finished on threads of their own.
    finishing: Vec<JoinHandle<Result<PathBuf, String>>>,
}

#[derive(Default)]
pub struct NfbmrClips {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

/// `location` with the event id in place of its printf-style `%d` (`%05d`, …).
fn clip_path(location: &str, id: u64) -> PathBuf {
    let Some(at) = location.find('%') else {
        return PathBuf::from(location);
    };
    let rest = &location[at + 1..];
    let Some(d) = rest.find('d') else {
        return PathBuf::from(location);
    };
    let width: usize = rest[..d].trim_start_matches('0').parse().unwrap_or(0);
    PathBuf::from(format!("{}{id:0width$}{}", &location[..at], &rest[d + 1..]))
}

impl NfbmrClips {
    fn warn(&self, problem: &str) {
        gst::element_imp_warning!(self, gst::ResourceError::Write, ["{problem}"]);
    }

    fn on_event(&self, state: &mut State, event: &gst::StructureRef) {
        let fields = crate::structure_to_json(event);
        let id = fields.get("id").and_then(Value::as_u64).unwrap_or_default();
        match fields.get("event").and_then(Value::as_str) {
            Some("start") => self.open_clip(state, id, fields),
            Some("end") => {
                let post_roll = state.settings.post_roll;
                if let Some((_, clip)) = state.open.iter_mut().find(|(open, _)| *open == id) {
                    clip.event_ended(fields, post_roll);
                }
            }
            _ => {}
        }
    }

    fn open_clip(&self, state: &mut State, id: u64, start: Map<String, Value>) {
        let Some(caps) = &state.caps else { return };
        let path = clip_path(&state.settings.location, id);
        let time = start.get("running-time").and_then(Value::as_u64);
        let from = gst::ClockTime::from_nseconds(time.unwrap_or_default())
            .saturating_sub(state.settings.pre_roll);
        let opened = Clip::open(path.clone(), caps, &state.settings.muxer, start);
        let mut clip = match opened {
            Ok(clip) => clip,
            Err(err) => return self.warn(&format!("Cannot write clip {}: {err}", path.display())),
        };
        for buffer in state.ring.since(from) {
            if clip.push(buffer).is_err() {
                return self.warn(&format!("Cannot write clip {}", path.display()));
            }
        }
        gst::info!(CAT, imp = self, "Clip {} for event {id}", path.display());
        state.open.push((id, clip));
    }

    /// Gives a buffer to every open clip, and finishes those it comes after.
    fn feed_clips(&self, state: &mut State, timed: &Timed) {
        let (complete, open): (Vec<_>, Vec<_>) = std::mem::take(&mut state.open)
            .into_iter()
            .partition(|(_, clip)| clip.is_complete_before(timed.0));
        state.open = open;
        for (_, clip) in complete {
            state
                .finishing
                .push(std::thread::spawn(move || clip.finish()));
        }
        let mut failed = Vec::new();
        for (id, clip) in &mut state.open {
            if clip.push(timed).is_err() {
                failed.push(*id);
                self.warn(&format!("Cannot write clip {}", clip.path.display()));
            }
        }
        state.open.retain(|(id, _)| !failed.contains(id));
    }

    /// Finishes every clip (at EOS, or when stopping), waiting for each file to be complete.
    fn finish_all(&self, state: &mut State) {
        let open = std::mem::take(&mut state.open);
        let finished = open.into_iter().map(|(_, clip)| clip.finish());
        let joined = std::mem::take(&mut state.finishing)
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err("clip writer panicked".into()))
            });
        for result in finished.collect::<Vec<_>>().into_iter().chain(joined) {
            match result {
                Ok(path) => gst::info!(CAT, imp = self, "Wrote {}", path.display()),
                Err(err) => self.warn(&format!("Cannot write clip {err}")),
            }
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for NfbmrClips {
    const NAME: &'static str = "GstNfbmrClips";
    type Type = super::NfbmrClips;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for NfbmrClips {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("location")
                    .nick("Location")
                    .blurb("Clip files, with %d (or %05d, …) for the event id; the JSON goes beside each, as .json")
                    .default_value(Some(DEFAULT_LOCATION))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("pre-roll")
                    .nick("Pre-roll")
                    .blurb("Time before an event's start that its clip begins at, in ns (from the keyframe before)")
                    .default_value(DEFAULT_PRE_ROLL.nseconds())
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("post-roll")
                    .nick("Post-roll")
                    .blurb("Time after an event's end that its clip ends at, in ns")
                    .default_value(DEFAULT_POST_ROLL.nseconds())
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("max-ring-bytes")
                    .nick("Maximum ring bytes")
                    .blurb("Bound on the encoded frames kept for pre-roll (the current GOP is always kept)")
                    .minimum(1)
                    .default_value(DEFAULT_MAX_RING_BYTES)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("muxer")
                    .nick("Muxer")
                    .blurb("Factory name of the muxer writing clips")
                    .default_value(Some(DEFAULT_MUXER))
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = crate::lock(&self.settings);
        match pspec.name() {
            "location" => {
                settings.location = value.get::<Option<String>>().unwrap().unwrap_or_default()
            }
            "pre-roll" => settings.pre_roll = gst::ClockTime::from_nseconds(value.get().unwrap()),
            "post-roll" => settings.post_roll = gst::ClockTime::from_nseconds(value.get().unwrap()),
            "max-ring-bytes" => settings.max_ring_bytes = value.get().unwrap(),
            "muxer" => settings.muxer = value.get::<Option<String>>().unwrap().unwrap_or_default(),
            name => unreachable!("no property {name}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = crate::lock(&self.settings);
        match pspec.name() {
            "location" => settings.location.to_value(),
            "pre-roll" => settings.pre_roll.nseconds().to_value(),
            "post-roll" => settings.post_roll.nseconds().to_value(),
            "max-ring-bytes" => settings.max_ring_bytes.to_value(),
            "muxer" => settings.muxer.to_value(),
            name => unreachable!("no property {name}"),
        }
    }
}

impl GstObjectImpl for NfbmrClips {}

impl ElementImpl for NfbmrClips {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "NF-BMR defect clips",
                "Filter/Video",
                "Writes one playable clip per defect event of an upstream nfbmr, from pre-roll before its \
                 start to post-roll after its end, from a ring of encoded frames; passes the stream through",
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

impl BaseTransformImpl for NfbmrClips {
    const MODE: BaseTransformMode = BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = true;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = true;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = crate::lock(&self.settings).clone();
        let folder = clip_path(&settings.location, 0)
            .parent()
            .map(|p| p.to_owned())
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        let writable =
            std::fs::metadata(&folder).is_ok_and(|m| m.is_dir() && !m.permissions().readonly());
        if !writable {
            return Err(gst::error_msg!(
                gst::ResourceError::OpenWrite,
                [
                    "Cannot write clips to {}: not a writable folder",
                    folder.display()
                ]
            ));
        }
        let first = clip_path(&settings.location, 1);
        if first.exists() {
            return Err(gst::error_msg!(
                gst::ResourceError::OpenWrite,
                [
                    "Clip {} exists already: choose another location, clips are never overwritten",
                    first.display()
                ]
            ));
        }
        if gst::ElementFactory::find(&settings.muxer).is_none() {
            return Err(gst::error_msg!(
                gst::CoreError::MissingPlugin,
                ["No muxer {}", settings.muxer]
            ));
        }
        let keep = settings.pre_roll;
        let max_bytes = usize::try_from(settings.max_ring_bytes).unwrap_or(usize::MAX);
        *crate::lock(&self.state) = Some(State {
            settings,
            ring: Ring::new(keep, max_bytes),
            caps: None,
            open: Vec::new(),
            finishing: Vec::new(),
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(mut state) = crate::lock(&self.state).take() {
            self.finish_all(&mut state);
        }
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        if let Some(state) = crate::lock(&self.state).as_mut() {
            // Frames of other caps cannot join the clips written so far.
            self.finish_all(state);
            state.ring.clear();
            state.caps = Some(incaps.clone());
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        let mut guard = crate::lock(&self.state);
        if let Some(state) = guard.as_mut() {
            match event.view() {
                gst::EventView::CustomDownstream(custom) => {
                    if let Some(s) = custom.structure().filter(|s| s.name() == EVENT_NAME) {
                        self.on_event(state, s);
                    }
                }
                // Complete every clip before the pipeline ends.
                gst::EventView::Eos(_) => self.finish_all(state),
                _ => {}
            }
        }
        drop(guard);
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
        // Events are dated in running time: encoders may shift timestamps (x264enc by 1000 hours).
        let segment = self.obj().segment();
        let time = segment
            .downcast_ref::<gst::ClockTime>()
            .and_then(|segment| segment.to_running_time(buffer.pts()?));
        let timed = (time, buffer.clone());
        self.feed_clips(state, &timed);
        state.ring.push(timed);
        Ok(gst::FlowSuccess::Ok)
    }
}
