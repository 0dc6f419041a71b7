"""Entry point: builds the argument parser from the command modules and reports errors cleanly."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import importlib
from importlib.util import find_spec

from facepoints import __version__
from facepoints.datasets.base import DatasetError
from facepoints.imageio import ImageReadError

#: verb -> (its module, its one-line help, whether it needs PyTorch: the ``train`` extra). Only the
#: module of the verb being run is imported, so ``facepoints detect`` loads neither PyTorch nor FastAPI.
VERBS = {
    "detect": ("facepoints.cli.detect", "find faces and place 68 landmarks on each", False),
    "filter": ("facepoints.cli.filter", "put an overlay on every face (sunglasses, moustache, blur, ...)", False),
    "align": ("facepoints.cli.align", "write aligned face crops (similarity warp to a template)", False),
    "video": ("facepoints.cli.video", "track faces and landmarks through a video or a camera, without jitter", False),
    "serve": ("facepoints.cli.serve", "serve landmarks over HTTP with a web page at /", False),
    "data": ("facepoints.cli.data", "inspect datasets", False),
    "models": ("facepoints.cli.models", "list registry models", True),
    "train": ("facepoints.cli.train", "train a landmark model (also under torchrun)", True),
    "evaluate": ("facepoints.cli.evaluate", "score a model on a labelled dataset", True),
    "export": ("facepoints.cli.export", "export a landmark model to ONNX", True),
    "kaggle": ("facepoints.cli.kaggle", "Kaggle Facial Keypoints submission tools", False),
}


def _needs_train_extra(args: argparse.Namespace) -> int:
    raise ValueError(f"'facepoints {args.command}' needs PyTorch: pip install 'facepoints[train]'")


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``verb``, only that command's module is imported (the others are listed by name)."""
    parser = argparse.ArgumentParser(prog="facepoints", description="Face landmarks: datasets, models, detection.")
    parser.add_argument("--version", action="version", version=f"facepoints {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    torch_here = find_spec("torch") is not None
    for name, (module, text, needs_torch) in VERBS.items():
        if needs_torch and not torch_here:
            sub.add_parser(name, help=f"{text} (needs the train extra)").set_defaults(func=_needs_train_extra)
        elif verb is None or name == verb:
            importlib.import_module(module).register(sub)
        else:
            sub.add_parser(name, help=text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 bad input, 3 some input failed or was cut short,
    130 interrupted)."""
    words = list(sys.argv[1:] if argv is None else argv)
    verb = next((w for w in words if w in VERBS), None)
    args = build_parser(verb).parse_args(words)
    try:
        return int(args.func(args) or 0)
    except (DatasetError, ImageReadError, ValueError, KeyError, FileNotFoundError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"facepoints: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("facepoints: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
