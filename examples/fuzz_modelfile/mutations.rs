// SPDX-License-Identifier: MIT OR Apache-2.0
//! The cases: seeded mutations of a seed model's bytes, its safetensors header, its JSON configuration and
//! its tensor data.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use nfbmr::model::backbone;

/// The bytes of case `case`: a mutation of one of the seeds.
pub fn case_bytes(seed: u64, case: u64, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ case);
    let mut bytes = seeds[rng.gen_range(0..seeds.len())].clone();
    for _ in 0..rng.gen_range(1..=3) {
        bytes = match rng.gen_range(0..10) {
            0 => flip_bits(bytes, &mut rng),
            1 => resize(bytes, &mut rng),
            2 => set_header_length(bytes, &mut rng),
            3 | 4 => edit_header(bytes, &mut rng, mutate_tensor_entry),
            5..=7 => edit_header(bytes, &mut rng, mutate_config),
            _ => edit_header(bytes, &mut rng, mutate_tensor_data),
        };
    }
    bytes
}

fn flip_bits(mut bytes: Vec<u8>, rng: &mut ChaCha8Rng) -> Vec<u8> {
    for _ in 0..rng.gen_range(1..=8) {
        if !bytes.is_empty() {
            let at = rng.gen_range(0..bytes.len());
            bytes[at] ^= 1 << rng.gen_range(0..8);
        }
    }
    bytes
}

fn resize(mut bytes: Vec<u8>, rng: &mut ChaCha8Rng) -> Vec<u8> {
    if rng.gen_bool(0.7) {
        bytes.truncate(rng.gen_range(0..=bytes.len()));
    } else {
        bytes.extend((0..rng.gen_range(1..4096)).map(|_| rng.r#gen::<u8>()));
    }
    bytes
}

fn interesting_number(rng: &mut ChaCha8Rng) -> u64 {
    const VALUES: [u64; 12] = [
        0,
        1,
        2,
        7,
        255,
        65_536,
        (1 << 31) - 1,
        1 << 32,
        100_000_000_000, // a 100 GB tensor
        1 << 40,
        1 << 62,
        u64::MAX,
    ];
    if rng.gen_bool(0.8) {
        VALUES[rng.gen_range(0..VALUES.len())]
    } else {
        rng.r#gen()
    }
}

fn set_header_length(mut bytes: Vec<u8>, rng: &mut ChaCha8Rng) -> Vec<u8> {
    if bytes.len() >= 8 {
        let current = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        let length = if rng.gen_bool(0.5) {
            current.wrapping_add_signed(rng.gen_range(-16..=16))
        } else {
            interesting_number(rng)
        };
        bytes[..8].copy_from_slice(&length.to_le_bytes());
    }
    bytes
}

/// Parses the safetensors layout, lets `mutate` change the header and the data, and writes it back; the
/// checksum is kept (so that it catches the change) or dropped (so that the loader goes deeper).
fn edit_header(
    bytes: Vec<u8>,
    rng: &mut ChaCha8Rng,
    mutate: fn(&mut serde_json::Map<String, Value>, &mut [u8], &mut ChaCha8Rng),
) -> Vec<u8> {
    let Some((mut header, mut data)) = split(&bytes) else {
        return flip_bits(bytes, rng);
    };
    mutate(&mut header, &mut data, rng);
    if rng.gen_bool(0.7)
        && let Some(Value::Object(metadata)) = header.get_mut("__metadata__")
    {
        metadata.remove(nfbmr::modelfile::CHECKSUM_KEY);
    }
    let mut json = serde_json::to_vec(&header).unwrap();
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend(json);
    out.extend(data);
    out
}

fn split(bytes: &[u8]) -> Option<(serde_json::Map<String, Value>, Vec<u8>)> {
    let length = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
    let header = serde_json::from_slice(bytes.get(8..8usize.checked_add(length)?)?).ok()?;
    Some((header, bytes[8 + length..].to_vec()))
}

fn tensor_names(header: &serde_json::Map<String, Value>) -> Vec<String> {
    header
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect()
}

fn mutate_tensor_entry(
    header: &mut serde_json::Map<String, Value>,
    _data: &mut [u8],
    rng: &mut ChaCha8Rng,
) {
    let names = tensor_names(header);
    if names.is_empty() {
        return;
    }
    let name = &names[rng.gen_range(0..names.len())];
    match rng.gen_range(0..6) {
        0 => {
            const DTYPES: [&str; 8] = ["F32", "F64", "F16", "BF16", "I64", "U8", "BOOL", "X9"];
            header[name]["dtype"] = DTYPES[rng.gen_range(0..DTYPES.len())].into();
        }
        1 => {
            if let Some(Value::Array(shape)) = header[name].get_mut("shape") {
                match rng.gen_range(0..3) {
                    0 if !shape.is_empty() => {
                        let at = rng.gen_range(0..shape.len());
                        shape[at] = interesting_number(rng).into();
                    }
                    1 => shape.push(interesting_number(rng).into()),
                    _ => {
                        shape.pop();
                    }
                }
            }
        }
        2 => {
            if let Some(Value::Array(offsets)) = header[name].get_mut("data_offsets")
                && !offsets.is_empty()
            {
                let at = rng.gen_range(0..offsets.len());
                offsets[at] = interesting_number(rng).into();
            }
        }
        3 => {
            header.remove(name);
        }
        4 => {
            let other = &names[rng.gen_range(0..names.len())];
            let entry = header[other].clone();
            header.insert(name.clone(), entry);
        }
        _ => {
            let entry = header.remove(name).unwrap();
            header.insert(format!("{name}.renamed"), entry);
        }
    }
}

/// Changes one value of the JSON configuration (or drops it, or claims a TorchScript backbone).
fn mutate_config(
    header: &mut serde_json::Map<String, Value>,
    _data: &mut [u8],
    rng: &mut ChaCha8Rng,
) {
    let Some(Value::Object(metadata)) = header.get_mut("__metadata__") else {
        return;
    };
    let Some(mut config) = metadata
        .get(nfbmr::modelfile::CONFIG_KEY)
        .and_then(Value::as_str)
        .and_then(|json| serde_json::from_str::<Value>(json).ok())
    else {
        return;
    };
    if rng.gen_bool(0.05) {
        config["backbone"]["id"] = backbone::TORCHSCRIPT.into();
    } else {
        let mut leaves = Vec::new();
        collect_leaves(&config, String::new(), &mut leaves);
        let pointer = &leaves[rng.gen_range(0..leaves.len())];
        let value = match rng.gen_range(0..12) {
            0 => Value::Null,
            1 => "text".into(),
            2 => Value::Array(Vec::new()),
            3 => (-1).into(),
            4 => 1e308.into(),
            5 => (-1e308).into(),
            6 => 1e-300.into(),
            7 => 0.5.into(),
            8 => {
                let (parent, key) = pointer.rsplit_once('/').unwrap();
                if let Some(Value::Object(map)) = config.pointer_mut(parent) {
                    map.remove(key);
                }
                return write_config(metadata, &config);
            }
            _ => interesting_number(rng).into(),
        };
        *config.pointer_mut(pointer).unwrap() = value;
    }
    write_config(metadata, &config);
}

fn write_config(metadata: &mut serde_json::Map<String, Value>, config: &Value) {
    metadata.insert(
        nfbmr::modelfile::CONFIG_KEY.into(),
        config.to_string().into(),
    );
}

fn collect_leaves(value: &Value, pointer: String, leaves: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                collect_leaves(child, format!("{pointer}/{key}"), leaves);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                collect_leaves(child, format!("{pointer}/{index}"), leaves);
            }
        }
        _ => leaves.push(pointer),
    }
}

/// Writes non-finite or extreme values over some of the tensor data.
fn mutate_tensor_data(
    _header: &mut serde_json::Map<String, Value>,
    data: &mut [u8],
    rng: &mut ChaCha8Rng,
) {
    const VALUES: [f32; 6] = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        3e38,
        -3e38,
        1e-40,
    ];
    for _ in 0..rng.gen_range(1..=16) {
        if data.len() >= 4 {
            let at = rng.gen_range(0..data.len() / 4) * 4;
            let value = VALUES[rng.gen_range(0..VALUES.len())];
            data[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }
    }
}
