"""GroundedGen-v0: how the agents score per category, and where an episode and a generation spend their time.

    python benchmarks/grounded_gen.py [--n 120] [--seed 0] [--quick] [--diffusers PATH] [--grid docs/grounded_gen/oracle_vs_no_search.png]

Tables, all from the same run on the same generated tasks (seeds ``seed … seed+n-1``):

1. **Scores by agent and category**: mean reward, R_img, R_text, KnowGen's K-score and FactIP's
   score (0–100) for the oracle, ``wrong_reference``, ``no_search`` (as the release scores it: no
   reference → 0; and with ``min_refs=0``, so that its picture is judged) and random turns.
2. **Time per part of an oracle episode**: reset (task sampling and the ground-truth picture),
   each tool step, the answer step (generation + both judges), in ms and as a ratio to a
   malformed turn's ``env.step`` measured in the same run.
3. **Generation time per backend** on the oracle's prompts and references: the offline
   generator (the baseline), the OpenAI-compatible HTTP client against a stub server on
   127.0.0.1 that answers a fixed PNG (client overhead: PNG encoding, multipart, base64), and a
   local diffusers pipeline when ``--diffusers PATH`` is given and diffusers is installed.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import platform
import re
import statistics
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import gymnasium as gym
import numpy as np
from PIL import Image
from rich.console import Console
from rich.progress import track
from rich.table import Table

import mmsearch_gym  # noqa: F401  (registers the ids)
from mmsearch_gym.tasks.grounded_gen.report import comparison_grid, summarize
from mmsearch_gym.tools.generate import HTTPImageGenerator, OfflineGenerator

ENV_ID = "mmsearch_gym/GroundedGen-v0"
_TOOL = re.compile(r'"name":\s*"(\w+)"')


def play(agent: str, seeds: list[int], **kwargs) -> tuple[list[dict], dict[str, list[float]], list[tuple]]:
    """Episode records, seconds per part, and the (prompt, references) of each answer that was generated."""
    env = gym.make(ENV_ID, **kwargs)
    base, records, parts, calls = env.unwrapped, [], defaultdict(list), []
    for seed in track(seeds, description=f"{agent:>16}"):
        t0 = time.perf_counter()
        env.reset(seed=seed)
        parts["reset (task + ground truth)"].append(time.perf_counter() - t0)
        while True:
            action = base.random_action() if agent == "random" else base.scripted_action(agent)
            m = _TOOL.search(action) if "<tool_call>" in action else None
            t0 = time.perf_counter()
            _, _, terminated, truncated, info = env.step(action)
            parts[m.group(1) if m else "answer (generate + judge)"].append(time.perf_counter() - t0)
            if terminated or truncated:
                break
        record = base.episode_record()
        records.append(record.to_dict())
        refs = record.evaluation.get("references") or []
        if base.generated_image is not None:
            calls.append((record.evaluation["gen_prompt"], [base.images.get(r["img_id"]) for r in refs]))
    env.close()
    return records, parts, calls


def fixed_cost(repeats: int = 200) -> float:
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    times = []
    for i in range(repeats):
        if i % 2 == 0:
            env.reset(seed=0)
        t0 = time.perf_counter()
        env.step("<think>x</think><tool_call>{broken</tool_call>")
        times.append(time.perf_counter() - t0)
    env.close()
    return statistics.median(times)


class StubImagesServer:
    """``/v1/images/generations`` and ``/v1/images/edits`` on 127.0.0.1, answering one fixed PNG as b64_json."""

    def __init__(self, image: np.ndarray):
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="PNG")
        body = json.dumps({"data": [{"b64_json": base64.b64encode(buf.getvalue()).decode()}]}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def time_backend(generator, calls: list[tuple]) -> float:
    times = []
    for prompt, refs in calls:
        t0 = time.perf_counter()
        generator(prompt, refs, seed=0)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="24 tasks")
    parser.add_argument("--diffusers", help="a local diffusers pipeline folder to time as well")
    parser.add_argument("--grid", help="write the oracle vs no-search picture grid (PNG) here")
    args = parser.parse_args()
    n = 24 if args.quick else args.n
    seeds = list(range(args.seed, args.seed + n))
    console = Console()
    console.print(f"GroundedGen-v0 · {n} tasks · seeds {seeds[0]}…{seeds[-1]} · {platform.processor() or platform.machine()}")

    runs = {}
    runs["oracle"], parts, calls = play("oracle", seeds)
    runs["wrong_reference"], _, _ = play("wrong_reference", seeds)
    runs["no_search"], _, _ = play("no_search", seeds)
    runs["no_search (min_refs=0)"], _, _ = play("no_search", seeds, min_refs=0)
    runs["random"], _, _ = play("random", seeds)

    summaries = {agent: summarize(recs) for agent, recs in runs.items()}
    t1 = Table(title="1a. scores by agent, all categories (reward, R_img, R_text in [0, 1]; K-score, FactIP in 0–100)")
    for col in ("agent", "episodes", "judged", "reward", "R_img", "R_text", "K-score", "FactIP"):
        t1.add_column(col, justify="left" if col == "agent" else "right")
    for agent, s in summaries.items():
        a = s["all"]
        t1.add_row(agent, str(a["episodes"]), str(a["judged"]), f"{a['reward']:.3f}", f"{a['r_img']:.3f}",
                   f"{a['r_text']:.3f}", f"{a['k_score']:.1f}", f"{a['factip']:.1f}")  # fmt: skip
    console.print(t1)
    short = {"oracle": "oracle", "wrong_reference": "wrong_ref", "no_search": "no_search",
             "no_search (min_refs=0)": "no_search*", "random": "random"}  # fmt: skip
    t1b = Table(title="1b. reward / R_img by category (no_search*: min_refs=0, its picture judged)")
    t1b.add_column("category")
    for agent in runs:
        t1b.add_column(short[agent], justify="right")
    for cat in summaries["oracle"]:
        cells = [summaries[a].get(cat) for a in runs]
        t1b.add_row(cat, *("—" if c is None else f"{c['reward']:.2f} / {c['r_img']:.2f}" for c in cells))
    console.print(t1b)

    base_cost = fixed_cost()
    t2 = Table(title=f"2. oracle episode time by part (ratio: ms per call / malformed turn's env.step = {1e3 * base_cost:.3f} ms)")
    for col in ("part", "calls", "ms per call", "ratio", "share of time"):
        t2.add_column(col, justify="left" if col == "part" else "right")
    total = sum(sum(v) for v in parts.values())
    for name, times in sorted(parts.items(), key=lambda kv: -sum(kv[1])):
        mean = statistics.mean(times)
        t2.add_row(name, str(len(times)), f"{1e3 * mean:.2f}", f"{mean / base_cost:.0f}×", f"{sum(times) / total:.0%}")
    console.print(t2)
    console.print(f"oracle: {n / total:.1f} episodes/s on one core")

    sample = calls[: min(len(calls), 40)]
    ep_seeds = seeds[: min(len(seeds), 12)]
    server = StubImagesServer(np.full((384, 512, 3), 128, np.uint8))
    backends: list[tuple[str, object, dict]] = [
        ("offline (baseline)", OfflineGenerator(), {}),
        ("http client vs 127.0.0.1 stub", HTTPImageGenerator(server.url, "stub", timeout_s=10),
         {"kind": "http", "base_url": server.url, "model": "stub", "timeout_s": 10}),
    ]  # fmt: skip
    if args.diffusers:
        try:
            from mmsearch_gym.tools.generate import DiffusersGenerator

            backends.append((f"diffusers {args.diffusers}", DiffusersGenerator(args.diffusers), {"kind": "diffusers", "path": args.diffusers}))
        except ImportError as err:
            console.print(f"[yellow]diffusers not timed: {err}[/yellow]")
    rows = []
    try:
        for name, generator, spec in backends:
            per_image = time_backend(generator, sample if "diffusers" not in name else sample[:3])
            t0 = time.perf_counter()
            play("oracle", ep_seeds, generator=spec or None)
            rows.append((name, per_image, (time.perf_counter() - t0) / len(ep_seeds)))
    finally:
        server.close()
    t3 = Table(title=f"3. time per backend: one generation (median, {len(sample)} oracle answers), one oracle episode ({len(ep_seeds)} tasks)")
    for col in ("backend", "ms per image", "ratio", "ms per episode", "ratio "):
        t3.add_column(col, justify="left" if col == "backend" else "right")
    for name, sec, ep in rows:
        t3.add_row(name, f"{1e3 * sec:.2f}", f"{sec / rows[0][1]:.2f}×", f"{1e3 * ep:.1f}", f"{ep / rows[0][2]:.2f}×")
    console.print(t3)

    if args.grid:
        pick = []
        for comp in ("single", "scene", "pair", "text"):
            pick += [r["seed"] for r in runs["oracle"] if r["task"].get("composition") == comp][:1]
        grid = comparison_grid(pick, agents=("oracle", "no_search"), scale=0.5)
        Image.fromarray(grid).save(args.grid)
        console.print(f"wrote {args.grid} ({grid.shape[1]}×{grid.shape[0]}, seeds {pick})")


if __name__ == "__main__":
    main()
