"""vLLM's CPU backend against HF ``generate`` on the same tiny model and prompts, and the weight sync.

    make bench-vllm                                   # = .venv-vllm/bin/python benchmarks/vllm_cpu.py --quick
    .venv-vllm/bin/python benchmarks/vllm_cpu.py      # hidden 128, 2 layers; batches of 1 and 16 prompts
    .venv-vllm/bin/python benchmarks/vllm_cpu.py --hidden 256 --layers 4 --new-tokens 128

Needs vLLM (``make vllm``). Builds a tiny Qwen2 model of ``tiny.VLLM_SIZES`` (head_dim 64), and
measures, in one run:

- the engine's start (``VLLMPolicy(...)``: spawn the engine process, load, allocate the KV cache);
- sampled tokens per second for Maze-v0 task prompts, each batch sampled by ``VLLMPolicy.generate``
  and by ``HFPolicy.generate`` (the baseline: transformers ``generate``, fp32, same prompts, same
  limits, temperature 1; turns end at the chat's stop tokens or the limit);
- the weight sync: ``VLLMPolicy.load_weights(model)`` (the trainer's call after each update).

Timings are noisy on a shared machine: read the ratios, measured side by side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Keep this folder off the import path: benchmarks/algos.py would shadow the algos package.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]


def prompts(chat, n: int, size: int):
    import gymnasium as gym

    import mmsearch_gym  # noqa: F401
    from algos.rollout import TokenPrompt

    env = gym.make("mmsearch_gym/Maze-v0", size=size, text_maze=True, question_types=("moves",))
    out = []
    for seed in range(n):
        _, info = env.reset(seed=seed)
        out.append(TokenPrompt(list(chat.prompt(info["messages"], [[] for _ in info["messages"]]).ids)))
    return out


def tokens_per_s(policy, batch, params, stop, repeats: int) -> tuple[float, int]:
    rates, n = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        gens = policy.generate(batch, params, stop)
        elapsed = time.perf_counter() - start
        n = sum(len(g.ids) for g in gens)
        rates.append(n / elapsed)
    return statistics.median(rates), n


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, default=64, help="tokens per turn (the limit)")
    parser.add_argument("--batches", default="1,16", help="prompts per generate call, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--syncs", type=int, default=5, help="timed weight syncs")
    parser.add_argument("--quick", action="store_true", help="batches 1 and 8, 32 tokens, 2 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.batches, args.new_tokens, args.repeats, args.syncs = "1,8", 32, 2, 3
    try:
        import vllm  # noqa: F401
    except ImportError:
        print("vLLM is not installed here: `make vllm`, then `make bench-vllm`")
        return {}
    import torch
    from rich.console import Console
    from rich.table import Table

    from algos import tiny
    from algos.rollout import HFPolicy, SamplingParams, VLLMPolicy

    console, results = Console(), {}
    batches = [int(x) for x in args.batches.split(",")]
    params = SamplingParams(max_new_tokens=args.new_tokens, temperature=1.0)
    with tempfile.TemporaryDirectory() as tmp:
        path = tiny.save_tiny_model(Path(tmp) / "tiny", "text", hidden=args.hidden, heads=args.heads,
                                    layers=args.layers)
        hf = HFPolicy.from_pretrained(path)
        chat = hf.chat_format()
        work = {b: prompts(chat, b, size=3) for b in batches}
        threads = torch.get_num_threads()
        # HF first, before the engine starts: the two never share the 2 cores
        for b in batches:
            tokens_per_s(hf, work[b], params, chat.stop_ids, 1)  # warm-up
            results[f"hf_tok_s_b{b}"] = tokens_per_s(hf, work[b], params, chat.stop_ids, args.repeats)[0]
        start = time.perf_counter()
        engine = VLLMPolicy(path, dtype="float32", kv_cache_memory_bytes=256 << 20, max_model_len=4096,
                            enforce_eager=True)
        results["engine_start_s"] = time.perf_counter() - start
        for b in batches:
            tokens_per_s(engine, work[b], params, chat.stop_ids, 1)
            results[f"vllm_tok_s_b{b}"] = tokens_per_s(engine, work[b], params, chat.stop_ids, args.repeats)[0]
        syncs = []
        for _ in range(args.syncs):
            start = time.perf_counter()
            engine.load_weights(hf.model)
            syncs.append(time.perf_counter() - start)
        results["weight_sync_s"] = statistics.median(syncs)
        engine.close()
    table = Table(title=f"sampled tokens/s, tiny Qwen2 hidden {args.hidden} x {args.layers} layers, fp32, "
                  f"{threads} torch threads (HF)")
    for col in ("prompts", "prompt tokens", "vLLM tok/s", "HF generate tok/s", "vLLM / HF"):
        table.add_column(col, justify="right")
    for b in batches:
        v, h = results[f"vllm_tok_s_b{b}"], results[f"hf_tok_s_b{b}"]
        table.add_row(str(b), str(sum(len(p.ids) for p in work[b])), f"{v:.0f}", f"{h:.0f}", f"{v / h:.2f}x")
    n_bytes = sum(p.numel() * p.element_size() for p in hf.model.parameters())
    console.print(table)
    console.print(
        f"engine start {results['engine_start_s']:.1f} s; weight sync {results['weight_sync_s'] * 1e3:.0f} ms "
        f"(median of {args.syncs}) for {n_bytes / 2**20:.1f} MiB of fp32 weights"
    )
    return results


if __name__ == "__main__":  # vLLM spawns its engine process: nothing may run at import
    main()
