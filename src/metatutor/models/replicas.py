"""The data-parallel group a fit runs in: this process's rank among `world` replicas of the model, and the
few collectives the fit loop needs (`torch.distributed`, gloo on CPU, NCCL on GPU).

Every replica holds the same weights: they start from the same seed, each computes the gradients of its
own share of every global batch, `reduce_gradients` sums them (each share's loss is already divided by
the whole batch's constant, so the sum is the gradient of the batch one process would have computed),
and every replica then takes the same optimiser step. `Replicas.single()` is one process: every
collective is the identity, so the same code runs with and without a group.

`Replicas.from_env()` joins the group that `torchrun` (`torch.distributed.run`) describes in the
environment (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT`); without `WORLD_SIZE`
(or with 1) it is `single()`.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Replicas:
    """Rank `rank` of `world` replicas; collectives run on `device` (CPU for gloo, this rank's GPU for NCCL)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str = "none"
    device: str = "cpu"

    @classmethod
    def single(cls) -> Replicas:
        """One process: every collective is the identity."""
        return cls()

    @classmethod
    def from_env(cls, *, backend: str | None = None, timeout_s: float = 7200.0) -> Replicas:
        """Join the group described by torchrun's environment (see the module docstring); `backend`
        defaults to NCCL when a GPU is visible, gloo otherwise. `timeout_s` bounds a collective's wait
        (a long validation or IRT step on one rank keeps the others waiting)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls.single()
        rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        chosen = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        device = "cpu"
        if chosen == "nccl":
            torch.cuda.set_device(local)
            device = f"cuda:{local}"
        if not dist.is_initialized():
            timeout = datetime.timedelta(seconds=timeout_s)
            dist.init_process_group(chosen, store=_attempt_store(rank, world, timeout), rank=rank, world_size=world,
                                    timeout=timeout)
        return cls(rank=rank, world=world, local_rank=local, backend=chosen, device=device)

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0 (the one that writes checkpoints, the model and the report)."""
        return self.rank == 0

    def shard(self, positions: np.ndarray) -> np.ndarray:
        """This rank's contiguous share of `positions` (whole learners; shares differ by one at most)."""
        return np.array_split(np.asarray(positions), self.world)[self.rank]

    def part(self, rows: np.ndarray) -> np.ndarray:
        """This rank's rows of one global batch: every `world`-th row from its rank (batches are sorted
        by length, so the shares are alike)."""
        return rows[self.rank :: self.world]

    # ----- collectives -------------------------------------------------------------------------------
    def reduce_gradients(self, parameters: Iterable[nn.Parameter]) -> None:
        """Sum every parameter's gradient over the replicas, in one flat all-reduce. A parameter that no
        replica's step used keeps no gradient (the optimiser skips it, as one process would: DKT's
        starting state in a batch's later windows); one that some used counts as zeros on the others."""
        if self.world == 1:
            return
        params = [p for p in parameters if p.requires_grad]
        used = torch.tensor([float(p.grad is not None) for p in params], device=self.device)
        grads = [torch.zeros(p.numel(), device=self.device) if p.grad is None
                 else p.grad.reshape(-1).to(self.device, torch.float32) for p in params]
        flat = torch.cat([*grads, used])
        dist.all_reduce(flat)
        offset = 0
        for p, anyone in zip(params, flat[-len(params) :].tolist(), strict=True):
            n = p.numel()
            if anyone:
                summed = flat[offset : offset + n].view(p.shape).to(p.device, p.dtype)
                if p.grad is None:
                    p.grad = summed.clone()
                else:
                    p.grad.copy_(summed)
            else:
                p.grad = None
            offset += n

    def union(self, codes: torch.Tensor, size: int) -> torch.Tensor:
        """The distinct codes (< `size`) used by any replica: sorted, on `codes`' device."""
        if self.world == 1:
            return codes
        mask = torch.zeros(size, dtype=torch.int32, device=self.device)
        mask[codes.to(self.device)] = 1
        dist.all_reduce(mask, op=dist.ReduceOp.MAX)
        return torch.nonzero(mask).flatten().to(codes.device)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Elementwise sum over the replicas (float64 or int64)."""
        return self._reduce(values, dist.ReduceOp.SUM)

    def min(self, values: np.ndarray) -> np.ndarray:
        """Elementwise minimum over the replicas (int64 or float64)."""
        return self._reduce(values, dist.ReduceOp.MIN)

    def max(self, values: np.ndarray) -> np.ndarray:
        """Elementwise maximum over the replicas (int64 or float64)."""
        return self._reduce(values, dist.ReduceOp.MAX)

    def _reduce(self, values: np.ndarray, op: dist.ReduceOp.RedOpType) -> np.ndarray:
        arr = np.asarray(values)
        if self.world == 1:
            return arr
        dtype = np.float64 if arr.dtype.kind == "f" else np.int64
        t = torch.from_numpy(np.ascontiguousarray(arr, dtype=dtype)).to(self.device)
        dist.all_reduce(t, op=op)
        return t.cpu().numpy().astype(dtype, copy=False)

    def gather(self, values: np.ndarray) -> np.ndarray:
        """Every replica's rows of `values` (n_r, ...), concatenated in rank order (the same on every rank)."""
        arr = np.asarray(values)
        if self.world == 1:
            return arr
        sizes = self.sum(np.eye(self.world, dtype=np.int64)[self.rank] * len(arr))
        longest = int(sizes.max())
        padded = np.zeros((longest, *arr.shape[1:]), dtype=arr.dtype)
        padded[: len(arr)] = arr
        t = torch.from_numpy(padded).to(self.device)
        parts = [torch.empty_like(t) for _ in range(self.world)]
        dist.all_gather(parts, t)
        return np.concatenate([p.cpu().numpy()[:n] for p, n in zip(parts, sizes.tolist(), strict=True)])

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        """Leave the group (at the end of a worker)."""
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _attempt_store(rank: int, world: int, timeout: datetime.timedelta) -> dist.Store:
    """The rendezvous store of this attempt of the group: torchrun's agent store (or one rank 0 hosts) under a
    prefix naming the restart. After a rank dies, torchrun restarts every rank on a store that may still hold
    the dead ranks' addresses; without the prefix a new rank could read one and wait on it for ever (seen
    with gloo on loopback, about one restart in three)."""
    host, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    store = dist.TCPStore(host, port, world, is_master=not agent and rank == 0, timeout=timeout,
                          **({} if agent else {"multi_tenant": True}))
    return dist.PrefixStore(f"metatutor/attempt_{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", store)

