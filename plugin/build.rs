// SPDX-License-Identifier: MIT OR Apache-2.0
include!("../scripts/link_libtorch.rs");

fn main() {
    gst_plugin_version_helper::info();
    // gst-launch-1.0 loads the plugin with no LD_LIBRARY_PATH.
    link_libtorch();
}
