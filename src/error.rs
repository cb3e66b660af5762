// SPDX-License-Identifier: MIT OR Apache-2.0
//! The one error type of the core crate: every message names the thing that is wrong.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("model file {path}: {problem}")]
    ModelFile { path: PathBuf, problem: String },

    #[error("image {path}: {problem}")]
    Image { path: PathBuf, problem: String },

    #[error("{0}")]
    Device(String),

    #[error("backbone: {0}")]
    Backbone(String),

    #[error("invalid input: {0}")]
    Input(String),

    #[error("{0}")]
    Data(String),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

impl Error {
    pub(crate) fn model_file(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::ModelFile {
            path: path.into(),
            problem: problem.into(),
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a caught panic said: tch panics with libtorch's message when an operation fails.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}
