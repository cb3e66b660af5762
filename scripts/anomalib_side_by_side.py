# SPDX-License-Identifier: MIT OR Apache-2.0
"""anomalib's FastFlow and PatchCore on the features nfbmr's models see, for docs/quality.md.

For every category of a dataset in the MVTec AD or DAGM 2007 layout (nfbmr's synthetic benchmark), and each
training seed, this trains anomalib 2.7's FastflowModel and PatchcoreModel (their own torch modules, losses,
anomaly maps and scores) on the frozen EfficientNet-Lite of the nfbmr model trained on that category: the
same weights, input size, resizing and normalisation, and the same train/good and test splits. FastFlow gets
all the model's feature taps (as NF-BMR's flows do); PatchCore the middle two (strides 8 and 16), as its
recipe takes layer2 and layer3 of a ResNet. No early stopping: anomalib's recipe stops on the test set's pixel
AUROC, which nothing here may see. Writes JSON that `nfbmr benchmark --peers FILE` shows beside its own
figures.

Runs in its own venv (scripts/anomalib-side-by-side.sh makes it); never used by the element or the CLI.

Usage: anomalib_side_by_side.py DATA MODELS OUT.json [--seeds N] [--first-seed S] [--fastflow-epochs N]
                                [--coreset SHARE] [--classes A,B] [--run FastFlow,PatchCore]
  DATA    the dataset root: MVTec AD (category/train/good, category/test/<kind>, category/ground_truth/<kind>)
          or DAGM 2007 (ClassN/Train and ClassN/Test, each with Label/Labels.txt and the masks)
  MODELS  the nfbmr models, one per category (MODELS/<category>.nfbmr: nfbmr benchmark's models/)
"""

import argparse
import json
import os
import sys
import time
import warnings

os.environ.setdefault("TQDM_DISABLE", "1")  # anomalib's coreset progress bar would flood the log
warnings.filterwarnings("ignore", module="anomalib")  # deprecations inside anomalib, none of ours

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.metrics import roc_auc_score

import anomalib
from anomalib.models.image.fastflow.loss import FastflowLoss
from anomalib.models.image.fastflow.torch_model import FastflowModel, create_fast_flow_block
from anomalib.models.image.patchcore.torch_model import PatchcoreModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eager_reference import Reference  # noqa: E402  (the backbone of the .nfbmr file, in plain PyTorch)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
BATCH = 16


class Backbone(torch.nn.Module):
    """The model file's frozen backbone: its feature taps, as a list or keyed by name."""

    def __init__(self, reference, taps, keyed=False):
        super().__init__()
        self.reference, self.taps, self.keyed = reference, taps, keyed

    def forward(self, x):
        with torch.no_grad():
            features = self.reference.features(x)
        chosen = [features[i] for i in self.taps]
        return {f"tap{i}": f for i, f in zip(self.taps, chosen)} if self.keyed else chosen


def images_in(folder):
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))


def dagm_split(category_dir, split):
    """(image, defective, mask or None) for every image a DAGM 2007 split lists in Label/Labels.txt."""
    split_dir = os.path.join(category_dir, split)
    label_dir = os.path.join(split_dir, "Label")
    listed = []
    with open(os.path.join(label_dir, "Labels.txt")) as labels:
        for line in list(labels)[1:]:
            fields = [f.strip() for f in line.split("\t")]
            if len(fields) < 3:
                continue
            mask = fields[4] if len(fields) > 4 and fields[4] not in ("", "0") else None
            listed.append((os.path.join(split_dir, fields[2]), fields[1] == "1",
                           os.path.join(label_dir, mask) if mask else None))
    return listed


def is_dagm(category_dir):
    return os.path.isdir(os.path.join(category_dir, "Test"))


def train_split(category_dir):
    """The good training images, as nfbmr trains on them."""
    if is_dagm(category_dir):
        return [path for path, defective, _ in dagm_split(category_dir, "Train") if not defective]
    return images_in(os.path.join(category_dir, "train", "good"))


def test_split(category_dir):
    """(image, defective, mask or None) for every test image, as nfbmr reads the layout."""
    if is_dagm(category_dir):
        return dagm_split(category_dir, "Test")
    test_dir, truth_dir = os.path.join(category_dir, "test"), os.path.join(category_dir, "ground_truth")
    split = []
    for kind in sorted(os.listdir(test_dir)):
        for path in images_in(os.path.join(test_dir, kind)):
            stem = os.path.splitext(os.path.basename(path))[0]
            mask = os.path.join(truth_dir, kind, f"{stem}_mask.png")
            split.append((path, kind != "good", mask if kind != "good" and os.path.isfile(mask) else None))
    return split


class Inputs:
    """Pictures as the nfbmr model takes them: resized to its size with antialiasing, normalised."""

    def __init__(self, config):
        self.size = config["image_size"]
        self.mean = torch.tensor(config["backbone"]["mean"]).view(1, 3, 1, 1)
        self.std = torch.tensor(config["backbone"]["std"]).view(1, 3, 1, 1)

    def load(self, paths):
        pictures = [np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) for p in paths]
        batch = []
        for picture in pictures:
            rgb = torch.from_numpy(picture).permute(2, 0, 1)[None] / 255.0
            batch.append(F.interpolate(rgb, size=(self.size, self.size), mode="bilinear",
                                       align_corners=False, antialias=True))
        return (torch.cat(batch) - self.mean) / self.std

    def mask(self, path):
        if path is None:
            return np.zeros((self.size, self.size), dtype=bool)
        mask = Image.open(path).convert("L").resize((self.size, self.size), Image.NEAREST)
        return np.asarray(mask) > 127


def fastflow(reference, inputs, train, epochs, seed):
    """anomalib's FastflowModel on the model's feature taps, trained with its loss and optimiser."""
    torch.manual_seed(seed)
    size = inputs.size
    taps = list(range(len(reference.taps)))
    model = FastflowModel(input_size=(size, size), backbone="resnet18", pre_trained=False)
    shapes = [f.shape[1:] for f in reference.features(inputs.load(train[:1]))]
    model.feature_extractor = Backbone(reference, taps)
    model.norms = torch.nn.ModuleList(torch.nn.LayerNorm(list(s), elementwise_affine=True) for s in shapes)
    model.fast_flow_blocks = torch.nn.ModuleList(
        create_fast_flow_block(list(s), conv3x3_only=False, hidden_ratio=1.0, flow_steps=8) for s in shapes)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(parameters, lr=0.001, weight_decay=0.00001)
    loss = FastflowLoss()
    pictures = inputs.load(train)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(train)).split(BATCH):
            hidden, jacobians = model(pictures[batch])
            optimiser.zero_grad()
            loss(hidden, jacobians).backward()
            optimiser.step()
    model.eval()
    return model


def patchcore(reference, inputs, train, coreset, seed):
    """anomalib's PatchcoreModel on the middle two taps, 9 neighbours (its default), a coreset of the given
    share of the patches."""
    torch.manual_seed(seed)
    strides = [inputs.size // f.shape[-1] for f in reference.features(inputs.load(train[:1]))]
    taps = [i for i, s in enumerate(strides) if s in (8, 16)]
    taps = [taps[0], taps[-1]]
    model = PatchcoreModel(layers=["layer2", "layer3"], backbone="resnet18", pre_trained=False, num_neighbors=9)
    model.feature_extractor = Backbone(reference, taps, keyed=True)
    model.layers = [f"tap{i}" for i in taps]
    model.train()
    with torch.no_grad():
        for start in range(0, len(train), BATCH):
            model(inputs.load(train[start:start + BATCH]))
    model.subsample_embedding(coreset)
    model.eval()
    return model


def score(model, inputs, split):
    """Image AUROC and pixel AUROC (None without masks) over the test split, and the image AUROC of each
    defect kind (the folder of its images) against all good images when there are several kinds."""
    scores, maps = [], []
    with torch.no_grad():
        for start in range(0, len(split), BATCH):
            output = model(inputs.load([p for p, _, _ in split[start:start + BATCH]]))
            scores.extend(output.pred_score.flatten().tolist())
            maps.extend(output.anomaly_map.reshape(-1, inputs.size, inputs.size).numpy())
    labels = [defective for _, defective, _ in split]
    figures = {"image-auroc": roc_auc_score(labels, scores), "pixel-auroc": None}
    kinds = sorted({os.path.basename(os.path.dirname(p)) for p, defective, _ in split if defective})
    if len(kinds) > 1:
        def of_kind(kind):
            chosen = [(d, s) for (p, d, _), s in zip(split, scores)
                      if not d or os.path.basename(os.path.dirname(p)) == kind]
            return roc_auc_score([d for d, _ in chosen], [s for _, s in chosen])
        figures["defect-kinds"] = {kind: of_kind(kind) for kind in kinds}
    if any(mask is not None for _, _, mask in split):
        truth = np.concatenate([inputs.mask(mask).ravel() for _, _, mask in split])
        figures["pixel-auroc"] = roc_auc_score(truth, np.concatenate([m.ravel() for m in maps]))
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("models")
    parser.add_argument("out")
    parser.add_argument("--seeds", type=int, default=1, help="how many training seeds")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="the first training seed, so that runs of other seeds add to earlier ones")
    parser.add_argument("--fastflow-epochs", type=int, default=40, help="as nfbmr's flow stage")
    parser.add_argument("--coreset", type=float, default=0.01,
                        help="PatchCore's memory share (anomalib's default 0.1 takes 25 min a model on 2 cores; "
                             "the paper reports 1%% within a few tenths of a point of it on MVTec AD)")
    parser.add_argument("--classes", help="only these categories, comma-separated (default: all)")
    parser.add_argument("--run", default="FastFlow,PatchCore",
                        help="which of FastFlow and PatchCore to run, comma-separated")
    args = parser.parse_args()
    chosen = args.run.split(",")
    unknown = set(chosen) - {"FastFlow", "PatchCore"}
    if unknown:
        parser.error(f"unknown models {sorted(unknown)}: FastFlow and PatchCore are measured")
    categories = sorted(c for c in os.listdir(args.data)
                        if any(os.path.isdir(os.path.join(args.data, c, t)) for t in ("test", "Test")))
    if args.classes:
        wanted = args.classes.split(",")
        missing = set(wanted) - set(categories)
        if missing:
            parser.error(f"no such categories under {args.data}: {sorted(missing)}")
        categories = [c for c in categories if c in wanted]
    models = {name: {} for name in chosen}
    for category in categories:
        model_file = os.path.join(args.models, f"{category}.nfbmr")
        reference = Reference(model_file)
        inputs = Inputs(reference.config)
        category_dir = os.path.join(args.data, category)
        train = train_split(category_dir)
        split = test_split(category_dir)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            fits = {"FastFlow": lambda: fastflow(reference, inputs, train, args.fastflow_epochs, seed),
                    "PatchCore": lambda: patchcore(reference, inputs, train, args.coreset, seed)}
            for name in chosen:
                fit = fits[name]
                started = time.perf_counter()
                figures = score(fit(), inputs, split)
                figures.update(seed=seed, seconds=round(time.perf_counter() - started, 1))
                models[name].setdefault(category, []).append(figures)
                pixel = figures["pixel-auroc"]
                print(f"{category} {name} seed {seed}: image AUROC {figures['image-auroc']:.3f}, pixel AUROC "
                      f"{'n/a' if pixel is None else f'{pixel:.3f}'} ({figures['seconds']} s)", flush=True)
    settings = {"FastFlow": f"FastFlow {args.fastflow_epochs} epochs",
                "PatchCore": f"PatchCore coreset {args.coreset:g}"}
    source = ", ".join([f"anomalib {anomalib.__version__}"] + [settings[name] for name in chosen])
    with open(args.out, "w") as file:
        json.dump({"source": source, "models": [{"name": name, "classes": classes}
                                                for name, classes in models.items()]}, file, indent=1)


if __name__ == "__main__":
    main()
