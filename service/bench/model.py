"""A neural scorer's cost per preset: scoring throughput, FLOPs per curve, the machine's matmul rate, step time.

For each preset of ``--scorer`` (LC-VaDE by default; any torch scorer; untrained weights: cost does not depend on
them) on 300 real curves of ``--data`` (CRTS by default; a set without periods needs ``--periods``):

- ``score_curves_per_s``: model forward (for LC-VaDE encoder, decoder, GP posterior, IAS) on a pre-folded batch of
  256 curves,
  median of ``--repeats`` runs; ``end_to_end_curves_per_s`` adds folding and building the per-object explanations;
- ``flops_per_curve``: counted by ``torch.utils.flop_counter.FlopCounterMode`` over one forward (matmuls and
  convolutions; the I x I float64 Cholesky solves and element-wise ops are not counted);
- ``matmul_gflops``: fp32 matmul rate measured in the same run, with the same thread count;
- ``fraction_of_matmul_rate``: achieved FLOP rate while scoring divided by the matmul rate;
- ``training``: per CPU thread count and batch size (the preset's own unless ``--batch-sizes``), the median time of
  an optimiser step (class-balanced batch drawn from curves folded once, forward, backward, Adam with the scorer's
  parameter groups), the time per training curve seen, and
  ``fit_s_estimate``: that step time times the preset's ``steps`` (an estimate of a fit's training loop, not a
  measured fit).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from models.scorers import list_scorers
from service.cli.options import add_periods_option

CRTS_CURVES = 11_004


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=str(Path("..") / "shared" / "data" / "crts"), help="dataset directory")
    # The names alone: which are torch scorers is read in run(), so building the CLI imports no scorer module.
    parser.add_argument("--scorer", default="lcvade", choices=list_scorers(), help="a torch scorer")
    parser.add_argument("--presets", nargs="+", help="default: the scorer's presets but the tests' 'tiny'")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-steps", type=int, default=5, help="timed optimiser steps per setting")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="CPU thread counts to time")
    parser.add_argument("--batch-sizes", type=int, nargs="+", help="batch sizes to time (default: the preset's)")
    parser.add_argument("--device", default=None)
    add_periods_option(parser)


def neural_scorers() -> list[str]:
    """The registered scorers that are torch networks (the forests have no steps or forward pass to time)."""
    from models.scorers import list_scorers, scorer_class
    from models.scorers.neural import NeuralScorer

    return [name for name in list_scorers() if issubclass(scorer_class(name), NeuralScorer)]


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_gflops(device, repeats: int, n: int = 1024) -> float:
    import torch

    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)

    def run():
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()

    return 2 * n**3 / _median_time(run, repeats) / 1e9


def bench_preset(preset: str, curves, labels, args) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from models.scorers import get_scorer
    from models.scorers.neural import cpu_threads

    scorer = get_scorer(args.scorer, preset=preset, device=args.device, steps=0).fit(curves, labels)  # untrained
    steps, batch_size = scorer.make_config(preset).steps, scorer.config.batch_size
    model, device = scorer.model.to(scorer.device).eval(), scorer.device
    batch = {k: v.to(device) for k, v in scorer.batch_arrays(curves[:256])[1].items()}
    out: dict = {"threads": scorer.config.threads if device.type == "cpu" else None}
    with cpu_threads(scorer.config.threads, device):
        def forward():
            with torch.no_grad():
                model(batch, sample=False)
            if device.type == "cuda":
                torch.cuda.synchronize()

        seconds = _median_time(forward, args.repeats)
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(batch, sample=False)
        flops = counter.get_total_flops() / len(curves[:256])
        rate = matmul_gflops(device, args.repeats)
        end_to_end = _median_time(lambda: scorer.score(curves[:256]), max(1, args.repeats // 2))
    out["training"] = train_step_seconds(scorer, curves, labels, steps, args.batch_sizes or [batch_size], args)
    curves_per_s = 256 / seconds
    out |= {
        "device": str(device), "parameters": sum(p.numel() for p in model.parameters()),
        "score_curves_per_s": round(curves_per_s, 1), "end_to_end_curves_per_s": round(256 / end_to_end, 1),
        "flops_per_curve": int(flops), "matmul_gflops": round(rate, 2),
        "fraction_of_matmul_rate": round(flops * curves_per_s / (rate * 1e9), 4),
    }
    return out


def train_step_seconds(scorer, curves, labels, steps: int, batch_sizes: list[int], args) -> list[dict]:
    """Median optimiser-step time per (threads, batch size), on the scorer's own batches of curves folded once."""
    from dataclasses import replace

    import torch

    from models.scorers.neural import cpu_threads

    data = scorer.prepare(curves, labels)
    model, device = scorer.model.train(), scorer.device
    optimizer = torch.optim.Adam(scorer.optimiser_groups(), lr=scorer.config.lr)
    rows = []
    for threads in args.threads:
        for batch_size in batch_sizes:
            scorer.config = replace(scorer.config, batch_size=batch_size, round_steps=args.train_steps + 1,
                                    steps=args.train_steps + 1)
            batches = [{k: v.to(device) for k, v in b.items()} for b in scorer._round_batches(data, 0)]
            times = []
            with cpu_threads(threads, device):
                for i, batch in enumerate(batches):
                    start = time.perf_counter()
                    loss = model(batch)["loss"]
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    if i:  # the first step warms up
                        times.append(time.perf_counter() - start)
            step = statistics.median(times)
            rows.append({"threads": threads, "batch_size": batch_size, "step_s": round(step, 4),
                         "ms_per_curve": round(1000 * step / batch_size, 3), "fit_s_estimate": round(step * steps, 1)})
    return rows


def run(args: argparse.Namespace) -> dict:
    from models.readers import read_dataset
    from models.scorers import scorer_class

    if args.scorer not in neural_scorers():
        raise SystemExit(f"lcad bench model: {args.scorer!r} has no network to time; torch scorers: "
                         f"{', '.join(neural_scorers())}")
    dataset = read_dataset(args.data, limit=300, periods=args.periods)
    curves, labels = dataset.lightcurves, list(dataset.labels)
    presets = args.presets or [name for name in scorer_class(args.scorer).presets if name != "tiny"]
    return {preset: bench_preset(preset, curves, labels, args) for preset in presets}
