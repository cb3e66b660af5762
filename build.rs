// SPDX-License-Identifier: MIT OR Apache-2.0
// Link libtorch so that CUDA is really used when present and binaries find it without LD_LIBRARY_PATH:
// keep libtorch_cuda despite --as-needed, and record libtorch's directory as an rpath.
fn main() {
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,-ltorch,--as-needed");
}
