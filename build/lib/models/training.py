"""One training loop for every torch scorer: Adam, progress bar with the loss terms, per-epoch checkpoints, resume.

A model trained here returns from ``model(batch)`` a dict with ``"loss"`` (a scalar to minimise) and ``"terms"``
(named scalar tensors shown in the progress bar and kept in the history). Batches come from a callable of the epoch
number, so the scorer decides sampling (class balance, random subsampling) and a resumed run sees the same batches.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

log = logging.getLogger(__name__)


@dataclass
class TrainState:
    """Where training stands; it is saved in the checkpoint so that ``train`` can resume from it."""

    epoch: int = 0
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    optimizer: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "step": self.step, "history": self.history, "optimizer": self.optimizer}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> TrainState:
        return cls(**d) if d else cls()


def autocast_context(device: torch.device, amp: bool):
    """bf16 autocast on CUDA when asked; a no-op on CPU (bf16 convs are slow there)."""
    if amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return nullcontext()


def train(model: nn.Module, batches: Callable[[int], Iterable[dict[str, torch.Tensor]]], *, epochs: int,
          lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), seed: int = 0,
          state: TrainState | None = None, device: torch.device | str = "cpu", amp: bool = True,
          progress: bool = True, on_epoch_end: Callable[[TrainState], None] | None = None,
          max_steps: int | None = None) -> TrainState:
    """Train ``model`` from ``state.epoch`` up to ``epochs`` with Adam (thesis section 9.5.2: lr 1e-3, betas 0.9/0.999).

    Parameters
    ----------
    batches : callable
        ``batches(epoch)`` yields the epoch's batches (dicts of tensors on any device; moved to ``device`` here).
    seed : int
        The torch RNG (reparameterisation noise) is reseeded per epoch from (seed, epoch): a resumed run continues
        exactly as an uninterrupted one would.
    on_epoch_end : callable, optional
        Called with the state after each epoch (write a checkpoint there).
    max_steps : int, optional
        Stop each epoch after this many batches (timing estimates, smoke runs).
    """
    device = torch.device(device)
    state = state or TrainState()
    model.to(device).train()
    # A model may split its parameters into groups with their own learning rates.
    params = model.param_groups(lr) if hasattr(model, "param_groups") else model.parameters()
    optimizer = torch.optim.Adam(params, lr=lr, betas=betas)
    if state.optimizer is not None:
        optimizer.load_state_dict(state.optimizer)
    for epoch in range(state.epoch, epochs):
        torch.manual_seed(seed * 100_003 + epoch)
        epoch_batches = list(batches(epoch))
        if max_steps is not None:
            epoch_batches = epoch_batches[:max_steps]
        sums: dict[str, float] = {}
        start = time.perf_counter()
        bar = tqdm(epoch_batches, desc=f"epoch {epoch + 1}/{epochs}", disable=not progress, leave=False)
        for batch in bar:
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with autocast_context(device, amp):
                out = model(batch)
            optimizer.zero_grad(set_to_none=True)
            out["loss"].backward()
            optimizer.step()
            state.step += 1
            terms = {"loss": float(out["loss"].detach())} | {k: float(v.detach()) for k, v in out["terms"].items()}
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.set_postfix({k: f"{v:.3g}" for k, v in terms.items()}, refresh=False)
        means = {k: v / max(len(epoch_batches), 1) for k, v in sums.items()}
        means["seconds"] = time.perf_counter() - start
        state.history.append(means)
        state.epoch = epoch + 1
        state.optimizer = optimizer.state_dict()
        log.info("epoch %d/%d: %s", epoch + 1, epochs, ", ".join(f"{k}={v:.4g}" for k, v in means.items()))
        if on_epoch_end is not None:
            on_epoch_end(state)
    model.eval()
    return state
