"""Speed and memory of ``algos.kernels`` next to the torch ways of doing the same.

    python benchmarks/kernels.py             # CUDA if present, else the CPU memory check
    python benchmarks/kernels.py --quick     # smaller sizes, for a smoke run
    python benchmarks/kernels.py --device cpu

On a GPU (bf16 logits, N = 16384 rows, V in {32000, 151936}):

- log-probs: the Triton kernel (forward; forward + backward; backward in place) next to
  ``torch.log_softmax`` (fp32) + ``gather``, TRL's ``selective_log_softmax`` (a Python loop
  over sequences of 1024 tokens) and the chunked torch path of ``algos.kernels``: time,
  achieved bandwidth (the bytes each pass must move: N·V·b forward, 3·N·V·b forward +
  backward) as a share of the device's peak, and peak memory above the inputs.
- lm_head: ``fused_linear_logprobs`` next to ``hidden @ W.T`` then log_softmax + gather,
  forward + backward to hidden and W: time and peak memory, and their ratios.
- the advantage and loss ops next to their torch references.

On the CPU: the peak memory (resident set, each path in a fresh process) and time of the
fused lm_head path next to the naive one at N = 8192, V = 32000, H = 1024 (fp32), which
must be at most 1/4, and the torch log-prob paths' times.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

# This script is named like the package it measures: keep its own folder off the import path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import torch
import torch.nn.functional as F

from algos import kernels

# Peak HBM bandwidth by device name (vendor figures, bytes/s).
PEAK_BANDWIDTH = [("H200", 4.8e12), ("H100 PCIe", 2.0e12), ("H100", 3.35e12), ("A100", 2.0e12), ("L40S", 0.864e12)]
MEMORY_LIMIT_RATIO = 0.25  # fused / naive peak memory on the CPU ...
SPEC_SIZE = (8192, 32000, 1024)  # ... at N, V, H


@contextlib.contextmanager
def kernel_backend(name: str):
    old = os.environ.get(kernels.ENV_VAR)
    os.environ[kernels.ENV_VAR] = name
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(kernels.ENV_VAR, None)
        else:
            os.environ[kernels.ENV_VAR] = old


# -- the baselines --------------------------------------------------------------------------


def log_softmax_gather(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, targets[:, None]).squeeze(-1)


def trl_selective_log_softmax(logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """TRL's ``selective_log_softmax`` (trl/trainer/utils.py), on [B, L, V] logits."""
    if logits.dtype in (torch.float32, torch.float64):
        selected = torch.gather(logits, dim=-1, index=index.unsqueeze(-1)).squeeze(-1)
        lse = torch.stack([torch.logsumexp(row, dim=-1) for row in logits])  # loop: less peak memory
        return selected - lse
    out = []
    for row_logits, row_labels in zip(logits, index):  # bf16: logsumexp is unstable, log_softmax per row
        row_logps = F.log_softmax(row_logits, dim=-1)
        out.append(row_logps.gather(dim=-1, index=row_labels.unsqueeze(-1)).squeeze(-1))
    return torch.stack(out)


def row_loop(seq_len: int) -> Callable:
    def run(logits, targets):
        n, v = logits.shape
        return trl_selective_log_softmax(logits.view(n // seq_len, seq_len, v), targets.view(-1, seq_len)).view(n)

    return run


def chunked_torch(logits, targets):
    with kernel_backend("torch"):
        return kernels.logprobs(logits, targets)[0]


def triton_logprobs(logits, targets):
    with kernel_backend("triton"):
        return kernels.logprobs(logits, targets)[0]


def triton_logprobs_inplace(logits, targets):
    with kernel_backend("triton"):
        return kernels.logprobs(logits, targets, inplace_backward=True)[0]


def naive_lm_head(hidden, weight, targets):
    return log_softmax_gather(hidden @ weight.t(), targets)


def fused_lm_head(hidden, weight, targets):
    return kernels.fused_linear_logprobs(hidden, weight, targets)[0]


# -- measuring ------------------------------------------------------------------------------


def cuda_measure(fn: Callable[[], None], repeats: int) -> tuple[float, int]:
    """(median ms, peak bytes above what was allocated before) of ``fn`` on the GPU."""
    fn()  # warm-up: compilation, autotuning, allocator
    torch.cuda.synchronize()
    gc.collect()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times), peak


def cpu_time(fn: Callable[[], None], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def forward_only(impl, *inputs):
    def run():
        with torch.no_grad():
            impl(*inputs)

    return run


def forward_backward(impl, leaf, *rest, grad=None):
    """``impl(leaf, *rest)``, then backward of Σ grad·logp into a fresh leaf over ``leaf``'s memory."""

    def run():
        x = leaf.detach().requires_grad_()
        logp = impl(x, *rest)
        logp.backward(grad)

    return run


def peak_bandwidth(name: str) -> float | None:
    for key, bw in PEAK_BANDWIDTH:
        if key in name:
            return bw
    return None


def copy_bandwidth() -> float:
    """Device-to-device copy bandwidth (read + write) of a 2 GiB buffer: what is reachable."""
    src = torch.empty(1 << 30, dtype=torch.float16, device="cuda")
    dst = torch.empty_like(src)
    ms, _ = cuda_measure(lambda: dst.copy_(src), 5)
    return 2 * (2 << 30) / (ms * 1e-3)


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


# -- GPU ------------------------------------------------------------------------------------


def gpu_logprobs(n: int, vocab: int, repeats: int, peak_bw: float | None, seq_len: int) -> list[dict]:
    g = torch.Generator(device="cuda").manual_seed(0)
    logits = torch.randn(n, vocab, device="cuda", dtype=torch.bfloat16, generator=g).mul_(3)
    targets = torch.randint(0, vocab, (n,), device="cuda", generator=g)
    grad = torch.randn(n, device="cuda", generator=g)
    ours, _ = kernels.logprobs(logits, targets)
    ref = log_softmax_gather(logits, targets)
    err = (ours - ref).abs().max().item()
    scratch = logits.clone()  # the in-place backward overwrites its logits
    impls = [
        ("triton kernel", triton_logprobs, logits),
        ("triton, in-place backward", triton_logprobs_inplace, scratch),
        ("log_softmax(fp32)+gather", log_softmax_gather, logits),
        (f"row loop (TRL, {seq_len}-token rows)", row_loop(seq_len), logits),
        ("chunked torch", chunked_torch, logits),
    ]
    elem = logits.element_size()
    results = []
    for name, impl, x in impls:
        for pass_name, fn, nbytes in (
            ("fwd", forward_only(impl, x, targets), n * vocab * elem),
            ("fwd+bwd", forward_backward(impl, x, targets, grad=grad), 3 * n * vocab * elem),
        ):
            if name.startswith("triton, in-place") and pass_name == "fwd":
                continue
            ms, peak = cuda_measure(fn, repeats)
            bw = nbytes / (ms * 1e-3)
            results.append(
                {
                    "V": vocab,
                    "impl": name,
                    "pass_": pass_name,
                    "ms": ms,
                    "gbps": bw / 1e9,
                    "pct": bw / peak_bw * 100 if peak_bw else None,
                    "peak_mib": peak / 2**20,
                }
            )
    for r in results:  # speed-up against the row loop of the same pass
        loop = next(x for x in results if x["impl"].startswith("row loop") and x["pass_"] == r["pass_"])
        r["vs_loop"] = loop["ms"] / r["ms"]
    print(f"  V={vocab}: max |triton - log_softmax(fp32)| = {err:.2e}")
    del logits, scratch
    torch.cuda.empty_cache()
    return results


def gpu_lm_head(n: int, hidden_size: int, vocab: int, repeats: int) -> list[dict]:
    g = torch.Generator(device="cuda").manual_seed(1)
    hidden = torch.randn(n, hidden_size, device="cuda", dtype=torch.bfloat16, generator=g)
    weight = torch.randn(vocab, hidden_size, device="cuda", dtype=torch.bfloat16, generator=g).mul_(hidden_size**-0.5)
    targets = torch.randint(0, vocab, (n,), device="cuda", generator=g)
    grad = torch.randn(n, device="cuda", generator=g)

    def fwd_bwd(impl):
        def run():
            h = hidden.detach().requires_grad_()
            w = weight.detach().requires_grad_()
            impl(h, w, targets).backward(grad)

        return run

    out = []
    with kernel_backend("triton"):
        for name, impl in (
            ("naive: hidden @ W.T, log_softmax(fp32)+gather", naive_lm_head),
            ("fused_linear_logprobs", fused_lm_head),
        ):
            for pass_name, fn in (("fwd", forward_only(impl, hidden, weight, targets)), ("fwd+bwd", fwd_bwd(impl))):
                ms, peak = cuda_measure(fn, repeats)
                out.append({"V": vocab, "impl": name, "pass_": pass_name, "ms": ms, "peak_mib": peak / 2**20})
    return out


def gpu_rl_ops(B: int, T: int, repeats: int) -> list[dict]:
    g = torch.Generator(device="cuda").manual_seed(2)
    rewards = torch.rand(B, device="cuda", generator=g)
    group_ids = torch.arange(B, device="cuda") // 8
    response = torch.rand(B, T, device="cuda", generator=g) > 0.2
    turn_index = (torch.arange(T, device="cuda")[None, :] * 6 // T).expand(B, T).contiguous()
    fatal = torch.where(torch.rand(B, device="cuda", generator=g) < 0.2, 2, -1)
    old = -torch.rand(B, T, device="cuda", generator=g) * 3
    logp = old + 0.2 * torch.randn(B, T, device="cuda", generator=g)
    out = []
    for backend in ("triton", "torch"):
        with kernel_backend(backend):
            adv_fn = lambda: kernels.advantages_and_mask(
                rewards, group_ids, response, turn_index, fatal, estimator="rloo"
            )
            adv, mask = adv_fn()

            def loss_fn(adv=adv, mask=mask):
                x = logp.detach().requires_grad_()
                loss, _ = kernels.clipped_loss(x, old, adv, mask, clip_high=0.28, loss_agg_mode="seq-mean-token-sum")
                loss.backward()

            for name, fn in (("advantages_and_mask (rloo, fatal)", adv_fn), ("clipped_loss fwd+bwd", loss_fn)):
                ms, peak = cuda_measure(fn, repeats)
                out.append({"impl": name, "backend": backend, "ms": ms, "peak_mib": peak / 2**20})
    return out


def run_gpu(args) -> list[dict]:
    props = torch.cuda.get_device_properties(0)
    peak_bw = peak_bandwidth(props.name)
    copy_bw = copy_bandwidth()
    print(
        f"device: {props.name}, {props.total_memory / 2**30:.0f} GiB; peak HBM bandwidth "
        f"{peak_bw / 1e12 if peak_bw else float('nan'):.2f} TB/s (spec), device copy {copy_bw / 1e12:.2f} TB/s (measured)"
    )
    print(f"torch {torch.__version__}, triton {__import__('triton').__version__}")
    rows: list[dict] = []
    lp_rows = []
    for vocab in args.vocab:
        lp_rows += gpu_logprobs(args.n, vocab, args.repeats, peak_bw, args.seq_len)
    print_table(
        f"log-probs, N={args.n}, bf16 logits (bandwidth: bytes a pass must move / time)",
        ["V", "implementation", "pass", "ms", "GB/s", "% peak", "% copy", "peak MiB", "x row loop"],
        [
            [
                str(r["V"]),
                r["impl"],
                r["pass_"],
                f"{r['ms']:.3f}",
                f"{r['gbps']:.0f}",
                f"{r['pct']:.0f}" if r["pct"] is not None else "-",
                f"{r['gbps'] * 1e9 / copy_bw * 100:.0f}",
                f"{r['peak_mib']:.0f}",
                f"{r['vs_loop']:.1f}",
            ]
            for r in lp_rows
        ],
    )
    rows += lp_rows
    head_rows = []
    for vocab in args.vocab:
        head_rows += gpu_lm_head(args.lm_n, args.hidden, vocab, max(2, args.repeats // 2))
    table = []
    for r in head_rows:
        naive = next(
            x for x in head_rows if x["V"] == r["V"] and x["pass_"] == r["pass_"] and x["impl"].startswith("naive")
        )
        table.append(
            [
                str(r["V"]),
                r["impl"],
                r["pass_"],
                f"{r['ms']:.2f}",
                f"{r['peak_mib']:.0f}",
                f"{r['ms'] / naive['ms']:.2f}",
                f"{r['peak_mib'] / naive['peak_mib']:.3f}",
            ]
        )
    print_table(
        f"lm_head + log-probs, N={args.lm_n}, H={args.hidden}, bf16",
        ["V", "implementation", "pass", "ms", "peak MiB", "time / naive", "memory / naive"],
        table,
    )
    rows += head_rows
    ops = gpu_rl_ops(args.rl_batch, args.rl_tokens, args.repeats)
    print_table(
        f"advantage and loss ops, B={args.rl_batch}, T={args.rl_tokens}",
        ["op", "backend", "ms", "peak MiB"],
        [[r["impl"], r["backend"], f"{r['ms']:.3f}", f"{r['peak_mib']:.0f}"] for r in ops],
    )
    return rows + ops


# -- CPU ------------------------------------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM; Linux >= 4.0). False where that is refused."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _child(kind: str, n: int, vocab: int, hidden_size: int) -> None:
    """One fused or naive forward + backward in this fresh process; prints peak RSS growth and time."""
    impl = fused_lm_head if kind == "fused" else naive_lm_head

    def step(h, w, t, g):
        impl(h, w, t).backward(g)

    def inputs(rows, v, hs):
        gen = torch.Generator().manual_seed(0)
        h = torch.randn(rows, hs, generator=gen).requires_grad_()
        w = torch.randn(v, hs, generator=gen).mul_(hs**-0.5).requires_grad_()  # in place: no transient copy
        return h, w, torch.randint(0, v, (rows,), generator=gen), torch.randn(rows, generator=gen)

    with kernel_backend("torch"):
        step(*inputs(64, 512, 64))  # one-off allocations (thread pools, BLAS buffers) before the baseline
        args = inputs(n, vocab, hidden_size)
        gc.collect()
        base = _rss_bytes()
        # without a reset, the peak so far (e.g. while importing torch) may hide the run's
        reset = _reset_peak_rss()
        before = _peak_rss_bytes()
        t0 = time.perf_counter()
        step(*args)
        seconds = time.perf_counter() - t0
    after = _peak_rss_bytes()
    print(json.dumps({"peak_bytes": after - base, "seconds": seconds, "lower_bound": not reset and after <= before}))


def cpu_memory(n: int, vocab: int, hidden_size: int) -> dict[str, dict]:
    out = {}
    for kind in ("naive", "fused"):
        cmd = [sys.executable, os.path.abspath(__file__), "--_child", kind, str(n), str(vocab), str(hidden_size)]
        env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
        out[kind] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def run_cpu(args) -> list[dict]:
    n, vocab, hs = args.mem_n, args.mem_vocab, args.mem_hidden
    print(
        f"device: cpu ({torch.get_num_threads()} threads), torch {torch.__version__}; the torch paths of algos.kernels"
    )
    mem = cpu_memory(n, vocab, hs)
    ratio = mem["fused"]["peak_bytes"] / mem["naive"]["peak_bytes"]
    rows = [{"impl": k, "peak_mib": v["peak_bytes"] / 2**20, "seconds": v["seconds"]} for k, v in mem.items()]
    print_table(
        f"lm_head + log-probs, fwd+bwd, N={n}, V={vocab}, H={hs}, fp32 (peak resident memory above the inputs)",
        ["implementation", "peak MiB", "s", "memory / naive"],
        [
            ["naive: hidden @ W.T, log_softmax+gather", f"{rows[0]['peak_mib']:.0f}", f"{rows[0]['seconds']:.2f}", "1"],
            [
                "fused_linear_logprobs (torch path)",
                f"{rows[1]['peak_mib']:.0f}",
                f"{rows[1]['seconds']:.2f}",
                f"{ratio:.3f}",
            ],
        ],
    )
    if (n, vocab, hs) == SPEC_SIZE:
        verdict = "ok" if ratio <= MEMORY_LIMIT_RATIO else "FAILED"
        print(f"fused / naive peak memory = {ratio:.3f} (limit {MEMORY_LIMIT_RATIO}): {verdict}")
    else:
        print(f"fused / naive peak memory = {ratio:.3f} (the limit {MEMORY_LIMIT_RATIO} is for N, V, H = {SPEC_SIZE})")
    if any(v["lower_bound"] for v in mem.values()):
        print("note: a run did not exceed its process's earlier peak; its number is a lower bound")

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(args.cpu_n, args.cpu_vocab, generator=g) * 3
    targets = torch.randint(0, args.cpu_vocab, (args.cpu_n,), generator=g)
    grad = torch.randn(args.cpu_n, generator=g)
    seq = min(args.seq_len, args.cpu_n)
    table = []
    for name, impl in (
        ("log_softmax(fp32)+gather", log_softmax_gather),
        (f"row loop (TRL, {seq}-token rows)", row_loop(seq)),
        ("chunked torch", chunked_torch),
    ):
        fwd = cpu_time(forward_only(impl, logits, targets), args.repeats)
        both = cpu_time(forward_backward(impl, logits, targets, grad=grad), args.repeats)
        table.append([name, f"{fwd:.1f}", f"{both:.1f}"])
        rows.append({"impl": name, "fwd_ms": fwd, "fwd_bwd_ms": both})
    print_table(
        f"log-probs on the CPU, N={args.cpu_n}, V={args.cpu_vocab}, fp32",
        ["implementation", "fwd ms", "fwd+bwd ms"],
        table,
    )
    rows.append({"impl": "memory ratio", "ratio": ratio, "ok": ratio <= MEMORY_LIMIT_RATIO})
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats")
    p.add_argument("--n", type=int, default=16384, help="rows (tokens) of the log-prob benchmark")
    p.add_argument("--vocab", type=int, nargs="+", default=[32000, 151936])
    p.add_argument("--seq-len", type=int, default=1024, help="sequence length of the TRL row loop")
    p.add_argument("--lm-n", type=int, default=16384, help="rows of the GPU lm_head benchmark")
    p.add_argument("--hidden", type=int, default=4096, help="hidden size of the GPU lm_head benchmark")
    p.add_argument("--rl-batch", type=int, default=1024)
    p.add_argument("--rl-tokens", type=int, default=8192)
    p.add_argument("--mem-n", type=int, default=8192, help="CPU memory check: rows")
    p.add_argument("--mem-vocab", type=int, default=32000, help="CPU memory check: vocabulary")
    p.add_argument("--mem-hidden", type=int, default=1024, help="CPU memory check: hidden size")
    p.add_argument("--cpu-n", type=int, default=1024, help="rows of the CPU log-prob timing")
    p.add_argument("--cpu-vocab", type=int, default=32000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--_child", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._child:
        kind, *sizes = args._child
        _child(kind, *map(int, sizes))
        return []
    if args.quick:
        args.n, args.lm_n, args.rl_batch = min(args.n, 4096), min(args.lm_n, 4096), min(args.rl_batch, 256)
        args.mem_n, args.mem_vocab, args.mem_hidden = (
            min(args.mem_n, 4096),
            min(args.mem_vocab, 16000),
            min(args.mem_hidden, 512),
        )
        args.cpu_n, args.repeats = min(args.cpu_n, 512), min(args.repeats, 2)
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    return run_gpu(args) if device == "cuda" else run_cpu(args)


if __name__ == "__main__":
    main()
