"""``mmsearch-gym eval`` throughput against a served model that answers in 200 ms.

    python benchmarks/eval.py [--quick] [--latency 0.2] [--concurrency 1 16 64]

A fake OpenAI-compatible server (``tests/chat_server.py`` with ``tests/fake_model.py``: a
``path_tracer`` call, then an answer; two turns per Maze-v0 episode) runs in its own process
on 127.0.0.1 and sleeps ``--latency`` seconds before each answer, like a model. The harness
plays Maze-v0 episodes at each concurrency, writing the run folder as a real run does (PNG
images, lines on disk). Episodes/s count the playing alone (``play s``: from the first reset to
the last saved line; ``whole call`` adds the set-up and the summary, the report is timed
apart). The baseline is concurrency 1 (one episode at a time), measured in the same run; the
goal is ≥ 20× its episodes/s at 64 in flight.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

_HERE = Path(__file__).resolve().parent
# this folder holds algos.py (a benchmark), which must not shadow the algos package
sys.path = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent / "tests"))  # the fake server

ENV = "mmsearch_gym/Maze-v0"
KWARGS = {"size": 3, "question_types": ["choice"]}


def serve(latency: float, ports: mp.Queue, stop: mp.Event) -> None:
    from chat_server import ChatServer
    from fake_model import maze_model

    with ChatServer(maze_model, delay=latency, keep_alive=True) as srv:
        ports.put(srv.api)
        stop.wait()


def run(api: str, episodes: int, concurrency: int, out: Path) -> tuple[float, float, float]:
    """Seconds to play ``episodes`` at ``concurrency`` (the episodes alone, and the whole call with set-up
    and summary), and seconds to write the report."""
    from algos.eval import EvalConfig, run_eval

    cfg = EvalConfig(
        ENV,
        api,
        out,
        model="served-model",
        episodes=episodes,
        concurrency=concurrency,
        env_kwargs=KWARGS,
        report=False,
        max_new_tokens=64,
    )
    start = time.perf_counter()
    result = run_eval(cfg, progress=False)
    wall = time.perf_counter() - start
    assert result.played == episodes, result.played
    from algos.eval import write_report

    start = time.perf_counter()
    write_report(result.store, result.summary)
    return result.play_s, wall, time.perf_counter() - start


def round_trip(api: str, n: int = 5) -> float:
    """Median seconds of one bare chat request (the server's latency plus HTTP), for reference."""
    import statistics

    import httpx

    body = {"model": "served-model", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client() as client:
        times = []
        for _ in range(n):
            start = time.perf_counter()
            client.post(f"{api}/chat/completions", json=body).raise_for_status()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer episodes")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the server takes per answer")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    ports, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=serve, args=(args.latency, ports, stop), daemon=True)
    server.start()
    api = ports.get(timeout=60)
    import mmsearch_gym  # noqa: F401

    rows = []
    rtt = round_trip(api)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run(api, 2, 2, Path(tmp) / "warmup")  # imports, first env, first connection
            for c in args.concurrency:
                n = max(4 if args.quick else 8, (2 if args.quick else 4) * c)  # each slot plays several episodes
                play, wall, report = run(api, n, c, Path(tmp) / f"c{c}")
                rows.append((c, n, play, n / play, wall, report))
    finally:
        stop.set()
        server.join(10)
    base = next((r[3] for r in rows if r[0] == 1), rows[0][3])
    table = Table(
        title=f"eval throughput · Maze-v0, 2 turns per episode, server answers in {args.latency * 1000:.0f} ms"
    )
    for col in ("in flight", "episodes", "play s", "episodes/s", "× one at a time", "whole call s", "report s"):
        table.add_column(col, justify="right")
    for c, n, play, rate, wall, report in rows:
        table.add_row(
            str(c), str(n), f"{play:.2f}", f"{rate:.2f}", f"{rate / base:.1f}×", f"{wall:.2f}", f"{report:.2f}"
        )
    console = Console()
    console.print(table)
    ideal = 1 / (2 * args.latency)
    console.print(
        f"one at a time the ideal is {ideal:.2f} episodes/s (2 × {args.latency * 1000:.0f} ms per episode); "
        f"a bare request to this server takes {rtt * 1000:.0f} ms, so {1 / (2 * rtt):.2f} episodes/s is the "
        "most one at a time can reach here"
    )
    top = next((r for r in rows if r[0] == 64), None)
    if top is not None:
        speedup = top[3] / base
        console.print(
            f"64 in flight: {speedup:.1f}× one at a time (goal ≥ 20×): {'met' if speedup >= 20 else 'NOT met'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
