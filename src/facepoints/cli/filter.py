"""``facepoints filter``: overlays placed by the landmarks, or faces blurred / pixelated."""

from __future__ import annotations

import argparse
from pathlib import Path

from facepoints.apps import filter_faces
from facepoints.apps.filters import list_filters, make_filter
from facepoints.cli.common import add_landmarker_args, landmarker_from
from facepoints.files import safe_output
from facepoints.imageio import load_image, save_image


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "filter",
        help="put sunglasses, a moustache or a hat on every face, or anonymize faces",
        description="A built-in overlay, blur/pixelate, or your RGBA PNG with anchors: JSON "
        '{"points": [[x, y], [x, y]], "targets": ["36-41", "42-47"]} (overlay pixels -> landmark positions), '
        "given with --anchors or as a .json file next to the PNG.",
    )
    p.add_argument("images", nargs="+", help="input images")
    p.add_argument("--overlay", required=True, help=f"{' | '.join(list_filters())} | PATH.png")
    p.add_argument("--anchors", help="anchors of a PNG overlay: JSON text or a JSON file")
    add_landmarker_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    landmarker = landmarker_from(args)
    apply = make_filter(args.overlay, args.anchors)  # a PNG overlay is read once, not per image
    tag = Path(args.overlay).stem if args.overlay.lower().endswith(".png") else args.overlay
    for name in args.images:
        path = Path(name)
        image = load_image(path)
        result, faces = filter_faces(image, apply, landmarker=landmarker)
        target = save_image(safe_output(Path(args.out) / f"{path.stem}.{tag}.png", path), result)
        print(f"{path}: {len(faces)} face(s); wrote {target}" if faces else f"{path}: no face found; wrote {target} unchanged")
    return 0
