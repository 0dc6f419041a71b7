"""``facepoints models list``: the model registry."""

from __future__ import annotations

import argparse

from facepoints.models import count_parameters, create_model, list_models, model_info


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list registry models").add_subparsers(dest="models_command", required=True)
    p.add_parser("list", help="names, inputs and parameter counts").set_defaults(func=run_list)


def run_list(args: argparse.Namespace) -> int:
    print(f"{'name':15s} {'input':>11s} {'points':>6s} {'params':>12s}  summary")
    for name in list_models():
        info = model_info(name)
        params = count_parameters(create_model(name))
        size = f"{info.in_channels}x{info.input_size[0]}x{info.input_size[1]}"
        print(f"{name:15s} {size:>11s} {info.num_points:>6d} {params:>12,d}  {info.summary}")
    return 0
