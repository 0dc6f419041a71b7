"""Train the bundled eye-state classifier (src/facepoints/resources/eye_state.pt and its ONNX export eye_state.onnx,
which inference runs).

    python scripts/train_eye_state.py ../shared/data/udacity-68/training \
        ../shared/data/300w/lfpw_train ../shared/data/300w/helen_train

About 10 minutes on the 2-core CPU. See facepoints.apps.eye_classifier.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import torch

from facepoints.datasets import open_dataset
from facepoints.imageio import atomic_write_bytes
from facepoints.training.eye_state import export_eye_state, train_eye_state

OUT = Path(__file__).resolve().parents[1] / "src/facepoints/resources/eye_state.pt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="+", help="68-point training dataset SPECs")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--open-per-epoch", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    torch.set_num_threads(2)
    net = train_eye_state([open_dataset(s) for s in args.data], args.epochs, args.open_per_epoch, seed=args.seed)
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    print(f"wrote {atomic_write_bytes(args.out, buffer.getvalue())}")
    print(f"wrote {export_eye_state(net, Path(args.out).with_suffix('.onnx'))}")


if __name__ == "__main__":
    main()
