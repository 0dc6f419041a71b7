"""``facepoints align``: every face warped onto a canonical template, as crops."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from facepoints.apps import align_faces
from facepoints.apps.align import list_templates
from facepoints.cli.common import add_landmarker_args, landmarker_from
from facepoints.files import safe_output
from facepoints.imageio import atomic_write_bytes, load_image, save_image


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("align", help="write aligned face crops (similarity warp to a template)")
    p.add_argument("images", nargs="+", help="input images")
    p.add_argument("--size", type=int, default=112, help="crop side in pixels (default 112)")
    p.add_argument("--template", default="arcface", choices=list_templates())
    add_landmarker_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    landmarker = landmarker_from(args)
    out = Path(args.out)
    for name in args.images:
        path = Path(name)
        faces = align_faces(load_image(path), args.size, args.template, landmarker)
        records = []
        for i, face in enumerate(faces):
            crop = save_image(safe_output(out / f"{path.stem}.face{i}.png", path), face.image)
            records.append({"crop": str(crop), **face.to_dict()})
        doc = json.dumps({"image": str(path), "faces": records}, indent=1).encode()
        target = atomic_write_bytes(safe_output(out / f"{path.stem}.aligned.json", path), doc)
        print(f"{path}: {len(faces)} aligned face(s) in {out}; transforms in {target}" if faces else f"{path}: no face found")
    return 0
