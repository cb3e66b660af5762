// SPDX-License-Identifier: MIT OR Apache-2.0
//! `NfbmrMeta`: the verdict a frame carries downstream, as a `GstCustomMeta` whose structure is named
//! `NfbmrMeta`, and its typed Rust accessor for applications.
//!
//! Fields of the structure (all always present):
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `score` | double | `raw-score / threshold`: 1.0 is the decision boundary |
//! | `raw-score` | double | maximum of the anomaly map, model units |
//! | `threshold` | double | decision threshold in model units |
//! | `is-anomaly` | boolean | `score >= 1` |
//! | `inferred` | boolean | false on frames skipped by `inference-interval`, which carry the last result |
//! | `event-id` | uint64 | the defect event in progress (`nfbmr-event`), 0 outside one |
//! | `model-id` | string | first 12 hex digits of the model file's SHA-256 |
//! | `map-width`, `map-height` | uint | size of the low-resolution anomaly map |
//! | `map` | GBytes | the map, row-major little-endian f32, normalised like `score` (1.0 = threshold) |
//!
//! The meta is registered with the `video` tag and a transform that copies it unchanged (the map is
//! resolution-independent), so it survives `queue`, `tee`, `videoconvert`, `videoscale` and encoders.

/// Name of the custom meta and of its structure.
pub const META_NAME: &str = "NfbmrMeta";
/// GST_META_TAG_VIDEO_STR: elements keep metas tagged only "video" across conversions of the picture.
const VIDEO_TAG: &str = "video";

/// The typed content of an `NfbmrMeta`.
#[derive(Clone, Debug, PartialEq)]
pub struct NfbmrMeta {
    pub score: f64,
    pub raw_score: f64,
    pub threshold: f64,
    pub is_anomaly: bool,
    pub inferred: bool,
    /// The defect event in progress, 0 outside one.
    pub event_id: u64,
    pub model_id: String,
    pub map_width: u32,
    pub map_height: u32,
    /// Row-major, normalised so that 1.0 is the threshold.
    pub map: Vec<f32>,
}

/// Registers the meta once per process (the plugin does it when it loads).
pub fn register() {
    if gst::meta::CustomMeta::is_registered(META_NAME) {
        return;
    }
    gst::meta::CustomMeta::register_with_transform(
        META_NAME,
        &[VIDEO_TAG],
        |destination, meta, _source, _transform| {
            let copied = meta.structure().to_owned();
            match gst::meta::CustomMeta::add(destination, META_NAME) {
                Ok(mut added) => {
                    for (field, value) in copied.iter() {
                        added.mut_structure().set_value(field, value.clone());
                    }
                    true
                }
                Err(_) => false,
            }
        },
    );
}

impl NfbmrMeta {
    /// Attaches the meta to a buffer (replacing nothing: call once per buffer).
    pub fn add(&self, buffer: &mut gst::BufferRef) -> Result<(), glib::BoolError> {
        let mut meta = gst::meta::CustomMeta::add(buffer, META_NAME)?;
        let s = meta.mut_structure();
        set_decision(
            s,
            self.score,
            self.raw_score,
            self.threshold,
            self.is_anomaly,
        );
        s.set("inferred", self.inferred);
        s.set("event-id", self.event_id);
        s.set("model-id", &self.model_id);
        s.set("map-width", self.map_width);
        s.set("map-height", self.map_height);
        let bytes: Vec<u8> = self.map.iter().flat_map(|v| v.to_le_bytes()).collect();
        s.set("map", glib::Bytes::from_owned(bytes));
        Ok(())
    }

    /// Reads the meta of a buffer, if it has one.
    pub fn from_buffer(buffer: &gst::BufferRef) -> Option<Self> {
        let meta = gst::meta::CustomMeta::from_buffer(buffer, META_NAME).ok()?;
        Self::try_from(meta.structure()).ok()
    }
}

/// Sets the fields that the meta and the `nfbmr` bus message share: `score`, `raw-score`, `threshold` and
/// `is-anomaly`.
pub(crate) fn set_decision(
    s: &mut gst::StructureRef,
    score: f64,
    raw_score: f64,
    threshold: f64,
    is_anomaly: bool,
) {
    s.set("score", score);
    s.set("raw-score", raw_score);
    s.set("threshold", threshold);
    s.set("is-anomaly", is_anomaly);
}

impl TryFrom<&gst::StructureRef> for NfbmrMeta {
    type Error = glib::BoolError;

    fn try_from(s: &gst::StructureRef) -> Result<Self, Self::Error> {
        fn field<'a, T: glib::value::FromValue<'a>>(
            s: &'a gst::StructureRef,
            name: &str,
        ) -> Result<T, glib::BoolError> {
            s.get(name)
                .map_err(|e| glib::bool_error!("{META_NAME} field '{name}': {e}"))
        }
        let bytes: glib::Bytes = field(s, "map")?;
        Ok(NfbmrMeta {
            score: field(s, "score")?,
            raw_score: field(s, "raw-score")?,
            threshold: field(s, "threshold")?,
            is_anomaly: field(s, "is-anomaly")?,
            inferred: field(s, "inferred")?,
            event_id: field(s, "event-id")?,
            model_id: field(s, "model-id")?,
            map_width: field(s, "map-width")?,
            map_height: field(s, "map-height")?,
            map: bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        })
    }
}
