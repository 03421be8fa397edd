"""``mmsearch-gym eval`` and ``mmsearch-gym report``.

    mmsearch-gym eval mmsearch_gym/DeepSearch-v0 --policy http://127.0.0.1:8000/v1 --model qwen2.5-vl-7b \\
        --episodes 200 --seed 0 --out runs/ds-qwen
    mmsearch-gym eval suite.yaml --policy hf:runs/tiny --episodes 40 --samples 4 --temperature 1 --out runs/tiny
    mmsearch-gym eval mmsearch_gym/Maze-v0 --policy oracle --episodes 50 --out runs/maze-oracle
    mmsearch-gym report runs/ds-base runs/ds-qwen --out runs/comparison.html

``register(subparsers)`` adds the subcommands; their handlers import torch and the harness
only when they run.
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

EVAL_HELP = __doc__


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "eval",
        help="benchmark a policy (served, hf:PATH, vllm:PATH, scripted) on an env or a suite",
        description=EVAL_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("target", help="a registered env id or a suite YAML file")
    p.add_argument(
        "--policy", required=True, help="http://HOST:PORT/v1, hf:PATH, vllm:PATH, oracle, random, scripted:NAME"
    )
    p.add_argument("--model", help="the served model's name (HTTP policies)")
    p.add_argument("--out", required=True, help="run folder: episodes.jsonl, images/, summary.json, report.html")
    p.add_argument("--episodes", type=int, default=20, help="tasks, split over a suite's envs by weight")
    p.add_argument("--seed", type=int, default=0, help="task i of each env is reset with seed + i")
    p.add_argument("--samples", type=int, default=1, help="episodes per task (pass@k / mean@k)")
    p.add_argument("--kw", action="append", default=[], metavar="KEY=VALUE", help="env kwarg (JSON value), every env")
    p.add_argument("--max-new-tokens", type=int, default=1024, help="tokens per turn")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument(
        "--system-prompt", help="replaces the env's system prompt ({env_system} inserts it); @FILE reads a file"
    )
    p.add_argument("--prompt-template", help="wraps the task prompt, must hold {prompt}; @FILE reads a file")
    p.add_argument("--concurrency", type=int, default=16, help="episodes in flight (HTTP requests / local batch size)")
    p.add_argument("--env-threads", type=int, default=1, help="threads stepping envs next to async HTTP")
    p.add_argument("--max-episode-tokens", type=int, default=32768, help="context limit of local models")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per HTTP request")
    p.add_argument("--retries", type=int, default=2, help="retries of a failed HTTP request")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    p.add_argument("--extra-body", help='JSON merged into every chat request, e.g. \'{"stop": ["</answer>"]}\'')
    p.add_argument("--device", default="cpu", help="device of an hf: model")
    p.add_argument(
        "--no-images", action="store_true", help="send no images to the server (text-only models; ids stay in the text)"
    )
    p.add_argument("--overwrite", action="store_true", help="discard the folder's episodes instead of resuming")
    p.add_argument("--no-report", action="store_true", help="skip report.html")
    p.set_defaults(func=eval_handler, _parser=p)

    r = subparsers.add_parser(
        "report",
        help="re-render a run's report.html, or compare runs (paired differences, per-tag deltas)",
        description="One DIR: rewrite DIR/summary.json and DIR/report.html. Several: a comparison page "
        "against the first (the baseline) on the tasks they share.",
    )
    r.add_argument("runs", nargs="+", help="run folders written by `mmsearch-gym eval`")
    r.add_argument("--out", help="comparison page (default comparison.html in the current folder)")
    r.add_argument(
        "--metric", action="append", help="metrics to compare (default success reward fatal turns tool_calls)"
    )
    r.set_defaults(func=report_handler)


def _text_option(value: str | None) -> str | None:
    if value is not None and value.startswith("@"):
        return Path(value[1:]).read_text()
    return value


def _error(console: Any, err: object) -> None:
    from rich.text import Text

    console.print(Text(str(err), style="red"), soft_wrap=True)


def command_line(args: argparse.Namespace) -> str:
    """The ``mmsearch-gym eval …`` command that ``args`` came from (non-default options only)."""
    parser: argparse.ArgumentParser = args._parser
    words = ["mmsearch-gym", "eval", args.target]
    for action in parser._actions:
        if not action.option_strings or action.dest in ("help",):
            continue
        value = getattr(args, action.dest, None)
        if value == action.default or value is None:
            continue
        flag = action.option_strings[-1]
        if isinstance(action, argparse._StoreTrueAction):
            words.append(flag)
        elif isinstance(value, list):
            for v in value:
                words += [flag, str(v)]
        else:
            words += [flag, str(value)]
    return shlex.join(words)


def eval_handler(args: argparse.Namespace, console: Any) -> int:
    from algos.eval import EvalConfig, EvalStopped, PolicySpecError, SuiteError, run_eval
    from algos.rollout import ModelPathError
    from mmsearch_gym.cli import _parse_kwargs

    try:
        cfg = EvalConfig(
            target=args.target,
            policy=args.policy,
            out=args.out,
            model=args.model,
            episodes=args.episodes,
            seed=args.seed,
            samples=args.samples,
            env_kwargs=_parse_kwargs(args.kw),
            max_new_tokens=args.max_new_tokens,
            temperature=args.temperature,
            top_p=args.top_p,
            top_k=args.top_k,
            system_prompt=_text_option(args.system_prompt),
            prompt_template=_text_option(args.prompt_template),
            concurrency=args.concurrency,
            env_threads=args.env_threads,
            max_episode_tokens=args.max_episode_tokens,
            timeout=args.timeout,
            max_retries=args.retries,
            api_key_env=args.api_key_env,
            extra_body=json.loads(args.extra_body) if args.extra_body else None,
            device=args.device,
            send_images=not args.no_images,
            overwrite=args.overwrite,
            report=not args.no_report,
        )
        result = run_eval(cfg, console=console, argv=shlex.split(command_line(args))[1:])
    except EvalStopped as err:
        _error(console, err)
        console.print(f"resume with: {command_line(args)}", highlight=False, soft_wrap=True, markup=False)
        return 1
    except (PolicySpecError, SuiteError, ModelPathError, ImportError, OSError, ValueError, TypeError) as err:
        _error(console, err)
        return 2
    _print_summary(result.summary, console)
    note = f"{result.played} episodes played, {result.skipped} already in the folder"
    console.print(
        f"{note}; outputs in {result.store.root}"
        + (f" (report: {result.store.report_path})" if result.store.report_path.exists() else ""),
        highlight=False,
    )
    return 0


def _print_summary(summary: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    table = Table(title=f"{summary['episodes']} episodes on {summary['tasks']} tasks · 95% bootstrap intervals")
    for col in ("env", "episodes", "success", "reward", "fatal", "turns", "tool calls"):
        table.add_column(col, justify="left" if col == "env" else "right")

    def cell(est: dict[str, Any] | None, pct: bool = False) -> str:
        if not est or est.get("mean") is None:
            return "–"
        f = (lambda v: f"{v:.1%}") if pct else (lambda v: f"{v:.3f}")
        return f(est["mean"]) + (f" [{f(est['lo'])}, {f(est['hi'])}]" if est.get("lo") is not None else "")

    rows = list(summary["envs"].items())
    for name, e in rows:
        m = e["metrics"]
        table.add_row(
            name,
            str(e["episodes"]),
            cell(m.get("success"), True),
            cell(m.get("reward")),
            cell(m.get("fatal"), True),
            cell(m.get("turns")),
            cell(m.get("tool_calls")),
        )
    if len(rows) > 1:
        o = summary["overall"]
        table.add_row(
            "overall",
            str(summary["episodes"]),
            cell(o.get("success"), True),
            cell(o.get("reward")),
            cell(o.get("fatal"), True),
            cell(o.get("turns")),
            cell(o.get("tool_calls")),
        )
    console.print(table)
    for name, e in rows:
        pk = e["pass_at_k"]
        if pk.get("k", 1) > 1:
            k = pk["k"]
            console.print(
                f"{name}: pass@1 {cell(pk['pass@1'], True)} · pass@{k} {cell(pk[f'pass@{k}'], True)} · "
                f"mean@{k} {cell(pk[f'mean@{k}'], True)} ({pk['metric']})",
                highlight=False,
            )


def report_handler(args: argparse.Namespace, console: Any) -> int:
    from algos.eval import write_comparison
    from algos.eval.compare import COMPARED
    from algos.eval.runner import refresh

    try:
        if len(args.runs) == 1:
            refresh(args.runs[0])
            console.print(f"wrote {Path(args.runs[0]) / 'summary.json'} and {Path(args.runs[0]) / 'report.html'}")
            return 0
        out = Path(args.out or "comparison.html")
        data = write_comparison(args.runs, out, args.metric or COMPARED)
    except (FileNotFoundError, ValueError) as err:
        _error(console, err)
        return 2
    from rich.table import Table

    metric = data["metrics"][0]
    table = Table(title=f"Δ {metric} against {data['baseline']} (paired on common tasks)")
    for col in ("run", *data["envs"], "pooled"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for label, p in data["paired"].items():
        cells = []
        for d in [p["envs"][e]["metrics"][metric] for e in data["envs"]] + [p["pooled"]]:
            cells.append(
                "–"
                if not d
                else f"{d['delta']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}] p={d['p_value']:.3g}"
                + (" *" if d["significant"] else "")
            )
        table.add_row(label, *cells)
    console.print(table)
    console.print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0
