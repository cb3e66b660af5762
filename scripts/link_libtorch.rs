// SPDX-License-Identifier: MIT OR Apache-2.0
// Included by both build scripts (the core crate's, for the CLI, and the plugin's): links libtorch so that
// CUDA is really used when present and binaries find libtorch without LD_LIBRARY_PATH.

/// Records libtorch's directory as an rpath and, when this libtorch has CUDA, keeps libtorch_cuda linked
/// despite --as-needed (nothing references it by symbol, yet it is what registers the CUDA backend). A
/// CPU-only libtorch has no libtorch_cuda to link.
fn link_libtorch() {
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    if std::path::Path::new(&lib).join("libtorch_cuda.so").is_file() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,-ltorch,--as-needed");
    }
}
