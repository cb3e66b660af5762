// SPDX-License-Identifier: MIT OR Apache-2.0
//! nfbmr: unsupervised visual defect detection with NF-BMR (normalizing flows + bidirectional mapping
//! residuals) on libtorch, trained on good parts only. No GStreamer here: the plugin crate is a thin layer
//! over [`Detector`] and [`Verdict`].
//!
//! Cargo features: `synth` (the synthetic DAGM-like generator), `report` (evaluation reports with charts)
//! and `cli` (the `nfbmr` command line, with both). The default is `cli`; the GStreamer plugin builds
//! without any.

pub mod anomaly;
pub mod calibrate;
pub mod compare;
pub mod config;
pub mod cuda_graph;
pub mod data;
pub mod detector;
pub mod device;
pub mod error;
pub mod evaluate;
pub mod events;
pub mod frame;
pub mod heatmap;
pub mod metrics;
pub mod model;
pub mod modelfile;
mod regions;
#[cfg(feature = "report")]
pub mod report;
pub mod train;
mod verdict;
pub mod weights;

pub use anomaly::AnomalyMap;
pub use config::ModelConfig;
pub use detector::{Detection, Detector};
pub use device::{DeviceSpec, Precision};
pub use error::{Error, Result};
pub use frame::{Frame, PixelFormat, PixelLayout, Plane, StagedFrame, YuvMatrix};
pub use modelfile::CodePolicy;
pub use regions::Region;
pub use verdict::{Criteria, FrameRegion, Verdict};
