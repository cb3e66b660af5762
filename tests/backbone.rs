// SPDX-License-Identifier: MIT OR Apache-2.0
//! The native EfficientNet-Lite0, Lite1 and Lite2 really carry their ImageNet weights: they recognise known
//! photos, and their features match the reference PyTorch implementation's, block by block. Needs
//! scripts/setup.sh's cache.

use nfbmr::frame;
use nfbmr::model::backbone::{self, Backbone, EfficientNetLite, Lite};
use nfbmr::{modelfile, weights};
use tch::{Device, Kind, Tensor, nn};

fn photo(name: &str, size: i64) -> Tensor {
    let path = weights::cache_dir().join("photos").join(name);
    let image = frame::load_rgb(&path).expect("photo from scripts/setup.sh");
    let pixels = frame::rgb_frame(&image).to_tensor(Device::Cpu).unwrap();
    frame::normalise(&pixels, size, backbone::LITE_MEAN, backbone::LITE_STD)
}

/// The network built by `net` with `lite`'s converted checkpoint bound; `whole` requires every tensor used.
fn bound(
    lite: Lite,
    whole: bool,
    net: impl FnOnce(&nn::Path) -> EfficientNetLite,
) -> (nn::VarStore, EfficientNetLite) {
    let vs = nn::VarStore::new(Device::Cpu);
    let net = net(&vs.root());
    let path = weights::backbone_weights(lite.id()).unwrap();
    let checkpoint = modelfile::read_checkpoint(&path).unwrap();
    modelfile::bind(&vs, &checkpoint, !whole, &path).unwrap();
    (vs, net)
}

#[test]
fn classifies_known_photos() {
    for lite in Lite::ALL {
        let (_vs, net) = bound(lite, true, |p| EfficientNetLite::classifier(p, lite));
        // ImageNet classes: 285 "Egyptian cat", 967 "espresso".
        for (name, class) in [("chelsea.png", 285), ("coffee.png", 967)] {
            let logits = tch::no_grad(|| net.logits(&photo(name, 224))).unwrap();
            assert_eq!(
                logits.argmax(1, false).int64_value(&[0]),
                class,
                "{} on {name}",
                lite.id()
            );
        }
    }
}

#[test]
fn features_match_the_reference_implementation() {
    let input = photo("chelsea.png", 256);
    for lite in Lite::ALL {
        let taps: Vec<usize> = (0..lite.block_channels().len()).collect();
        let (_vs, net) = bound(lite, false, |p| {
            EfficientNetLite::features(p, lite, &taps).unwrap()
        });
        let reference_path = weights::cache_dir()
            .join("reference")
            .join(format!("{}-taps.pt", lite.id()));
        let bytes = std::fs::read(&reference_path).expect("reference from scripts/setup.sh");
        let reference = Backbone::torchscript(&bytes, taps.clone(), Device::Cpu).unwrap();
        let ours = tch::no_grad(|| net.forward_features(&input));
        let theirs = tch::no_grad(|| reference.features(&input)).unwrap();
        assert_eq!(ours.len(), theirs.len(), "{}", lite.id());
        for (block, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(a.size(), b.size(), "{} block {block}", lite.id());
            let scale = b.abs().mean(Kind::Float).double_value(&[]);
            let error = (a - b).abs().max().double_value(&[]);
            assert!(
                error < 1e-3 * scale.max(1.0),
                "{} block {block}: max difference {error} where mean magnitude is {scale}",
                lite.id()
            );
        }
    }
}
