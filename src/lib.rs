// SPDX-License-Identifier: MIT OR Apache-2.0
//! nfbmr: unsupervised visual defect detection with NF-BMR (normalizing flows + bidirectional mapping
//! residuals) on libtorch, trained on good parts only. No GStreamer here: the plugin crate is a thin layer
//! over [`Detector`].

pub mod anomaly;
pub mod calibrate;
pub mod config;
pub mod data;
pub mod detector;
pub mod device;
pub mod error;
pub mod evaluate;
pub mod frame;
pub mod heatmap;
pub mod metrics;
pub mod model;
pub mod modelfile;
pub mod report;
pub mod train;
pub mod weights;

pub use anomaly::AnomalyMap;
pub use config::ModelConfig;
pub use detector::{Detection, Detector};
pub use device::DeviceSpec;
pub use error::{Error, Result};
pub use frame::{Frame, PixelLayout};
