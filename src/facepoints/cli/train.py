"""``facepoints train``: train a registry model on one or more datasets. Its defaults are those of
:class:`~facepoints.training.TrainConfig`."""

from __future__ import annotations

import argparse
import json
import sys

from facepoints.codec import CROP_ALIASES, CROP_MODES
from facepoints.layouts import list_layouts
from facepoints.training import LOSSES, TrainConfig, resume, train
from facepoints.training.config import OPTIMIZERS, SCHEDULES, config_default
from facepoints.training.data import TURNED_YAW
from facepoints.transforms import AUGMENT_PRESETS

RESUMING = """\
resuming:
  --resume RUN_DIR continues the run in RUN_DIR from its last.pt, with the run's saved settings,
  its optimizer among them (only --epochs, --workers and --no-progress apply). With the run's own
  epoch count it is exact: weights, optimizer state, lr, random streams and early-stopping count
  are those of an uninterrupted run, and a finished run trains nothing more (it only writes
  model.pt again). With --epochs N the run is extended (or cut) to N epochs: a cosine schedule is
  re-stretched so that epoch e trains at the lr epoch e of an N-epoch cosine has (a finished
  160-epoch run resumed with --epochs 200 starts at about 10 % of --lr and anneals to 1 % again by
  epoch 200, instead of staying at 1 %); plateau and none keep their lr; early stopping counts
  from 0 again.
"""


def _default(name: str) -> str:
    """TrainConfig's default for field ``name``, as help text shows it."""
    return str(config_default(name))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a landmark model (also under torchrun)", epilog=RESUMING,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("--model", help="registry name (facepoints models list)")
    p.add_argument("--data", nargs="+", help="training dataset SPEC(s)")
    p.add_argument("--val", nargs="+", help="validation SPEC(s); default: --val-split of --data by identity")
    p.add_argument("--val-split", type=float, default=config_default("val_split"),
                   help="held-out fraction, split by person when known (default %(default)s)")  # fmt: skip
    p.add_argument("--epochs", type=int,
                   help=f"epochs (default {_default('epochs')}; with --resume: a new total, see below)")  # fmt: skip
    p.add_argument("--batch-size", type=int, default=config_default("batch_size"), help="(default %(default)s)")
    p.add_argument(
        "--optimizer", default=config_default("optimizer"), choices=OPTIMIZERS,
        help="adamw (decoupled weight decay), adam (weight decay as L2) or sgd (default %(default)s)",
    )  # fmt: skip
    p.add_argument("--lr", type=float, default=config_default("lr"), help="learning rate (default %(default)s)")
    p.add_argument("--weight-decay", type=float, default=config_default("weight_decay"), help="(default %(default)s)")
    p.add_argument("--momentum", type=float, default=config_default("momentum"),
                   help="sgd momentum (default %(default)s)")  # fmt: skip
    p.add_argument("--nesterov", action="store_true", help="sgd with Nesterov momentum")
    p.add_argument("--loss", default=config_default("loss"), choices=sorted(LOSSES), help="(default %(default)s)")
    p.add_argument("--augment", default=config_default("augment"), choices=sorted(AUGMENT_PRESETS),
                   help="augmentation preset (default %(default)s)")  # fmt: skip
    p.add_argument("--schedule", default=config_default("schedule"), choices=SCHEDULES,
                   help="cosine to 1 %% of --lr, halve on plateau, or constant lr (default %(default)s)")  # fmt: skip
    p.add_argument("--patience", type=int, default=config_default("patience"),
                   help="early stopping patience in epochs, 0: off (default %(default)s)")  # fmt: skip
    p.add_argument("--clip", type=float, default=config_default("clip"),
                   help="gradient norm clip, 0: off (default %(default)s)")  # fmt: skip
    p.add_argument("--seed", type=int, default=config_default("seed"), help="random seed (default %(default)s)")
    p.add_argument("--workers", type=int, help=f"data loader worker processes (default {_default('workers')})")
    p.add_argument(
        "--crop", choices=[*CROP_MODES, *CROP_ALIASES], metavar="{" + ",".join(CROP_MODES) + "}",
        help="input crop mode (default: face for 68- and 73-point layouts with a square input, else full; "
        "seed: the former name of rescale-crop)",
    )  # fmt: skip
    p.add_argument("--input-size", type=int, help="square input size (default: the model's)")
    p.add_argument("--rgb", action="store_true", help="colour input instead of grey")
    p.add_argument("--cache-size", type=int, help="side of the cached loose face crops (face mode)")
    p.add_argument("--model-args", default=json.dumps(config_default("model_kwargs")),
                   help='extra model arguments as JSON, e.g. \'{"width": 0.75}\'')  # fmt: skip
    p.add_argument("--layout", choices=list_layouts(), help="map the data to this keypoint layout first")
    p.add_argument("--complete-only", action="store_true", help="train only on rows with every point labelled")
    p.add_argument("--closed-eyes", type=int, default=config_default("closed_eyes"), metavar="K",
                   help="show faces labelled with closed eyes K times per epoch (default %(default)s)")  # fmt: skip
    p.add_argument(
        "--turned", type=int, default=config_default("turned"), metavar="K",
        help=f"show faces whose labels turn the head {TURNED_YAW:g} degrees or more sideways K times per epoch "
        "(default %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--oversample", nargs="+", default=[f"{k}={v}" for k, v in config_default("oversample").items()],
        metavar="PATTERN=K", help="show samples whose path contains PATTERN K times per epoch (e.g. 300w/=2)",
    )  # fmt: skip
    p.add_argument("--init", metavar="CHECKPOINT",
                   help="start from these weights (fine-tune; same model, layout and colour; the input size may differ)")  # fmt: skip
    p.add_argument(
        "--bn-recalibrate", type=int, default=config_default("bn_recalibrate"), metavar="N",
        help="after each epoch, re-estimate batch-norm statistics with dropout off over N batches of "
        "un-augmented training faces, for models whose dropout feeds batch norm; 0: off (default %(default)s)",
    )  # fmt: skip
    p.add_argument("--out", help="run directory")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last.pt (see below)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (logs only)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.resume:
        summary = resume(args.resume, epochs=args.epochs, workers=args.workers, progress=not args.no_progress)
    else:
        summary = train(config_from_args(args))
    print(json.dumps(summary, indent=2))
    return 0


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig of a new run from ``facepoints train`` arguments (options not given keep its defaults)."""
    missing = [name for name in ("model", "data", "out") if not getattr(args, name)]
    if missing:
        raise ValueError(f"train needs --{', --'.join(missing)} (or --resume RUN_DIR)")
    if args.crop in CROP_ALIASES:
        print(f"facepoints: warning: --crop {args.crop} is now --crop {CROP_ALIASES[args.crop]}", file=sys.stderr)
    given = {"epochs": args.epochs, "workers": args.workers}
    return TrainConfig(
        model=args.model, data=args.data, out=args.out, val=args.val, val_split=args.val_split,
        batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr, weight_decay=args.weight_decay,
        momentum=args.momentum, nesterov=args.nesterov, loss=args.loss, augment=args.augment,
        schedule=args.schedule, patience=args.patience, clip=args.clip, seed=args.seed,
        crop=CROP_ALIASES.get(args.crop, args.crop), input_size=args.input_size, grey=not args.rgb,
        cache_size=args.cache_size, model_kwargs=json.loads(args.model_args), layout=args.layout,
        complete_only=args.complete_only, init=args.init, closed_eyes=args.closed_eyes, turned=args.turned,
        oversample=_parse_oversample(args.oversample), bn_recalibrate=args.bn_recalibrate,
        progress=not args.no_progress,
        **{k: v for k, v in given.items() if v is not None},
    )  # fmt: skip


def _parse_oversample(items: list[str]) -> dict[str, int]:
    """``["300w/=2"]`` -> ``{"300w/": 2}``."""
    rules = {}
    for item in items:
        pattern, sep, factor = item.rpartition("=")
        if not sep or not pattern or not factor.isdigit():
            raise ValueError(f"--oversample takes PATTERN=K with a whole number K, got {item!r}")
        rules[pattern] = int(factor)
    return rules
