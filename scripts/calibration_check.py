# SPDX-License-Identifier: MIT OR Apache-2.0
"""Does a threshold calibrated on parts the model has not seen keep its false-alarm rate on new parts?

The station's workflow (README, *Thresholds*), measured on a real-image development set: each material's
model is calibrated with `nfbmr calibrate` on the calibration frames of one half of the held-out band, then
the good held-out frames that lie wholly in the other half are scored with `nfbmr score`, and the other way
round (scripts/real_dev_set.py writes the halves). Calibration and check never share surface, and neither
shares any with training. The model's own threshold, fitted at training on its hold-out (views of the
trained surface), is checked on the same frames for comparison. Last, calibrate gets both halves' frames as
two batches and says whether one half scores above what the other allows: would a station that calibrated on
both have been warned? The models are not changed: each calibration is of a copy.

Usage: calibration_check.py PHOTOS MODELS [--false-alarm-rate R] [--json FILE] [--device D] [--nfbmr BIN]
PHOTOS is real-dev-set.sh's OUT/photos; MODELS a folder of <material>.nfbmr (nfbmr benchmark's models/).
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import tempfile

FOLDS = (("left", "right"), ("right", "left"))


def wilson(flagged, total, z=1.96):
    """95% Wilson interval of a rate."""
    if total == 0:
        return (0.0, 1.0)
    rate = flagged / total
    centre = (rate + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(rate * (1 - rate) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (max(0.0, centre - half), min(1.0, centre + half))


def flagged(args, model, frames):
    """The names of the frames the model flags, and its threshold."""
    command = [args.nfbmr, "score", "--json", "--device", args.device, "--model", model, *frames]
    lines = subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()
    verdicts = [json.loads(line) for line in lines]
    names = [os.path.basename(verdict["image"]) for verdict in verdicts if verdict["is-anomaly"]]
    return names, verdicts[0]["threshold"]


def calibrate_copy(args, model, batches, workdir):
    """A copy of the model calibrated on the batches (folders); the copy and what calibrate printed."""
    copy = os.path.join(workdir, os.path.basename(model))
    shutil.copyfile(model, copy)
    command = [args.nfbmr, "calibrate", "--model", copy, "--device", args.device]
    command += ["--false-alarm-rate", str(args.false_alarm_rate)]
    for batch in batches:
        command += ["--data", batch]
    return copy, subprocess.run(command, check=True, capture_output=True, text=True).stdout


def halves_that_differ(args, model, photos, workdir):
    """Both halves' calibration frames given to calibrate as two batches: the halves it finds to differ from
    the other, each with [flagged, frames, chance] at the other half's threshold."""
    halves = [os.path.join(photos, f"calibration-{half}") for half, _ in FOLDS]
    _, printed = calibrate_copy(args, model, halves, workdir)
    table = printed.split("each batch against the threshold calibrated on the others:\n", 1)[1]
    differing = {}
    for line in table.splitlines()[1:]:
        images, flagged, _, chance, source = line.split(None, 4)
        if source.endswith("(differs)"):
            half = os.path.basename(source.removesuffix("(differs)").strip()).removeprefix("calibration-")
            differing[half] = [int(flagged), int(images), float(chance)]
    return differing


def check_material(args, material, model, workdir):
    photos = os.path.join(args.photos, material)
    with open(os.path.join(photos, "held-out-sides")) as listing:
        sides = dict(line.split() for line in listing)
    row = {"material": material, "frames": 0, "trained-threshold": 0, "calibrated-threshold": 0, "folds": []}
    for calibration_half, checked_half in FOLDS:
        frames = [os.path.join(photos, "good", name) for name, half in sides.items() if half == checked_half]
        if not frames:
            continue
        calibrated, _ = calibrate_copy(args, model, [os.path.join(photos, f"calibration-{calibration_half}")], workdir)
        fold = {"calibrated-on": calibration_half, "frames": len(frames)}
        row["frames"] += len(frames)
        for key, scorer in (("trained-threshold", model), ("calibrated-threshold", calibrated)):
            names, threshold = flagged(args, scorer, frames)
            row[key] += len(names)
            # The threshold, how many frames it flags, and which.
            fold[key] = [threshold, len(names), names]
        row["folds"].append(fold)
    row["halves-that-differ"] = halves_that_differ(args, model, photos, workdir)
    return row


def rate(count, total):
    low, high = wilson(count, total)
    return f"{count} ({100 * count / max(total, 1):.1f}%, {100 * low:.1f}–{100 * high:.1f}%)"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos")
    parser.add_argument("models")
    parser.add_argument("--false-alarm-rate", type=float, default=0.01)
    parser.add_argument("--json")
    parser.add_argument("--device", default="cpu")
    default_nfbmr = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "nfbmr")
    parser.add_argument("--nfbmr", default=default_nfbmr)
    args = parser.parse_args()
    materials = sorted(
        name for name in os.listdir(args.photos) if os.path.isfile(os.path.join(args.models, f"{name}.nfbmr"))
    )
    if not materials:
        raise SystemExit(f"no <material>.nfbmr in {args.models} matches a material of {args.photos}")
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for material in materials:
            rows.append(check_material(args, material, os.path.join(args.models, f"{material}.nfbmr"), workdir))
    total = {key: sum(row[key] for row in rows) for key in ("frames", "trained-threshold", "calibrated-threshold")}
    print(f"false alarms on good held-out frames, target {args.false_alarm_rate:g} (count, rate, 95% interval)")
    print(f"{'material':<20} {'frames':>6}  {'trained threshold':<24} {'calibrated on the other half':<28} "
          "halves calibrate finds to differ")
    for row in rows + [dict(total, material="all")]:
        differing = ", ".join(row.get("halves-that-differ", {})) or "-"
        print(
            f"{row['material']:<20} {row['frames']:>6}  {rate(row['trained-threshold'], row['frames']):<24}"
            f" {rate(row['calibrated-threshold'], row['frames']):<28} {differing}"
        )
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"target-false-alarm-rate": args.false_alarm_rate, "materials": rows, "all": total}, out, indent=1)


if __name__ == "__main__":
    main()
