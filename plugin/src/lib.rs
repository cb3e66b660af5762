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

pub use meta::NfbmrMeta;
pub use nfbmr::{Colormap, Device, Nfbmr};

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    meta::register();
    nfbmr::register(plugin)
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
