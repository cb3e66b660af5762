// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `.nfbmr` model file: one safetensors file holding every tensor a detector needs, backbone included,
//! with the JSON [`ModelConfig`] under the `nfbmr` key of the header's `__metadata__`, and a checksum of the
//! configuration and every tensor under `nfbmr-sha256`, so that a bad copy or a flipped bit is refused
//! rather than silently changing every verdict. No pickle anywhere.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors, TensorView};
use sha2::{Digest, Sha256};
use tch::{Kind, Tensor, nn};

use crate::config::{FORMAT_VERSION, ModelConfig, OLDEST_READABLE_FORMAT_VERSION, Thresholds};
use crate::error::{Error, Result};

/// Metadata key of the JSON configuration.
pub const CONFIG_KEY: &str = "nfbmr";
/// Metadata key of the checksum: SHA-256 (hex) of the configuration and of every tensor's name, dtype,
/// shape and data, in name order.
pub const CHECKSUM_KEY: &str = "nfbmr-sha256";

/// Whether a model file's contents were checked against the checksum it was written with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Integrity {
    /// The checksum matched.
    Verified,
    /// Written before nfbmr wrote checksums: it cannot be checked.
    Unchecked,
}

/// Whether a model may run the TorchScript it embeds. TorchScript is a program, not data: loading it
/// runs code from the file inside this process, so only files from a trusted source should be allowed to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CodePolicy {
    /// A model carrying code is refused with an error saying how to allow it.
    #[default]
    Refuse,
    Allow,
}

/// A model file read and checked, its tensors on the CPU.
pub struct ModelFile {
    pub config: ModelConfig,
    pub tensors: HashMap<String, Tensor>,
    /// First 12 hex digits of the file's SHA-256: changes whenever the weights or thresholds do.
    pub id: String,
    pub integrity: Integrity,
}

impl ModelFile {
    /// Whether the file embeds a TorchScript backbone, which is code (see [`CodePolicy`]).
    pub fn carries_code(&self) -> bool {
        self.config.backbone.id == crate::model::backbone::TORCHSCRIPT
            || self
                .tensors
                .contains_key(crate::model::backbone::TORCHSCRIPT_TENSOR)
    }

    /// Refuses a file that carries code unless `policy` allows it.
    pub fn check_code(&self, policy: CodePolicy, path: &Path) -> Result<()> {
        if self.carries_code() && policy == CodePolicy::Refuse {
            return Err(Error::model_file(
                path,
                "carries a TorchScript backbone, which is program code that would run inside this \
                 process; it is refused unless you trust where the file came from and allow code \
                 (element property allow-code=true, command-line flag --allow-code)",
            ));
        }
        Ok(())
    }
}

/// The checksum of a configuration and its tensors (name, dtype, shape, data), given in name order. Each
/// part is preceded by its length, so that no two different contents hash alike by concatenation.
fn content_checksum<'a>(
    config_json: &str,
    tensors: impl IntoIterator<Item = (&'a str, Dtype, &'a [usize], &'a [u8])>,
) -> String {
    let mut hasher = Sha256::new();
    let mut part = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    part(config_json.as_bytes());
    for (name, dtype, shape, data) in tensors {
        part(name.as_bytes());
        part(format!("{dtype:?}").as_bytes());
        let dims: Vec<u8> = shape
            .iter()
            .flat_map(|&d| (d as u64).to_le_bytes())
            .collect();
        part(&dims);
        part(data);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks the file's contents against its checksum, when it has one.
fn check_integrity(
    file: &SafeTensors<'_>,
    metadata: &HashMap<String, String>,
    config_json: &str,
) -> std::result::Result<Integrity, String> {
    let Some(expected) = metadata.get(CHECKSUM_KEY) else {
        return Ok(Integrity::Unchecked);
    };
    let mut tensors = file.tensors();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let actual = content_checksum(
        config_json,
        tensors
            .iter()
            .map(|(name, view)| (name.as_str(), view.dtype(), view.shape(), view.data())),
    );
    if &actual == expected {
        Ok(Integrity::Verified)
    } else {
        Err("is damaged: its contents do not match the checksum it was written with (a bad copy or a \
             flipped bit); copy it again from its source, or retrain"
            .into())
    }
}

fn kind_of(dtype: Dtype) -> Option<Kind> {
    match dtype {
        Dtype::F32 => Some(Kind::Float),
        Dtype::F64 => Some(Kind::Double),
        Dtype::I64 => Some(Kind::Int64),
        Dtype::U8 => Some(Kind::Uint8),
        _ => None,
    }
}

fn dtype_of(kind: Kind) -> Option<Dtype> {
    match kind {
        Kind::Float => Some(Dtype::F32),
        Kind::Double => Some(Dtype::F64),
        Kind::Int64 => Some(Dtype::I64),
        Kind::Uint8 => Some(Dtype::U8),
        _ => None,
    }
}

/// Reads and validates the container and its configuration. Tensor names and shapes are checked against
/// the model they are bound to (see [`bind`]).
pub fn read(path: &Path) -> Result<ModelFile> {
    let bytes = fs::read(path).map_err(|e| {
        let problem = match e.kind() {
            std::io::ErrorKind::NotFound => "does not exist".to_string(),
            _ => format!("cannot be read: {e}"),
        };
        Error::model_file(path, problem)
    })?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| {
        let problem = match e {
            SafeTensorError::MetadataIncompleteBuffer | SafeTensorError::InvalidOffset(_) => {
                format!(
                    "is truncated or damaged: its header describes more data than the {} bytes present ({e})",
                    bytes.len()
                )
            }
            other => format!("is not a safetensors file ({other})"),
        };
        Error::model_file(path, problem)
    })?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::model_file(path, format!("is not a safetensors file ({e})")))?;
    let empty = HashMap::new();
    let metadata = header.metadata().as_ref().unwrap_or(&empty);
    let json = metadata.get(CONFIG_KEY).ok_or_else(|| {
            Error::model_file(
                path,
                "is a safetensors file but not an nfbmr model (no 'nfbmr' configuration in its metadata)",
            )
        })?;
    let config = parse_config(json).map_err(|problem| Error::model_file(path, problem))?;
    let integrity = check_integrity(&file, metadata, json)
        .map_err(|problem| Error::model_file(path, problem))?;

    let tensors = tensors_of(&file, path)?;
    let digest = Sha256::digest(&bytes);
    let id = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    Ok(ModelFile {
        config,
        tensors,
        id,
        integrity,
    })
}

fn parse_config(json: &str) -> std::result::Result<ModelConfig, String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("has an unreadable configuration: {e}"))?;
    let readable = OLDEST_READABLE_FORMAT_VERSION as u64..=FORMAT_VERSION as u64;
    match value.get("format_version").and_then(|v| v.as_u64()) {
        Some(v) if readable.contains(&v) => {}
        Some(v) => {
            return Err(format!(
                "has format version {v}, which this build of nfbmr (reads versions \
                 {OLDEST_READABLE_FORMAT_VERSION} to {FORMAT_VERSION}) does not support; use the nfbmr \
                 version that wrote it ({}) or retrain",
                value
                    .get("crate_version")
                    .and_then(|v| v.as_str())
                    .unwrap_or("unknown")
            ));
        }
        None => return Err("has a configuration without a format version".into()),
    }
    serde_json::from_value(value).map_err(|e| format!("has an invalid configuration: {e}"))
}

/// Writes tensors and configuration atomically: a temporary file in the same directory, synced, then
/// renamed, so a full disk or a crash never leaves a half-written model under the final name.
pub fn write(path: &Path, config: &ModelConfig, tensors: &[(String, Tensor)]) -> Result<()> {
    config
        .validate()
        .map_err(|problem| Error::model_file(path, format!("not written: it {problem}")))?;
    let mut data = Vec::with_capacity(tensors.len());
    for (name, tensor) in tensors {
        let tensor = tensor.to_device(tch::Device::Cpu).contiguous();
        let dtype = dtype_of(tensor.kind()).ok_or_else(|| {
            Error::model_file(
                path,
                format!("tensor '{name}' has unsupported kind {:?}", tensor.kind()),
            )
        })?;
        let mut bytes = vec![0u8; tensor.numel() * tensor.kind().elt_size_in_bytes()];
        tensor.f_copy_data_u8(&mut bytes, tensor.numel())?;
        let shape: Vec<usize> = tensor.size().iter().map(|&d| d as usize).collect();
        data.push((name.clone(), dtype, shape, bytes));
    }
    data.sort_by(|a, b| a.0.cmp(&b.0));
    let views: BTreeMap<&str, TensorView<'_>> = data
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            TensorView::new(*dtype, shape.clone(), bytes)
                .map(|view| (name.as_str(), view))
                .map_err(|e| Error::model_file(path, format!("tensor '{name}': {e}")))
        })
        .collect::<Result<_>>()?;
    let json = serde_json::to_string(config).expect("configuration serialises");
    let checksum = content_checksum(
        &json,
        data.iter().map(|(name, dtype, shape, bytes)| {
            (name.as_str(), *dtype, shape.as_slice(), bytes.as_slice())
        }),
    );
    let metadata = HashMap::from([
        (CONFIG_KEY.to_string(), json),
        (CHECKSUM_KEY.to_string(), checksum),
    ]);
    let serialised = safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::model_file(path, format!("cannot serialise: {e}")))?;

    let file_name = path
        .file_name()
        .ok_or_else(|| Error::model_file(path, "is not a file path"))?;
    let temporary = path.with_file_name(format!(".{}.partial", file_name.to_string_lossy()));
    let written = fs::File::create(&temporary)
        .and_then(|mut file| {
            file.write_all(&serialised)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temporary, path));
    written.map_err(|e| {
        let _ = fs::remove_file(&temporary);
        Error::io(format!("writing model file {}", path.display()), e)
    })
}

/// Rewrites a model file with new thresholds and everything else unchanged, atomically like [`write`].
pub fn rewrite_thresholds(path: &Path, thresholds: &Thresholds) -> Result<()> {
    let mut file = read(path)?;
    file.config.thresholds = thresholds.clone();
    let mut tensors: Vec<(String, Tensor)> = file.tensors.into_iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    write(path, &file.config, &tensors)
}

/// Copies named tensors into the variables of `vs`, checking that each exists with the right shape and
/// finite values. `allow_extra` accepts tensors the model does not use (a full checkpoint bound to a
/// truncated backbone).
pub fn bind(
    vs: &nn::VarStore,
    tensors: &HashMap<String, Tensor>,
    allow_extra: bool,
    source: &Path,
) -> Result<()> {
    let variables = vs.variables();
    let mut names: Vec<&String> = variables.keys().collect();
    names.sort();
    for name in names {
        let variable = &variables[name];
        let tensor = tensors
            .get(name)
            .ok_or_else(|| Error::model_file(source, format!("is missing tensor '{name}'")))?;
        let problem = if tensor.size() != variable.size() {
            Some(mismatch(name, "shape", tensor.size(), variable.size()))
        } else if tensor.is_floating_point() && !bool::try_from(tensor.isfinite().all())? {
            Some(format!(
                "has non-finite values (NaN or infinity) in tensor '{name}'"
            ))
        } else if tensor.kind() != variable.kind() {
            Some(mismatch(name, "type", tensor.kind(), variable.kind()))
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(Error::model_file(source, problem));
        }
        tch::no_grad(|| variable.shallow_clone().f_copy_(tensor))?;
    }
    if !allow_extra && let Some(extra) = tensors.keys().find(|name| !variables.contains_key(*name))
    {
        return Err(Error::model_file(
            source,
            format!("has unexpected tensor '{extra}' (written by a different model layout?)"),
        ));
    }
    Ok(())
}

fn mismatch(
    name: &str,
    what: &str,
    found: impl std::fmt::Debug,
    expected: impl std::fmt::Debug,
) -> String {
    format!("has tensor '{name}' of {what} {found:?}, expected {expected:?}")
}

/// Reads a plain safetensors checkpoint (such as converted backbone weights) into CPU tensors.
pub fn read_checkpoint(path: &Path) -> Result<HashMap<String, Tensor>> {
    let bytes =
        fs::read(path).map_err(|e| Error::io(format!("reading weights {}", path.display()), e))?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| {
        Error::model_file(path, format!("is not a readable safetensors file ({e})"))
    })?;
    tensors_of(&file, path)
}

fn tensors_of(file: &SafeTensors<'_>, path: &Path) -> Result<HashMap<String, Tensor>> {
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            let kind = kind_of(view.dtype()).ok_or_else(|| {
                Error::model_file(
                    path,
                    format!("has tensor '{name}' of unsupported type {:?}", view.dtype()),
                )
            })?;
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            Ok((name, Tensor::f_from_data_size(view.data(), &shape, kind)?))
        })
        .collect()
}
