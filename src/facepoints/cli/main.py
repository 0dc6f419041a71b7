"""Entry point: builds the argument parser from the command modules and reports errors cleanly."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from facepoints import __version__
from facepoints.cli import align as align_cmd
from facepoints.cli import data as data_cmd
from facepoints.cli import detect as detect_cmd
from facepoints.cli import evaluate as evaluate_cmd
from facepoints.cli import export as export_cmd
from facepoints.cli import filter as filter_cmd
from facepoints.cli import kaggle as kaggle_cmd
from facepoints.cli import models as models_cmd
from facepoints.cli import serve as serve_cmd
from facepoints.cli import train as train_cmd
from facepoints.cli import video as video_cmd
from facepoints.datasets.base import DatasetError
from facepoints.imageio import ImageReadError

COMMANDS = [detect_cmd, filter_cmd, align_cmd, video_cmd, serve_cmd, data_cmd, models_cmd, train_cmd, evaluate_cmd, export_cmd, kaggle_cmd]


def build_parser() -> argparse.ArgumentParser:
    """The full parser (exposed for tests and documentation)."""
    parser = argparse.ArgumentParser(prog="facepoints", description="Face landmarks: datasets, models, detection.")
    parser.add_argument("--version", action="version", version=f"facepoints {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 bad input, 3 some input failed or was cut short,
    130 interrupted)."""
    args = build_parser().parse_args(argv)
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
