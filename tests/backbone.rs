// SPDX-License-Identifier: MIT OR Apache-2.0
//! The native EfficientNet-Lite0 really carries the ImageNet weights: it recognises known photos, and its
//! features match the reference PyTorch implementation's, block by block. Needs scripts/setup.sh's cache.

use std::path::PathBuf;

use nfbmr::frame;
use nfbmr::model::backbone::{self, Backbone, EfficientNetLite};
use nfbmr::{modelfile, weights};
use tch::{Device, Kind, Tensor, nn};

fn photo(name: &str, size: i64) -> Tensor {
    let path = weights::cache_dir().join("photos").join(name);
    let image = frame::load_rgb(&path).expect("photo from scripts/setup.sh");
    let pixels = frame::rgb_frame(&image).to_tensor(Device::Cpu).unwrap();
    frame::normalise(&pixels, size, backbone::LITE_MEAN, backbone::LITE_STD)
}

/// The network built by `net` with the converted checkpoint bound; `whole` requires every tensor used.
fn bound(
    whole: bool,
    net: impl FnOnce(&nn::Path) -> EfficientNetLite,
) -> (nn::VarStore, EfficientNetLite) {
    let vs = nn::VarStore::new(Device::Cpu);
    let net = net(&vs.root());
    let path = weights::backbone_weights(backbone::EFFICIENTNET_LITE0).unwrap();
    let checkpoint = modelfile::read_checkpoint(&path).unwrap();
    modelfile::bind(&vs, &checkpoint, !whole, &path).unwrap();
    (vs, net)
}

#[test]
fn classifies_known_photos() {
    let (_vs, net) = bound(true, EfficientNetLite::classifier);
    // ImageNet classes: 285 "Egyptian cat", 967 "espresso".
    for (name, class) in [("chelsea.png", 285), ("coffee.png", 967)] {
        let logits = tch::no_grad(|| net.logits(&photo(name, 224))).unwrap();
        assert_eq!(logits.argmax(1, false).int64_value(&[0]), class, "{name}");
    }
}

#[test]
fn features_match_the_reference_implementation() {
    let taps: Vec<usize> = (0..16).collect();
    let (_vs, net) = bound(false, |p| EfficientNetLite::features(p, &taps).unwrap());
    let reference_path: PathBuf = weights::cache_dir()
        .join("reference")
        .join("efficientnet-lite0-taps.pt");
    let bytes = std::fs::read(&reference_path).expect("reference from scripts/setup.sh");
    let reference = Backbone::torchscript(&bytes, taps.clone(), Device::Cpu).unwrap();
    let input = photo("chelsea.png", 256);
    let ours = tch::no_grad(|| net.forward_features(&input));
    let theirs = tch::no_grad(|| reference.features(&input)).unwrap();
    for (block, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a.size(), b.size(), "block {block}");
        let scale = b.abs().mean(Kind::Float).double_value(&[]);
        let error = (a - b).abs().max().double_value(&[]);
        assert!(
            error < 1e-3 * scale.max(1.0),
            "block {block}: max difference {error} where mean magnitude is {scale}"
        );
    }
}
