"""The processes of a run: one, or one per rank under ``torchrun`` (DistributedDataParallel, gloo on CPU,
nccl on GPU), and the sums that make their metrics those of the whole data."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["Processes", "all_sum", "start_processes", "stop_processes", "wait_for_all"]


@dataclass(frozen=True)
class Processes:
    """This process's rank, the number of processes and the device it trains on."""

    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        """Whether this process writes the run's files and logs (rank 0)."""
        return self.rank == 0


def start_processes() -> Processes:
    """Join the process group when started by ``torchrun`` and pick this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    return Processes(rank, world, device)


def all_sum(values: list[float], device: torch.device | str) -> list[float]:
    """``values`` summed over all processes (unchanged in a single process)."""
    if not dist.is_initialized():
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def wait_for_all() -> None:
    """Block until every process gets here (no-op in a single process)."""
    if dist.is_initialized():
        dist.barrier()


def stop_processes() -> None:
    """Leave the process group, if any."""
    if dist.is_initialized():
        dist.destroy_process_group()
