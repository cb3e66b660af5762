// SPDX-License-Identifier: MIT OR Apache-2.0
include!("scripts/link_libtorch.rs");

use std::path::{Path, PathBuf};

fn main() {
    link_libtorch();
    build_cuda_graphs();
}

/// Compiles `src/cuda_graph.cpp` (and sets `cfg(nfbmr_cuda_graphs)`) when the libtorch linked has CUDA and
/// the CUDA runtime's headers are found: in `CUDA_HOME` or /usr/local/cuda, or in the NVIDIA wheels beside a
/// PyPI torch (`nvidia-cuda-runtime` and `nvidia-cuda-crt`).
fn build_cuda_graphs() {
    println!("cargo::rustc-check-cfg=cfg(nfbmr_cuda_graphs)");
    println!("cargo:rerun-if-changed=src/cuda_graph.cpp");
    println!("cargo:rerun-if-env-changed=CUDA_HOME");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    let lib = PathBuf::from(lib);
    if !lib.join("libtorch_cuda.so").is_file() {
        return;
    }
    let torch = lib.parent().expect("libtorch's lib folder has a parent");
    let cuda = cuda_includes(torch);
    let found = |header: &str| cuda.iter().any(|dir| dir.join(header).is_file());
    if !found("cuda_runtime_api.h") || !found("crt/host_config.h") {
        println!(
            "cargo:warning=CUDA graphs are not built: no CUDA runtime headers (cuda_runtime_api.h and \
             crt/host_config.h) in CUDA_HOME, /usr/local/cuda or the NVIDIA wheels beside {}",
            torch.display()
        );
        return;
    }
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(torch.join("include"))
        .include(torch.join("include/torch/csrc/api/include"))
        .includes(&cuda)
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .file("src/cuda_graph.cpp")
        .compile("nfbmr_cuda_graph");
    println!("cargo:rustc-link-search=native={}", lib.display());
    for library in ["torch_cuda", "c10_cuda", "torch_cpu", "c10"] {
        println!("cargo:rustc-link-lib=dylib={library}");
    }
    println!("cargo:rustc-cfg=nfbmr_cuda_graphs");
}

/// Folders that may hold the CUDA runtime's headers.
fn cuda_includes(torch: &Path) -> Vec<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("CUDA_HOME")
        .map(|home| PathBuf::from(home).join("include"))
        .into_iter()
        .chain([PathBuf::from("/usr/local/cuda/include")])
        .collect();
    if let Some(site) = torch.parent()
        && let Ok(wheels) = std::fs::read_dir(site.join("nvidia"))
    {
        let mut wheels: Vec<PathBuf> = wheels.flatten().map(|w| w.path().join("include")).collect();
        wheels.sort();
        candidates.extend(wheels);
    }
    candidates.retain(|dir| dir.is_dir());
    candidates
}
