"""``facepoints train``: train a registry model on one or more datasets."""

from __future__ import annotations

import argparse
import json

from facepoints.training import LOSSES, TrainConfig, resume, train
from facepoints.training.data import TURNED_YAW
from facepoints.transforms import AUGMENT_PRESETS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a landmark model (also under torchrun)")
    p.add_argument("--model", help="registry name (facepoints models list)")
    p.add_argument("--data", nargs="+", help="training dataset SPEC(s)")
    p.add_argument("--val", nargs="+", help="validation SPEC(s); default: --val-split of --data by identity")
    p.add_argument("--val-split", type=float, default=0.1, help="held-out fraction, split by person when known")
    p.add_argument("--epochs", type=int, help="epochs (default 30; with --resume: a new total)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--loss", default="wing", choices=sorted(LOSSES))
    p.add_argument("--augment", default="light", choices=sorted(AUGMENT_PRESETS))
    p.add_argument("--schedule", default="cosine", choices=["cosine", "plateau", "none"])
    p.add_argument("--patience", type=int, default=10, help="early stopping patience in epochs (0: off)")
    p.add_argument("--clip", type=float, default=5.0, help="gradient norm clip (0: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, help="data loader worker processes (default 1)")
    p.add_argument("--crop", choices=["face", "full", "seed"], help="input crop mode (default: face for 68 points)")
    p.add_argument("--input-size", type=int, help="square input size (default: the model's)")
    p.add_argument("--rgb", action="store_true", help="colour input instead of grey")
    p.add_argument("--cache-size", type=int, help="side of the cached loose face crops (face mode)")
    p.add_argument("--model-args", default="{}", help='extra model arguments as JSON, e.g. \'{"width": 0.75}\'')
    p.add_argument("--layout", help="map the data to this keypoint layout first (e.g. kaggle15, kaggle4)")
    p.add_argument("--complete-only", action="store_true", help="train only on rows with every point labelled")
    p.add_argument("--closed-eyes", type=int, default=1, metavar="K", help="show faces labelled with closed eyes K times per epoch")
    p.add_argument(
        "--turned", type=int, default=1, metavar="K",
        help=f"show faces whose labels turn the head {TURNED_YAW:g} degrees or more sideways K times per epoch",
    )
    p.add_argument(
        "--oversample", nargs="+", default=[], metavar="PATTERN=K",
        help="show samples whose path contains PATTERN K times per epoch (e.g. 300w/=2)",
    )
    p.add_argument("--init", metavar="CHECKPOINT", help="start from these weights (fine-tune; same model, layout and input)")
    p.add_argument("--out", help="run directory")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last.pt")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (logs only)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.resume:
        summary = resume(args.resume, epochs=args.epochs, workers=args.workers, progress=not args.no_progress)
    else:
        missing = [name for name in ("model", "data", "out") if not getattr(args, name)]
        if missing:
            raise ValueError(f"train needs --{', --'.join(missing)} (or --resume RUN_DIR)")
        cfg = TrainConfig(
            model=args.model, data=args.data, out=args.out, val=args.val, val_split=args.val_split,
            epochs=args.epochs or 30, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
            loss=args.loss, augment=args.augment, schedule=args.schedule, patience=args.patience, clip=args.clip,
            seed=args.seed, workers=1 if args.workers is None else args.workers, crop=args.crop, input_size=args.input_size, grey=not args.rgb,
            cache_size=args.cache_size, model_kwargs=json.loads(args.model_args), layout=args.layout,
            complete_only=args.complete_only, init=args.init, closed_eyes=args.closed_eyes, turned=args.turned,
            oversample=_parse_oversample(args.oversample), progress=not args.no_progress,
        )  # fmt: skip
        summary = train(cfg)
    print(json.dumps(summary, indent=2))
    return 0


def _parse_oversample(items: list[str]) -> dict[str, int]:
    """``["300w/=2"]`` -> ``{"300w/": 2}``."""
    rules = {}
    for item in items:
        pattern, sep, factor = item.rpartition("=")
        if not sep or not pattern or not factor.isdigit():
            raise ValueError(f"--oversample takes PATTERN=K with a whole number K, got {item!r}")
        rules[pattern] = int(factor)
    return rules
