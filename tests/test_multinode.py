"""Training on several machines: two torchrun agents on this host, each a "node" of one process, meeting
through a c10d rendezvous, train exactly as one node of two processes does (docs/scale.md)."""

from __future__ import annotations

import csv
import os
import shutil
import socket
import subprocess
import sys

import pytest
import torch

from facepoints.checkpoint import read_checkpoint

TORCHRUN = shutil.which("torchrun") or os.path.join(os.path.dirname(sys.executable), "torchrun")
TIMEOUT = 300  # seconds: far above the half minute these runs take, so only a hang trips it
# a tiny job that learns (lr > 0) over two epochs; no batch norm, so the ranks' shards alone decide the result
JOB = ["-m", "facepoints", "train", "--model", "mlp_baseline", "--data", "synthetic:8", "--val", "synthetic:6@9",
       "--epochs", "2", "--batch-size", "2", "--lr", "1e-3", "--workers", "0", "--input-size", "32",
       "--cache-size", "48", "--no-progress"]  # fmt: skip


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it), for the rendezvous."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def metrics(folder) -> list[dict]:
    """The run's per-epoch metrics, without the columns that measure time."""
    with open(folder / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    return [{k: float(v) for k, v in row.items() if "time" not in k and "second" not in k and v != ""} for row in rows]


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(TORCHRUN), reason="no torchrun")
def test_two_nodes_train_as_one_node_of_two_processes(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rendezvous = ["--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
                  "--rdzv-endpoint", f"127.0.0.1:{free_port()}", "--rdzv-id", f"facepoints-test-{os.getpid()}"]  # fmt: skip
    command = [TORCHRUN, *rendezvous, *JOB, "--out", str(tmp_path / "nodes")]
    nodes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    try:
        logs = [node.communicate(timeout=TIMEOUT)[0] for node in nodes]
    finally:
        for node in nodes:  # a node left waiting for its peer
            if node.poll() is None:
                node.kill()
                node.wait()
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(log[-3000:] for log in logs)
    command = [TORCHRUN, "--standalone", "--nproc-per-node", "2", *JOB, "--out", str(tmp_path / "one")]
    one = subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert one.returncode == 0, one.stdout[-2000:] + one.stderr[-3000:]

    by_nodes, by_one = metrics(tmp_path / "nodes"), metrics(tmp_path / "one")
    assert len(by_nodes) == len(by_one) == 2
    assert by_nodes[0].keys() == by_one[0].keys() and "val_nme" in by_one[0]
    for row_nodes, row_one in zip(by_nodes, by_one):
        for name, value in row_one.items():
            assert row_nodes[name] == pytest.approx(value, rel=1e-5, abs=1e-9), name
    assert by_one[1]["train_loss"] != by_one[0]["train_loss"]  # it did learn: the comparison is not of two idle runs
    weights_nodes = read_checkpoint(tmp_path / "nodes" / "model.pt")["state_dict"]
    weights_one = read_checkpoint(tmp_path / "one" / "model.pt")["state_dict"]
    assert weights_nodes.keys() == weights_one.keys()
    for name, tensor in weights_one.items():
        torch.testing.assert_close(weights_nodes[name], tensor, rtol=1e-5, atol=1e-7, msg=name)
