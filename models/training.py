"""One training loop for every torch scorer: Adam, progress bar with the loss terms, per-round checkpoints, resume.

A model trained here returns from ``model(batch)`` a dict with ``"loss"`` (a scalar to minimise) and ``"terms"``
(named scalar tensors shown in the progress bar and kept in the history). Training is counted in optimiser steps,
grouped in rounds (a checkpoint and a history line each); batches come from a callable of the round number, so the
scorer decides sampling (class balance, random subsampling) and a resumed run sees the same batches.
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

    rounds_done: int = 0
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    optimizer: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"rounds_done": self.rounds_done, "step": self.step, "history": self.history,
                "optimizer": self.optimizer}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> TrainState:
        return cls(**d) if d else cls()


def autocast_context(device: torch.device, amp: bool):
    """bf16 autocast on CUDA when asked; a no-op on CPU (bf16 convs are slow there)."""
    if amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return nullcontext()


def prior_groups(model: nn.Module, lr: float, prior_lr: float, **adam: Any) -> list[dict[str, Any]]:
    """Adam groups: ``model.prior`` at ``prior_lr`` and the rest of ``model`` at ``lr``, each with the options
    ``adam`` (betas). A mixture prior is a handful of numbers that learns at its own rate (thesis 9.5.2, MPCC's
    eta_p in Algorithm 1 of paper 002)."""
    prior = list(model.prior.parameters())
    ids = {id(p) for p in prior}
    return [{"params": [p for p in model.parameters() if id(p) not in ids], "lr": lr, **adam},
            {"params": prior, "lr": prior_lr, **adam}]


def train(model: nn.Module, batches: Callable[[int], Iterable[dict[str, torch.Tensor]]], *, rounds: int,
          lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), seed: int = 0,
          state: TrainState | None = None, device: torch.device | str = "cpu", amp: bool = True,
          progress: bool = True, on_round_end: Callable[[TrainState], None] | None = None,
          max_steps: int | None = None, lr_factor: Callable[[int], float] | None = None,
          params: Iterable[Any] | None = None) -> TrainState:
    """Train ``model`` from ``state.rounds_done`` up to ``rounds`` with Adam (thesis 9.5.2: lr 1e-3, betas 0.9/0.999).

    Parameters
    ----------
    batches : callable
        ``batches(r)`` yields round r's batches (dicts of tensors on any device; moved to ``device`` here).
    seed : int
        The torch RNG (reparameterisation noise) is reseeded per round from (seed, round): a resumed run continues
        exactly as an uninterrupted one would.
    on_round_end : callable, optional
        Called with the state after each round (write a checkpoint there).
    max_steps : int, optional
        Stop each round after this many batches (timing estimates, smoke runs).
    lr_factor : callable, optional
        ``lr_factor(step)`` multiplies every group's initial learning rate before that optimiser step (a schedule
        that depends on the step alone, so a resumed run follows it exactly).
    params : iterable, optional
        Adam's parameters or parameter groups (:func:`prior_groups`); all of ``model``'s at ``lr`` when None.
    """
    device = torch.device(device)
    state = state or TrainState()
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters() if params is None else params, lr=lr, betas=betas)
    initial = [group["lr"] for group in optimizer.param_groups]  # before a resumed state brings scheduled rates
    if state.optimizer is not None:
        optimizer.load_state_dict(state.optimizer)
    for r in range(state.rounds_done, rounds):
        torch.manual_seed(seed * 100_003 + r)
        round_batches = list(batches(r))
        if max_steps is not None:
            round_batches = round_batches[:max_steps]
        sums: dict[str, float] = {}
        start = time.perf_counter()
        bar = tqdm(round_batches, desc=f"round {r + 1}/{rounds}", disable=not progress, leave=False)
        for batch in bar:
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with autocast_context(device, amp):
                out = model(batch)
            optimizer.zero_grad(set_to_none=True)
            out["loss"].backward()
            if lr_factor is not None:
                for group, lr0 in zip(optimizer.param_groups, initial, strict=True):
                    group["lr"] = lr0 * lr_factor(state.step)
            optimizer.step()
            state.step += 1
            terms = {"loss": float(out["loss"].detach())} | {k: float(v.detach()) for k, v in out["terms"].items()}
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.set_postfix({k: f"{v:.3g}" for k, v in terms.items()}, refresh=False)
        means = {k: v / max(len(round_batches), 1) for k, v in sums.items()}
        means["seconds"] = time.perf_counter() - start
        means["step"] = state.step
        state.history.append(means)
        state.rounds_done = r + 1
        state.optimizer = optimizer.state_dict()
        log.info("round %d/%d: %s", r + 1, rounds, ", ".join(f"{k}={v:.4g}" for k, v in means.items()))
        if on_round_end is not None:
            on_round_end(state)
    model.eval()
    return state
