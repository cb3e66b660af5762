# SPDX-License-Identifier: MIT OR Apache-2.0
"""Good frames of real surfaces, cut from photographs that Debian and PyPI packages ship.

For each material, the frames a camera over a moving web would see: crops at random positions, each under
its own lighting (gain and a gentle gradient). The first frames come from the top of the photograph, the
last ones (the held-out share) from its bottom, below a gap, so that the held-out frames show surface the
model was never trained on. `nfbmr synth --from` then holds out exactly those last frames in name order and
draws the defects on them (scripts/real-dev-set.sh runs both).

Two sets (docs/quality.md, *Real photographs*):
- `photos-512`: six 512-pixel photographs, frames of 0.3125 of the side, 100 training and 30 held-out
  frames: about three frames' worth of distinct surface to test on.
- `surfaces-1024`: six 1024-pixel photographs of Debian's ufoai-textures, frames of 0.1875 of the side,
  100 training and 60 held-out frames, from a band of about ten frames' worth of distinct surface: for
  false-alarm rates and for differences the small set cannot resolve.

Calibration frames, for checking a threshold calibrated on parts the model has not seen
(scripts/calibration_check.py): the held-out band is split into a left and a right half with a gap between
them, and frames are cut from each half alone. A threshold calibrated on one half's frames is checked on the
held-out frames that lie wholly in the other half, so that calibration and check never share surface. They
are drawn after all the other frames, which therefore do not depend on them.

Usage: real_dev_set.py OUT_DIR [SET]   (SET: photos-512)
Writes OUT_DIR/<material>/good/frame-NNNN.png, OUT_DIR/<material>/calibration-{left,right}/frame-NNNN.png,
OUT_DIR/<material>/held-out-sides (each held-out frame's name and half: left, right or middle) and
OUT_DIR/test-share, the share of each material's frames held out (for `nfbmr synth --from … --test-share`).
"""

import io
import os
import sys
import zipfile
from dataclasses import dataclass

import numpy as np
import skimage
from PIL import Image

# Share of the photograph's height the training frames are cut from, and the gap below it.
TRAIN_HEIGHT, GAP = 0.625, 0.03
MYPAINT = "/usr/share/mypaint/backgrounds"
SKIMAGE = os.path.join(os.path.dirname(skimage.__file__), "data")
UFOAI = "/usr/share/games/ufoai/base/0textures.pk3"


@dataclass(frozen=True)
class Photograph:
    path: str
    package: str
    # A member of the `path` archive, for photographs shipped inside one.
    member: str = ""
    # Rows and columns of the photograph that show the material alone, as shares of its height and width.
    rows: tuple = (0.0, 1.0)
    columns: tuple = (0.0, 1.0)

    def load(self):
        if not os.path.isfile(self.path):
            raise SystemExit(f"{self.path} is missing: install the {self.package} package")
        source = self.path
        if self.member:
            with zipfile.ZipFile(self.path) as archive:
                source = io.BytesIO(archive.read(self.member))
        photo = np.asarray(Image.open(source).convert("RGB"), dtype=np.float64) / 255.0
        top, bottom = (int(round(share * photo.shape[0])) for share in self.rows)
        left, right = (int(round(share * photo.shape[1])) for share in self.columns)
        return photo[top:bottom, left:right]


@dataclass(frozen=True)
class DevSet:
    materials: dict
    train: int
    test: int
    # Frame side as a share of the photograph's shorter side.
    side: float
    # Calibration frames cut from each half of the held-out band.
    calibration: int = 30


def ufoai(member, rows=(0.0, 1.0), columns=(0.0, 1.0)):
    return Photograph(UFOAI, "ufoai-textures", f"textures/{member}", rows, columns)


# Licences and sources: docs/quality.md.
SETS = {
    "photos-512": DevSet(
        materials={
            "brick": Photograph(f"{SKIMAGE}/brick.png", "scikit-image"),
            "gravel": Photograph(f"{SKIMAGE}/gravel.png", "scikit-image"),
            "grass": Photograph(f"{SKIMAGE}/grass.png", "scikit-image"),
            "canvas": Photograph(f"{MYPAINT}/ramon/HR_Canvas 01.png", "mypaint-data-extras"),
            "cork": Photograph(f"{MYPAINT}/ramon/HR_Cork.png", "mypaint-data-extras"),
            "watercolour-paper": Photograph(f"{MYPAINT}/ramon/HR_WaterColor.png", "mypaint-data-extras"),
        },
        train=100,
        test=30,
        side=0.3125,
    ),
    "surfaces-1024": DevSet(
        materials={
            # The left columns show a straw (a fibre, a kind of defect) and a white stone below the training
            # rows: in frames labelled good, they are real defects.
            "concrete": ufoai("tex_ctp1/concrete_g_4.jpg", columns=(0.16, 1.0)),
            "terrazzo": ufoai("tex_ctp1/concrete_g_6.jpg"),
            "lawn": ufoai("tex_ctp1/grass_g_7.jpg"),
            "pine-needles": ufoai("tex_ctp1/ground_b_1.jpg"),
            # The bottom rows show a stone ledge.
            "brick-wall": ufoai("tex_mattn/wall_bricks006.png", rows=(0.0, 0.95)),
            "rock": ufoai("tex_nature/rock017.png"),
        },
        train=100,
        test=60,
        side=0.1875,
    ),
}


def lit_crop(photo, y, x, side, rng):
    """The crop at (y, x) under its own light: a gain and a gentle linear gradient."""
    yy, xx = np.mgrid[0:side, 0:side] / side - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    gradient = rng.uniform(0.0, 0.08) * (np.cos(angle) * xx + np.sin(angle) * yy)
    light = rng.uniform(0.92, 1.08) * (1.0 + gradient)
    return photo[y : y + side, x : x + side] * light[..., None]


def crops(photo, rng, side, rows, columns, count):
    """`count` lit crops at random positions within rows × columns, with their column."""
    (top, bottom), (left, right) = rows, columns
    if bottom - top < side or right - left < side:
        raise SystemExit(f"a {bottom - top}×{right - left} region is smaller than a {side}-pixel frame")
    for _ in range(count):
        y = rng.integers(top, bottom - side + 1)
        x = rng.integers(left, right - side + 1)
        yield lit_crop(photo, y, x, side, rng), x


def side_of(x, side, halves):
    """Which half of the held-out band a frame at column x lies wholly in, if either."""
    (_, left_end), (right_start, _) = halves
    if x + side <= left_end:
        return "left"
    return "right" if x >= right_start else "middle"


def write_frames(photo, dev_set, rng, out):
    """Training and held-out frames into out/good, calibration frames into out/calibration-*."""
    height, width, _ = photo.shape
    side = int(round(min(height, width) * dev_set.side))
    band = (int(height * (TRAIN_HEIGHT + GAP)), height)
    gap = int(round(width * GAP / 2))
    halves = {"left": (0, width // 2 - gap), "right": (width // 2 + gap, width)}
    good = list(crops(photo, rng, side, (0, int(height * TRAIN_HEIGHT)), (0, width), dev_set.train))
    held_out = list(crops(photo, rng, side, band, (0, width), dev_set.test))
    sides = []
    for index, (frame, x) in enumerate(good + held_out):
        name = f"frame-{index:04d}.png"
        save(frame, os.path.join(out, "good", name))
        if index >= dev_set.train:
            sides.append(f"{name} {side_of(x, side, list(halves.values()))}\n")
    with open(os.path.join(out, "held-out-sides"), "w") as listing:
        listing.writelines(sides)
    for half, columns in halves.items():
        for index, (frame, _) in enumerate(crops(photo, rng, side, band, columns, dev_set.calibration)):
            save(frame, os.path.join(out, f"calibration-{half}", f"frame-{index:04d}.png"))


def save(frame, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pixels = np.clip(np.round(frame * 255.0), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)


def main():
    if len(sys.argv) not in (2, 3) or (len(sys.argv) == 3 and sys.argv[2] not in SETS):
        raise SystemExit(__doc__)
    out = sys.argv[1]
    dev_set = SETS[sys.argv[2] if len(sys.argv) == 3 else "photos-512"]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "test-share"), "w") as share:
        share.write(f"{dev_set.test / (dev_set.train + dev_set.test):.6f}\n")
    for number, (material, photograph) in enumerate(dev_set.materials.items()):
        write_frames(photograph.load(), dev_set, np.random.default_rng(number), os.path.join(out, material))
        source = f"{photograph.path}:{photograph.member}" if photograph.member else photograph.path
        print(
            f"{material}: {dev_set.train} training, {dev_set.test} held-out and 2 × {dev_set.calibration}"
            f" calibration frames from {source}"
        )


if __name__ == "__main__":
    main()
