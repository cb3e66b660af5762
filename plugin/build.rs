// SPDX-License-Identifier: MIT OR Apache-2.0
fn main() {
    gst_plugin_version_helper::info();
    // gst-launch-1.0 loads the plugin with no LD_LIBRARY_PATH: record libtorch's directory as an rpath, and
    // keep libtorch_cuda linked despite --as-needed so that CUDA is found when the machine has it.
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,-ltorch,--as-needed");
}
