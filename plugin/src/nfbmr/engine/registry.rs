// SPDX-License-Identifier: MIT OR Apache-2.0
//! The engines of this process, found by what they load: elements asking for the same model file on the
//! same device share one (as DL Streamer's `model-instance-id` does, without having to name it).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::SystemTime;

use nfbmr::{CodePolicy, Precision};

use super::{EngineSpec, Shared};

/// What makes two requests for a model the same: the file (as it is now on disk) and how it is run.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    path: PathBuf,
    length: u64,
    modified: Option<SystemTime>,
    device: String,
    precision: Precision,
    cuda_graphs: bool,
    code: CodePolicy,
}

impl Key {
    /// `None` when the file cannot be looked at: loading it will say why.
    pub fn of(spec: &EngineSpec, device: tch::Device) -> Option<Self> {
        let path = spec.path.canonicalize().ok()?;
        let metadata = path.metadata().ok()?;
        Some(Key {
            path,
            length: metadata.len(),
            // A file replaced in place is another model.
            modified: metadata.modified().ok(),
            device: nfbmr::device::device_name(device),
            precision: spec.precision,
            cuda_graphs: spec.cuda_graphs,
            code: spec.code,
        })
    }
}

static ENGINES: LazyLock<Mutex<HashMap<Key, Weak<Shared>>>> = LazyLock::new(Default::default);

/// The engine of `key` if one is running, or the one `start` makes (registered when it loaded). The
/// registry stays locked while a model loads, so that elements starting together load it once.
pub fn find_or_start<E>(
    key: Option<Key>,
    start: impl FnOnce() -> Result<Shared, E>,
) -> Result<Arc<Shared>, E> {
    let Some(key) = key else {
        return start().map(Arc::new);
    };
    let mut engines = crate::lock(&ENGINES);
    engines.retain(|_, engine| engine.strong_count() > 0);
    if let Some(engine) = engines.get(&key).and_then(Weak::upgrade) {
        return Ok(engine);
    }
    let engine = Arc::new(start()?);
    engines.insert(key, Arc::downgrade(&engine));
    Ok(engine)
}
