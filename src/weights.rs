// SPDX-License-Identifier: MIT OR Apache-2.0
//! Where converted backbone weights live. `scripts/setup.sh` converts the packaged ImageNet checkpoint once
//! into a safetensors file in this cache; nothing is downloaded at run time.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Overrides the cache directory.
pub const WEIGHTS_DIR_ENV: &str = "NFBMR_WEIGHTS_DIR";

/// `$NFBMR_WEIGHTS_DIR`, else `$XDG_CACHE_HOME/nfbmr`, else `~/.cache/nfbmr`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(WEIGHTS_DIR_ENV) {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("nfbmr")
}

/// The converted weights of a named backbone, or an error saying how to get them.
pub fn backbone_weights(id: &str) -> Result<PathBuf> {
    let path = cache_dir().join(format!("{id}.safetensors"));
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::Backbone(format!(
            "weights for {id} not found at {}; run scripts/setup.sh once (or set {WEIGHTS_DIR_ENV} to \
             the folder holding {id}.safetensors)",
            path.display()
        )))
    }
}
