# SPDX-License-Identifier: MIT OR Apache-2.0
"""NF-BMR in plain PyTorch eager mode, reading a .nfbmr file: the reference the native detector is checked
and timed against (issue 15). It follows the model as src/model/ and src/anomaly.rs write it, with nothing
folded or fused, the way a PyTorch user would run it. Set-up venv only; never used by the element or CLI.

  python scripts/eager_reference.py MODEL.nfbmr --image PICTURE.png [--map OUT.f32]   raw score (and map)
  python scripts/eager_reference.py MODEL.nfbmr --width 640 --height 480 --frames 50   median ms per frame
                                                [--batch N] [--device cuda [--graph]]
With --graph the whole frame is captured once in a CUDA graph and replayed: what launching no kernel one by
one would give, the measure of whether a CUDA-graph shim in the native detector would pay (issue 15).
"""

import argparse
import json
import math
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open

BACKBONE_BN_EPS = 1e-3
# EfficientNet-Lite stages: (kernel, stride, expand ratio), and each variant's (repeats, output channels).
LITE_STAGE_SHAPES = [(3, 1, 1), (3, 2, 6), (5, 2, 6), (3, 2, 6), (5, 1, 6), (5, 2, 6), (3, 1, 6)]
LITE0_CHANNELS = [16, 24, 40, 80, 112, 192, 320]
LITE_STAGES = {
    "efficientnet-lite0": ([1, 2, 2, 3, 3, 4, 1], LITE0_CHANNELS),
    "efficientnet-lite1": ([1, 3, 3, 4, 4, 5, 1], LITE0_CHANNELS),
    "efficientnet-lite2": ([1, 3, 3, 4, 4, 5, 1], [16, 24, 48, 88, 120, 208, 352]),
}
SUBNET_OUTPUT_SCALE = 0.1


def lite_blocks(name):
    blocks, c_in = [], 32
    for (kernel, stride, expand), repeats, c_out in zip(LITE_STAGE_SHAPES, *LITE_STAGES[name]):
        for i in range(repeats):
            blocks.append((kernel, stride if i == 0 else 1, expand, c_in, c_out))
            c_in = c_out
    return blocks


def same_conv(x, weight, stride, groups=1):
    """TensorFlow "SAME" padding: extra padding at the end on stride-2 convolutions."""
    kernel = weight.shape[-1]
    if stride == 1:
        return F.conv2d(x, weight, None, 1, kernel // 2, 1, groups)
    def pad(n):
        out = (n + stride - 1) // stride
        return max((out - 1) * stride + kernel - n, 0)
    ph, pw = pad(x.shape[2]), pad(x.shape[3])
    x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
    return F.conv2d(x, weight, None, stride, 0, 1, groups)


class Reference:
    def __init__(self, path, device="cpu"):
        with safe_open(path, "pt") as file:
            self.config = json.loads(file.metadata()["nfbmr"])
            self.t = {name: file.get_tensor(name).to(device) for name in file.keys()}
        backbone = self.config["backbone"]["id"]
        if backbone not in LITE_STAGES:
            sys.exit(f"{path}: only the native EfficientNet-Lite backbones have a reference, not {backbone}")
        self.blocks = lite_blocks(backbone)
        self.taps = [scale["block"] for scale in self.config["scales"]]
        # Constants on the device once, so that a frame copies nothing from the host (and can be a CUDA graph).
        self.mean = torch.tensor(self.config["backbone"]["mean"], device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(self.config["backbone"]["std"], device=device).view(1, 3, 1, 1)
        sigma = self.config["blur_sigma"]
        self.blur_taps = gaussian_taps(sigma).to(device) if sigma > 0 else None

    def bn(self, x, prefix, eps):
        t = self.t
        return F.batch_norm(x, t[prefix + ".running_mean"], t[prefix + ".running_var"],
                            t[prefix + ".weight"], t[prefix + ".bias"], False, 0.0, eps)

    def features(self, x):
        t, b = self.t, "backbone."
        x = F.relu6(self.bn(same_conv(x, t[b + "_conv_stem.weight"], 2), b + "_bn0", BACKBONE_BN_EPS))
        features = []
        for i, (kernel, stride, expand, c_in, c_out) in enumerate(self.blocks[: self.taps[-1] + 1]):
            p = f"{b}_blocks.{i}."
            h = x
            if expand != 1:
                h = F.relu6(self.bn(F.conv2d(h, t[p + "_expand_conv.weight"]), p + "_bn0", BACKBONE_BN_EPS))
            h = same_conv(h, t[p + "_depthwise_conv.weight"], stride, groups=h.shape[1])
            h = F.relu6(self.bn(h, p + "_bn1", BACKBONE_BN_EPS))
            h = self.bn(F.conv2d(h, t[p + "_project_conv.weight"]), p + "_bn2", BACKBONE_BN_EPS)
            x = h + x if stride == 1 and c_in == c_out else h
            if i in self.taps:
                features.append(x)
        return features

    def flow(self, k, x):
        t, clamp = self.t, self.config["flow"]["clamp"]
        for i in range(self.config["flow"]["steps"]):
            p = f"flows.{k}.steps.{i}."
            split = x.shape[1] // 2
            x1, x2 = x[:, :split], x[:, split:]
            kernel = t[p + "subnet.0.weight"].shape[-1]
            h = F.relu(F.conv2d(x1, t[p + "subnet.0.weight"], t[p + "subnet.0.bias"], padding=kernel // 2))
            out = F.conv2d(h, t[p + "subnet.2.weight"], t[p + "subnet.2.bias"], padding=kernel // 2)
            a, shift = (out * SUBNET_OUTPUT_SCALE).chunk(2, 1)
            log_scale = torch.atan(a / clamp) * (clamp * 2 / math.pi)
            y2 = x2 * torch.exp(log_scale) + shift
            scale = torch.exp(t[p + "global_log_scale"]).view(1, -1, 1, 1)
            y = torch.cat([x1, y2], 1) * scale + t[p + "global_offset"].view(1, -1, 1, 1)
            x = y[:, t[p + "permutation"]]
        return x

    def mapper(self, k, direction, x):
        t = self.t
        p = f"bmr.{k}.{direction}."
        def block(x, name):
            return F.relu(self.bn(F.conv2d(x, t[p + name + ".conv.weight"]), p + name + ".bn", 1e-5))
        x = block(block(x, "encode.0"), "encode.1")
        x = F.conv2d(x, t[f"bmr.{k}.shared.weight"], t[f"bmr.{k}.shared.bias"])
        x = block(block(x, "decode.0"), "decode.1")
        return F.conv2d(x, t[p + "out.weight"], t[p + "out.bias"])

    def anomaly_map(self, rgb):
        """Fused map [1, 1, S, S] of an R'G'B' picture [1, 3, H, W] in 0-255."""
        config, t = self.config, self.t
        size = config["image_size"]
        x = F.interpolate(rgb / 255.0, size=(size, size), mode="bilinear", align_corners=False,
                          antialias=True)
        x = (x - self.mean) / self.std
        weight = config["backward_weight"]
        maps = []
        pooling = config.get("feature_pooling", 1)
        for k, (feature, scale) in enumerate(zip(self.features(x), config["scales"])):
            if pooling > 1:
                feature = F.avg_pool2d(feature, pooling, 1, pooling // 2, count_include_pad=False)
            source = F.layer_norm(feature, feature.shape[1:], t[f"norms.{k}.weight"], t[f"norms.{k}.bias"])
            target = self.flow(k, source)
            b, c = source.shape[:2]
            whitened = (t[f"bmr.{k}.source_whitening"]
                        @ (source.reshape(b, c, -1) - t[f"bmr.{k}.source_mean"])).view(source.shape)
            forward = (self.mapper(k, "forward", whitened) - target).square().mean(1, keepdim=True)
            backward = (self.mapper(k, "backward", target) - whitened).square().mean(1, keepdim=True)
            forward = forward / t[f"bmr.{k}.forward_position_unit"] / scale["forward_residual_unit"]
            backward = backward / t[f"bmr.{k}.backward_position_unit"] / scale["backward_residual_unit"]
            fused = (forward + backward * weight) / (1.0 + weight)
            maps.append(F.interpolate(fused, size=(size, size), mode="bilinear", align_corners=False))
        fused = torch.stack(maps).mean(0)
        if self.blur_taps is not None:
            fused = blur(fused, self.blur_taps)
        return fused


def gaussian_taps(sigma):
    """A Gaussian of radius 4 sigma, normalised."""
    radius = math.ceil(4 * sigma)
    taps = torch.exp(-torch.arange(-radius, radius + 1, dtype=torch.float64) ** 2 / (2 * sigma * sigma))
    return (taps / taps.sum()).float()


def blur(maps, taps):
    """Separable convolution with `taps` (of odd length), replicating the borders."""
    radius = len(taps) // 2
    padded = F.pad(maps, [radius] * 4, mode="replicate")
    rows = F.conv2d(padded, taps.view(1, 1, 1, -1))
    return F.conv2d(rows, taps.view(1, 1, -1, 1))


def captured(work):
    """`work` recorded once as a CUDA graph (after warm-up on a side stream, as PyTorch requires): the
    returned function replays it and gives the output tensor of the recording."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            work()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        output = work()

    def replay():
        graph.replay()
        return output
    return replay


def textured_frame(width, height):
    """The frame `nfbmr bench` times: ((i * 7919) % 251) over the RGB bytes."""
    values = (np.arange(width * height * 3, dtype=np.int64) * 7919) % 251
    return torch.from_numpy(values.astype(np.float32)).view(height, width, 3).permute(2, 0, 1)[None]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--image", help="score this picture (PNG, JPEG, ...)")
    parser.add_argument("--map", help="with --image: write the fused map here, little-endian f32")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (timing only)")
    parser.add_argument("--batch", type=int, default=1, help="frames scored together; times are per frame")
    parser.add_argument("--graph", action="store_true", help="on CUDA: time replays of a captured CUDA graph")
    args = parser.parse_args()
    reference = Reference(args.model, "cpu" if args.image else args.device)
    with torch.no_grad():
        if args.image:
            from skimage.io import imread
            picture = imread(args.image)
            if picture.ndim == 2:
                picture = np.stack([picture] * 3, -1)
            rgb = torch.from_numpy(picture[..., :3].astype(np.float32)).permute(2, 0, 1)[None]
            fused = reference.anomaly_map(rgb)
            if args.map:
                fused.numpy().astype("<f4").tofile(args.map)
            print(json.dumps({"raw-score": fused.max().item(), "map": list(fused.shape[2:])},
                             separators=(",", ":")))
            return
        frame = textured_frame(args.width, args.height).repeat(args.batch, 1, 1, 1).to(args.device)
        synchronize = torch.cuda.synchronize if frame.is_cuda else (lambda: None)
        score = lambda: reference.anomaly_map(frame).max()  # noqa: E731
        if args.graph:
            if not frame.is_cuda:
                sys.exit("--graph needs --device cuda")
            score = captured(score)
        for _ in range(5):
            score()
        times = []
        for _ in range(args.frames):
            synchronize()
            start = time.perf_counter()
            score().item()  # the score on the host, as the detector delivers it
            times.append((time.perf_counter() - start) * 1e3 / args.batch)
        print(json.dumps({"eager-ms": statistics.median(times), "threads": torch.get_num_threads(),
                          "device": str(frame.device), "graph": args.graph,
                          "frame": [args.width, args.height], "frames": args.frames, "batch": args.batch},
                         separators=(",", ":")))


if __name__ == "__main__":
    main()
