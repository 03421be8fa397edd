"""Suites: which envs (and datasets) a run plays, with their weights, prompts and metrics.

An env id is a suite of one. A YAML file names several::

    name: search-and-mazes
    envs:
      - env: mmsearch_gym/DeepSearch-v0          # generated tasks, seeds seed, seed+1, …
        weight: 2
        kwargs: {max_turns: 20}
        tags: [anchor, hops, difficulty]         # default: every task field with few values
      - name: searchvl-dev                       # a dataset: task i is reset(options={"index": i})
        env: mmsearch_gym/DeepSearch-v0
        kwargs: {dataset: data/searchvl-dev}
        by_index: true
        episodes: 50                             # a fixed count instead of a weight share
      - env: mmsearch_gym/Maze-v0
        weight: 1
        prompt_template: "{prompt}\\nThink about the walls first."
        metrics: [success, reward, accuracy]     # built-in names, reward components, or module:function
        primary: success                         # what pass@k / mean@k count

``--episodes N`` is split over the entries without ``episodes`` by weight (largest remainder,
at least one each); the summary's overall numbers weight each env's mean by its weight.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

ENTRY_KEYS = (
    "env",
    "name",
    "weight",
    "episodes",
    "kwargs",
    "by_index",
    "prompt_template",
    "system_prompt",
    "metrics",
    "primary",
    "tags",
)


class SuiteError(ValueError):
    """A suite file or env entry that cannot be run; the message says what to fix."""


@dataclass
class EnvSpec:
    """One entry of a suite."""

    name: str
    env: str
    weight: float = 1.0
    episodes: int | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    by_index: bool = False
    prompt_template: str | None = None
    system_prompt: str | None = None
    metrics: list[str] | None = None
    primary: str = "success"
    tags: list[str] | None = None


@dataclass
class Suite:
    name: str
    envs: list[EnvSpec]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "envs": [asdict(e) for e in self.envs]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Suite:
        """The suite a run's ``config.json`` saved (see :meth:`to_dict`)."""
        return cls(data["name"], [EnvSpec(**e) for e in data["envs"]])

    def entry(self, name: str) -> EnvSpec:
        for e in self.envs:
            if e.name == name:
                return e
        raise KeyError(name)

    @property
    def weights(self) -> dict[str, float]:
        return {e.name: e.weight for e in self.envs}

    def allocate(self, episodes: int) -> dict[str, int]:
        """Tasks per entry: fixed counts as given, ``episodes`` split over the others by weight."""
        fixed = {e.name: int(e.episodes) for e in self.envs if e.episodes is not None}
        shared = [e for e in self.envs if e.episodes is None]
        if not shared:
            return fixed
        if episodes < len(shared):
            raise SuiteError(
                f"--episodes {episodes} is fewer than the {len(shared)} weighted envs of suite {self.name!r}"
            )
        total_w = sum(e.weight for e in shared)
        exact = {e.name: episodes * e.weight / total_w for e in shared}
        counts = {n: max(1, math.floor(x)) for n, x in exact.items()}
        order = sorted(exact, key=lambda n: (counts[n] - exact[n], n))  # largest remainder first
        i = 0
        while sum(counts.values()) < episodes:
            counts[order[i % len(order)]] += 1
            i += 1
        return {**fixed, **counts}


def load_suite(
    target: str | Path,
    env_kwargs: dict[str, Any] | None = None,
    prompt_template: str | None = None,
    system_prompt: str | None = None,
) -> Suite:
    """A registered env id (a suite of one) or a YAML suite file.

    ``env_kwargs``, ``prompt_template`` and ``system_prompt`` (from the command line) apply to
    every entry; an entry's own ``kwargs`` win over ``env_kwargs``, its own prompts over these.
    """
    import envs_registry

    text = str(target)
    if text in envs_registry.ENVS:
        suite = Suite(text.split("/")[-1], [_entry({"env": text}, 0, envs_registry.ENVS)])
    else:
        path = Path(text)
        if not path.is_file():
            known = ", ".join(envs_registry.ENVS)
            raise SuiteError(f"{text!r} is neither a registered env ({known}) nor a suite YAML file")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise SuiteError(f"{path} is not valid YAML: {err}") from None
        if not isinstance(data, dict) or not isinstance(data.get("envs"), list) or not data["envs"]:
            raise SuiteError(f"{path}: a suite is a mapping with a non-empty list under 'envs'")
        unknown = set(data) - {"name", "envs"}
        if unknown:
            raise SuiteError(f"{path}: unknown keys {sorted(unknown)}; a suite has 'name' and 'envs'")
        entries = [_entry(raw, i, envs_registry.ENVS) for i, raw in enumerate(data["envs"])]
        suite = Suite(str(data.get("name") or path.stem), entries)
    names = [e.name for e in suite.envs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SuiteError(f"suite {suite.name!r}: env names {dupes} appear twice; give each entry its own 'name'")
    for e in suite.envs:
        e.kwargs = {**(env_kwargs or {}), **e.kwargs}
        e.prompt_template = e.prompt_template if e.prompt_template is not None else prompt_template
        e.system_prompt = e.system_prompt if e.system_prompt is not None else system_prompt
        check_template(e.prompt_template)
    return suite


def check_template(template: str | None) -> None:
    if template is not None and "{prompt}" not in template:
        raise SuiteError(f"a prompt template must contain {{prompt}} (where the env's prompt goes), got {template!r}")


def _entry(raw: Any, i: int, registry: dict[str, Any]) -> EnvSpec:
    where = f"envs[{i}]"
    if isinstance(raw, str):
        raw = {"env": raw}
    if not isinstance(raw, dict) or "env" not in raw:
        raise SuiteError(f"{where}: each entry is a mapping with at least 'env: ENV_ID'")
    unknown = set(raw) - set(ENTRY_KEYS)
    if unknown:
        raise SuiteError(f"{where}: unknown keys {sorted(unknown)}; valid: {', '.join(ENTRY_KEYS)}")
    env = str(raw["env"])
    if env not in registry:
        raise SuiteError(f"{where}: unknown env {env!r}; known: {', '.join(registry)}")
    name = str(raw.get("name") or env.split("/")[-1])
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        raise SuiteError(f"{where}: name {name!r} must be letters, digits, '_', '.', '-' (it names a folder)")
    weight = raw.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0 or not math.isfinite(weight):
        raise SuiteError(f"{where}: weight must be a positive number, got {weight!r}")
    episodes = raw.get("episodes")
    if episodes is not None and (isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1):
        raise SuiteError(f"{where}: episodes must be an integer >= 1, got {episodes!r}")
    kwargs = raw.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise SuiteError(f"{where}: kwargs must be a mapping of env arguments")
    lists = {k: raw.get(k) for k in ("metrics", "tags")}
    for k, v in lists.items():
        if v is not None and (not isinstance(v, list) or not all(isinstance(x, str) for x in v)):
            raise SuiteError(f"{where}: {k} must be a list of names")
    return EnvSpec(
        name=name,
        env=env,
        weight=float(weight),
        episodes=episodes,
        kwargs=dict(kwargs),
        by_index=bool(raw.get("by_index", False)),
        prompt_template=raw.get("prompt_template"),
        system_prompt=raw.get("system_prompt"),
        metrics=lists["metrics"],
        primary=str(raw.get("primary", "success")),
        tags=lists["tags"],
    )
