"""Time GRPO advantages + clipped loss: ``algos`` (batched tensors) next to a per-sequence loop.

    python benchmarks/algos.py            # 256 sequences x 4096 tokens, groups of 8
    python benchmarks/algos.py --quick    # 64 x 1024, for a smoke run
    python benchmarks/algos.py --device cuda

Both sides compute the same thing (GRPO advantages with unbiased std, clipped surrogate
with dual clip, token-mean) from the same inputs; the script checks that loss and
gradients agree before it prints the table.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable

# This script is named like the package it measures: keep its own folder off the import
# path, or ``import algos`` would import this file.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import torch  # noqa: E402

import algos  # noqa: E402
from algos import EpisodeBatch  # noqa: E402

CLIP_LOW, CLIP_HIGH, CLIP_C, EPS = 0.2, 0.28, 3.0, 1e-6


def make_inputs(
    n_seq: int, seq_len: int, group_size: int, device: str, seed: int = 0
) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(seq_len // 8, seq_len + 1, (n_seq,), generator=g)
    prompt = torch.randint(0, seq_len // 8, (n_seq,), generator=g)
    pos = torch.arange(seq_len)[None, :]
    response = (pos >= prompt[:, None]) & (pos < lengths[:, None])
    old_logp = -torch.rand(n_seq, seq_len, generator=g) * 3
    return {
        "input_ids": torch.randint(0, 32000, (n_seq, seq_len), generator=g).to(device),
        "response_mask": response.to(device),
        "group_ids": (torch.arange(n_seq) // group_size).to(device),
        "rewards": torch.randint(0, 2, (n_seq,), generator=g)
        .float()
        .add(torch.rand(n_seq, generator=g) * 0.1)
        .to(device),
        "old_logp": old_logp.to(device),
        "logp": (old_logp + 0.3 * torch.randn(n_seq, seq_len, generator=g)).to(device),
    }


def build_batch(inputs: dict[str, torch.Tensor]) -> EpisodeBatch:
    return EpisodeBatch(**{k: v for k, v in inputs.items() if k != "logp"})


ALGO = algos.make("grpo", clip_low=CLIP_LOW, clip_high=CLIP_HIGH, clip_ratio_c=CLIP_C, eps=EPS)


def vectorized(
    batch: EpisodeBatch, logp: torch.Tensor, backward: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    logp = logp.detach().requires_grad_(backward)
    adv, mask = ALGO.compute_advantages(batch)
    loss, _ = ALGO.compute_loss(logp, batch, adv, mask)
    if backward:
        loss.backward()
    return loss.detach(), logp.grad


def loop(inputs: dict[str, torch.Tensor], backward: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The straightforward version: Python over groups for advantages, over sequences for the loss."""
    rewards = inputs["rewards"].tolist()
    members: dict[int, list[int]] = defaultdict(list)
    for i, gid in enumerate(inputs["group_ids"].tolist()):
        members[gid].append(i)
    adv = [0.0] * len(rewards)
    for idx in members.values():
        vals = [rewards[i] for i in idx]
        if len(vals) < 2 or min(vals) == max(vals):
            continue
        mean = sum(vals) / len(vals)
        std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
        for i in idx:
            adv[i] = (rewards[i] - mean) / (std + EPS)

    logp = inputs["logp"].detach().requires_grad_(backward)
    total, n_tokens = logp.new_zeros(()), 0
    for b in range(logp.shape[0]):
        m = inputs["response_mask"][b]
        ratio = torch.exp((logp[b][m] - inputs["old_logp"][b][m]).clamp(-20, 20))
        a = adv[b]
        per_token = torch.maximum(-a * ratio, -a * ratio.clamp(1 - CLIP_LOW, 1 + CLIP_HIGH))
        if a < 0:
            per_token = torch.clamp(per_token, max=-a * CLIP_C)
        total = total + per_token.sum()
        n_tokens += int(m.sum())
    loss = total / max(n_tokens, 1)
    if backward:
        loss.backward()
    return loss.detach(), logp.grad


def timed(fn: Callable[[], object], repeats: int, device: str) -> float:
    """Median wall time in ms over ``repeats`` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> list[tuple[str, float, float | None]]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="64 x 1024 tokens, 3 repeats")
    p.add_argument("--n-seq", type=int, default=256)
    p.add_argument("--seq-len", type=int, default=4096)
    p.add_argument("--group-size", type=int, default=8)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    if args.quick:
        args.n_seq, args.seq_len, args.repeats = 64, 1024, 3

    inputs = make_inputs(args.n_seq, args.seq_len, args.group_size, args.device)
    batch = build_batch(inputs)
    v_loss, v_grad = vectorized(batch, inputs["logp"], backward=True)
    l_loss, l_grad = loop(inputs, backward=True)
    torch.testing.assert_close(v_loss, l_loss, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(v_grad, l_grad, rtol=1e-4, atol=1e-9)

    rows = [
        ("EpisodeBatch checks (once)", timed(lambda: build_batch(inputs), args.repeats, args.device), None)
    ]
    for label, backward in (("advantages + loss", False), ("advantages + loss + backward", True)):
        t_vec = timed(lambda bw=backward: vectorized(batch, inputs["logp"], bw), args.repeats, args.device)
        t_loop = timed(lambda bw=backward: loop(inputs, bw), args.repeats, args.device)
        rows.append((label, t_vec, t_loop))

    print(
        f"grpo on {args.n_seq} sequences x {args.seq_len} tokens, groups of {args.group_size}, "
        f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads "
        f"(median of {args.repeats}; loss and grads match the loop)"
    )
    print(f"| {'step':<30} | {'algos (ms)':>10} | {'loop (ms)':>10} | {'speed-up':>8} |")
    print(f"|{'-' * 32}|{'-' * 11}:|{'-' * 11}:|{'-' * 9}:|")
    for label, t_vec, t_loop in rows:
        if t_loop is None:
            print(f"| {label:<30} | {t_vec:>10.1f} | {'-':>10} | {'-':>8} |")
        else:
            print(f"| {label:<30} | {t_vec:>10.1f} | {t_loop:>10.1f} | {t_loop / t_vec:>7.1f}x |")
    return rows


if __name__ == "__main__":
    main()
