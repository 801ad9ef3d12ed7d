"""Data-parallel set-up from the environment `torchrun` provides (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_*).

One process without those variables is world size 1 (no process group). On CUDA each rank takes the GPU
`LOCAL_RANK` and NCCL; on CPU the backend is gloo.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist


@dataclass
class Distributed:
    """The process's place: `rank` of `world_size`, its `device`, and whether a process group is up."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device('cpu')
    initialised: bool = False

    def barrier(self) -> None:
        """Wait for every rank (no-op alone)."""
        if self.initialised:
            torch_dist.barrier()

    def close(self) -> None:
        """Tear the process group down (no-op alone)."""
        if self.initialised:
            torch_dist.destroy_process_group()
            self.initialised = False


def pick_device(device: str = 'auto', local_rank: int = 0) -> torch.device:
    """'auto' → CUDA (this rank's GPU) when available, else CPU; 'cpu' / 'cuda' / 'cuda:N' as given."""
    if device == 'auto':
        return torch.device(f'cuda:{local_rank}') if torch.cuda.is_available() else torch.device('cpu')
    return torch.device(device)


def setup_distributed(device: str | None = None) -> Distributed:
    """Join the process group when launched by torchrun; otherwise a single process on `device` (default auto)."""
    device = device or os.environ.get('AV_POSE_DEVICE', 'auto')
    world_size = int(os.environ.get('WORLD_SIZE', '1'))
    if world_size <= 1:
        return Distributed(device=pick_device(device))
    rank, local_rank = int(os.environ['RANK']), int(os.environ.get('LOCAL_RANK', '0'))
    chosen = pick_device(device, local_rank)
    backend = 'nccl' if chosen.type == 'cuda' else 'gloo'
    if chosen.type == 'cuda':
        torch.cuda.set_device(chosen)
    torch_dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return Distributed(rank=rank, world_size=world_size, device=chosen, initialised=True)
