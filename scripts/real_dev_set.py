# SPDX-License-Identifier: MIT OR Apache-2.0
"""Good frames of real surfaces, cut from photographs that Debian and PyPI packages ship (all CC0).

For each material, the frames a camera over a moving web would see: crops at random positions, each under
its own lighting (gain and a gentle gradient). Frames 0000 to TRAIN - 1 come from the top of the
photograph, the last TEST frames from its bottom, below a gap, so that the held-out frames show surface
the model was never trained on. `nfbmr synth --from` then holds out exactly those last frames in name
order and draws the defects on them (scripts/real-dev-set.sh runs both).

Usage: real_dev_set.py OUT_DIR   (writes OUT_DIR/<material>/good/frame-NNNN.png)
"""

import os
import sys

import numpy as np
import skimage
from PIL import Image

TRAIN, TEST = 100, 30
# Share of the photograph's height the training frames are cut from, and the gap below it.
TRAIN_HEIGHT, GAP = 0.625, 0.03
MYPAINT = "/usr/share/mypaint/backgrounds"
SKIMAGE = os.path.join(os.path.dirname(skimage.__file__), "data")

# material: (photograph, package). Licences and sources: docs/quality.md.
MATERIALS = {
    "brick": (f"{SKIMAGE}/brick.png", "scikit-image"),
    "gravel": (f"{SKIMAGE}/gravel.png", "scikit-image"),
    "grass": (f"{SKIMAGE}/grass.png", "scikit-image"),
    "canvas": (f"{MYPAINT}/ramon/HR_Canvas 01.png", "mypaint-data-extras"),
    "cork": (f"{MYPAINT}/ramon/HR_Cork.png", "mypaint-data-extras"),
    "watercolour-paper": (f"{MYPAINT}/ramon/HR_WaterColor.png", "mypaint-data-extras"),
}


def frames(photo, rng):
    """TRAIN + TEST lit crops of the photograph (float RGB in [0, 1]), training region first."""
    height, width, _ = photo.shape
    side = int(round(min(height, width) * 0.3125))
    train_bottom = int(height * TRAIN_HEIGHT)
    test_top = int(height * (TRAIN_HEIGHT + GAP))
    regions = [(0, train_bottom, TRAIN), (test_top, height, TEST)]
    yy, xx = np.mgrid[0:side, 0:side] / side - 0.5
    for top, bottom, count in regions:
        if bottom - top < side:
            raise SystemExit(f"a region of {bottom - top} rows is smaller than a {side}-pixel frame")
        for _ in range(count):
            y = rng.integers(top, bottom - side + 1)
            x = rng.integers(0, width - side + 1)
            angle = rng.uniform(0, 2 * np.pi)
            gradient = rng.uniform(0.0, 0.08) * (np.cos(angle) * xx + np.sin(angle) * yy)
            light = rng.uniform(0.92, 1.08) * (1.0 + gradient)
            yield photo[y : y + side, x : x + side] * light[..., None]


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    out = sys.argv[1]
    for number, (material, (path, package)) in enumerate(MATERIALS.items()):
        if not os.path.isfile(path):
            raise SystemExit(f"{path} is missing: install the {package} package")
        photo = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0
        good = os.path.join(out, material, "good")
        os.makedirs(good, exist_ok=True)
        rng = np.random.default_rng(number)
        for index, frame in enumerate(frames(photo, rng)):
            pixels = np.clip(np.round(frame * 255.0), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(os.path.join(good, f"frame-{index:04d}.png"))
        print(f"{material}: {TRAIN} training and {TEST} held-out frames from {path}")


if __name__ == "__main__":
    main()
