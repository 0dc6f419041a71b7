"""``facepoints data show|info``: look at a dataset before training on it."""

from __future__ import annotations

import argparse
from collections import Counter

from facepoints.datasets import open_dataset
from facepoints.imageio import save_image
from facepoints.kaggle import to_kaggle
from facepoints.layouts import get_layout
from facepoints.transforms.pipeline import AUGMENT_PRESETS
from facepoints.viz import dataset_grid

DEFAULT_SPEC = "synthetic:16"


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="inspect datasets").add_subparsers(dest="data_command", required=True)
    spec_help = "dataset SPEC: PATH, FORMAT:PATH (udacity, 300w, imm, kaggle) or synthetic:N; '+' joins several"

    show = data.add_parser("show", help="write a grid of samples with their keypoints")
    show.add_argument("spec", nargs="?", default=DEFAULT_SPEC, help=f"{spec_help} (default: {DEFAULT_SPEC})")
    show.add_argument("--n", type=int, default=16, help="number of samples (spread over the dataset)")
    show.add_argument("--out", default="grid.png", help="output PNG (written atomically)")
    show.add_argument("--augment", default="none", choices=sorted(AUGMENT_PRESETS), help="augmentation preset")
    show.add_argument("--seed", type=int, default=0, help="augmentation seed")
    show.add_argument("--tile", type=int, default=256, help="tile size in pixels")
    show.add_argument("--numbers", action="store_true", help="write point indices")
    show.set_defaults(func=run_show)

    kaggle = data.add_parser("to-kaggle", help="convert a 68-point dataset to the Kaggle 96x96 / 15-point CSVs")
    kaggle.add_argument("spec", help=spec_help)
    kaggle.add_argument("--out", required=True, help="output folder")
    kaggle.add_argument("--split", choices=["train", "test"], default="train",
                        help="train: training.csv; test: test.csv + IdLookupTable.csv + solution.csv")  # fmt: skip
    kaggle.add_argument("--missingness", action="store_true", help="Kaggle-like rows with only 4 of 15 points")
    kaggle.add_argument("--seed", type=int, default=0)
    kaggle.set_defaults(func=run_to_kaggle)

    info = data.add_parser("info", help="print counts, layout and identities of a dataset")
    info.add_argument("spec", help=spec_help)
    info.set_defaults(func=run_info)


def run_show(args: argparse.Namespace) -> int:
    dataset = open_dataset(args.spec)
    grid = dataset_grid(dataset, n=args.n, augment=args.augment, seed=args.seed, tile=args.tile, numbers=args.numbers)
    path = save_image(args.out, grid)
    print(f"wrote {path} ({min(args.n, len(dataset))} of {len(dataset)} samples from {dataset.name}, augment={args.augment})")
    return 0


def run_to_kaggle(args: argparse.Namespace) -> int:
    result = to_kaggle(open_dataset(args.spec), args.out, args.split, args.missingness, args.seed)
    print(f"wrote {', '.join(str(f) for f in result.files)}: {result.rows} faces, {result.partial_rows} with 4 of 15 points")
    return 0


def run_info(args: argparse.Namespace) -> int:
    dataset = open_dataset(args.spec)
    layout = get_layout(dataset.layout)
    people = Counter(i for i in dataset.identities if i is not None)
    labelled = dataset.masks.sum(1)
    print(f"dataset     {dataset.name}")
    print(f"samples     {len(dataset)}")
    print(f"layout      {layout.name} ({layout.num_points} points: {layout.description})")
    print(f"labelled    {int(labelled.min())}..{int(labelled.max())} points per sample, {int((labelled < layout.num_points).sum())} samples with missing points")
    print(f"identities  {len(people) if people else 'unknown'}")
    return 0
