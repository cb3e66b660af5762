// SPDX-License-Identifier: MIT OR Apache-2.0
#![allow(clippy::non_send_fields_in_send_ty, unused_doc_comments)]

/**
 * plugin-nfbmr:
 *
 * Finds visual defects in live video with NF-BMR models trained on good parts only.
 *
 * Since: 0.1.0
 */
pub mod meta;
mod nfbmr;
mod nfbmrclips;
mod nfbmrpublish;

pub use meta::NfbmrMeta;
pub use nfbmr::{Colormap, Device, Nfbmr};
pub use nfbmrclips::NfbmrClips;
pub use nfbmrpublish::{NfbmrPublish, Publish};

use gst::prelude::*;

/// Locks `mutex`, even one a panic poisoned. gst-rs turns a panic in an element's virtual method into an
/// element error and stops calling that element's methods; what may still run (a signal handler, the
/// application reading a property) must not panic again and take the process down.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An event structure's fields as JSON (clock times in nanoseconds, none as null).
pub(crate) fn structure_to_json(
    structure: &gst::StructureRef,
) -> serde_json::Map<String, serde_json::Value> {
    structure
        .iter()
        .map(|(name, value)| {
            let json = if let Ok(v) = value.get::<u64>() {
                if v == u64::MAX {
                    serde_json::Value::Null
                } else {
                    v.into()
                }
            } else if let Ok(v) = value.get::<f64>() {
                v.into()
            } else if let Ok(v) = value.get::<u32>() {
                v.into()
            } else if let Ok(v) = value.get::<&str>() {
                v.into()
            } else if let Ok(v) = value.get::<gst::Structure>() {
                serde_json::Value::Object(structure_to_json(&v))
            } else {
                serde_json::Value::Null
            };
            (name.to_string(), json)
        })
        .collect()
}

/// The always-present `sink` and `src` pads of a filter, both of `caps`.
pub(crate) fn sink_and_src_templates(caps: &gst::Caps) -> Vec<gst::PadTemplate> {
    [
        ("src", gst::PadDirection::Src),
        ("sink", gst::PadDirection::Sink),
    ]
    .into_iter()
    .map(|(name, direction)| {
        gst::PadTemplate::new(name, direction, gst::PadPresence::Always, caps).unwrap()
    })
    .collect()
}

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    meta::register();
    nfbmr::register(plugin)?;
    nfbmrclips::register(plugin)?;
    nfbmrpublish::register(plugin)?;
    register_fallbacksrc(plugin)
}

/// Registers gst-plugins-rs' `fallbacksrc` and `fallbackswitch` as features of this plugin, so that the
/// registry remembers them and `gst-launch-1.0 fallbacksrc …` works on a station with nothing else installed;
/// skipped when another plugin already provides them.
fn register_fallbacksrc(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    let elsewhere = gst::ElementFactory::find("fallbacksrc").is_some_and(|factory| {
        factory
            .plugin_name()
            .is_some_and(|name| name != plugin.plugin_name())
    });
    if elsewhere {
        return Ok(());
    }
    // SAFETY: the descriptor is a static of the linked crate, and its `plugin_init` only registers element
    // types with the plugin it is given, which is alive for this whole call.
    let registered = unsafe {
        let descriptor = &*gstfallbackswitch::plugin_desc::gst_plugin_fallbackswitch_get_desc();
        descriptor.plugin_init.is_some_and(|init| {
            init(glib::translate::ToGlibPtr::to_glib_none(plugin).0) != glib::ffi::GFALSE
        })
    };
    if registered {
        Ok(())
    } else {
        Err(glib::bool_error!("Failed to register fallbacksrc"))
    }
}

gst::plugin_define!(
    nfbmr,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
