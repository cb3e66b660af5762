// SPDX-License-Identifier: MIT OR Apache-2.0
//! Datasets on disk.

pub mod dagm;
pub mod folder;
pub mod synth;
