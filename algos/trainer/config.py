"""Training configuration: dataclasses with checked values, loaded from YAML with unknown keys refused.

A config file mirrors :class:`TrainConfig` (sections are nested mappings)::

    env: mmsearch_gym/Maze-v0
    env_kwargs: {size: 3, text_maze: true, question_types: [moves]}
    algo: fatal_grpo
    algo_options: {kl_coef: 0.0}
    rollout: {tasks_per_step: 4, group_size: 8, max_new_tokens: 96}
    sft: {steps: 100, episodes: 512}
    rl: {steps: 50, lr: 5.0e-4}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A config value or key is invalid."""


def _positive(section: str, **values: float) -> None:
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise ConfigError(f"{section}.{name} must be > 0, got {v!r}")


def _non_negative(section: str, **values: float) -> None:
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise ConfigError(f"{section}.{name} must be >= 0, got {v!r}")


@dataclass
class RolloutConfig:
    """``tasks_per_step`` tasks x ``group_size`` episodes per RL step; per-turn and per-episode token limits;
    ``vector_env``: ``none`` (a list of envs), ``sync`` or ``async`` (gymnasium vector envs).
    ``backend``: ``hf`` (sample with the model being trained) or ``vllm`` (a vLLM engine loaded from
    ``model``, its weights replaced by the trained ones before each rollout); ``vllm``: keyword
    arguments of ``vllm.LLM`` (``dtype``, ``kv_cache_memory_bytes``, ``enforce_eager`` …)."""

    tasks_per_step: int = 4
    group_size: int = 8
    max_new_tokens: int = 256
    max_episode_tokens: int = 4096
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    vector_env: str = "none"
    backend: str = "hf"
    vllm: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _positive(
            "rollout",
            tasks_per_step=self.tasks_per_step,
            group_size=self.group_size,
            max_new_tokens=self.max_new_tokens,
            max_episode_tokens=self.max_episode_tokens,
            top_p=self.top_p,
        )
        _non_negative("rollout", temperature=self.temperature, top_k=self.top_k)
        if self.vector_env not in ("none", "sync", "async"):
            raise ConfigError(f"rollout.vector_env must be none, sync or async, got {self.vector_env!r}")
        if self.backend not in ("hf", "vllm"):
            raise ConfigError(f"rollout.backend must be hf or vllm, got {self.backend!r}")
        if not isinstance(self.vllm, dict):
            raise ConfigError(f"rollout.vllm must be a mapping of vllm.LLM arguments, got {type(self.vllm).__name__}")


@dataclass
class SFTConfig:
    """Warm start on ``episodes`` teacher trajectories (the env's ``oracle`` by default) for ``steps``
    optimizer steps of ``batch_size`` episodes; ``successful_only`` drops trajectories that failed."""

    steps: int = 0
    episodes: int = 256
    batch_size: int = 16
    lr: float = 1e-3
    teacher: str = "oracle"
    successful_only: bool = True

    def __post_init__(self) -> None:
        _non_negative("sft", steps=self.steps)
        _positive("sft", episodes=self.episodes, batch_size=self.batch_size, lr=self.lr)


@dataclass
class RLConfig:
    """``steps`` RL steps; ``ppo_epochs`` updates per rollout batch (old log-probs are recorded when > 1)."""

    steps: int = 100
    lr: float = 1e-5
    ppo_epochs: int = 1

    def __post_init__(self) -> None:
        _non_negative("rl", steps=self.steps)
        _positive("rl", lr=self.lr, ppo_epochs=self.ppo_epochs)


@dataclass
class OptimConfig:
    """AdamW and the update: gradient clipping, micro-batches (gradient accumulation), linear warmup."""

    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    max_grad_norm: float = 1.0
    micro_batch_size: int = 8
    warmup_steps: int = 0

    def __post_init__(self) -> None:
        _non_negative("optim", weight_decay=self.weight_decay, warmup_steps=self.warmup_steps)
        _positive("optim", micro_batch_size=self.micro_batch_size, max_grad_norm=self.max_grad_norm)
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ConfigError(f"optim.beta1 and beta2 must be in [0, 1), got {self.beta1}, {self.beta2}")


@dataclass
class EvalConfig:
    """Success rate on ``episodes`` held-out tasks (seeds ``seed``, ``seed+1``, …; disjoint from training)
    before training, after SFT, after RL, and every ``every`` RL steps (0: only those three).

    ``env_kwargs`` override the training ``env_kwargs`` for the eval envs (e.g. ``{split: test}``
    for an env with a held-out split). ``sampled`` > 0 also plays each task that many times at
    the rollout temperature; those metrics are logged with a ``sampled_`` prefix."""

    episodes: int = 32
    seed: int = 1_000_000_000
    temperature: float = 0.0
    every: int = 0
    before: bool = True
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    sampled: int = 0

    def __post_init__(self) -> None:
        _non_negative("eval", episodes=self.episodes, temperature=self.temperature, every=self.every, seed=self.seed)
        _non_negative("eval", sampled=self.sampled)
        if not isinstance(self.env_kwargs, dict):
            raise ConfigError(f"eval.env_kwargs must be a mapping, got {type(self.env_kwargs).__name__}")


@dataclass
class CheckpointConfig:
    """Save every ``every`` optimizer steps (SFT and RL count alike), keep the last ``keep``."""

    every: int = 10
    keep: int = 2

    def __post_init__(self) -> None:
        _positive("checkpoint", every=self.every, keep=self.keep)


@dataclass
class LogConfig:
    tensorboard: bool = True
    progress: bool = True
    plot: bool = True


@dataclass
class TrainConfig:
    """Everything a run needs. ``ref_model``: ``init`` (frozen copy of the policy when RL starts),
    a model path, or None (then the algorithm's ``kl_coef`` must be 0). ``precision``: ``auto``
    (bf16 autocast on CUDA, fp32 on CPU), ``bf16`` or ``fp32``. Train tasks use seeds
    ``seed * 10**7 + k`` (RL) and ``seed * 10**7 + 5 * 10**6 + k`` (SFT)."""

    env: str = ""
    algo: str = "fatal_grpo"
    model: str = ""
    out_dir: str = "runs/train"
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    algo_options: dict[str, Any] = field(default_factory=dict)
    ref_model: str | None = "init"
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    rl: RLConfig = field(default_factory=RLConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    logging: LogConfig = field(default_factory=LogConfig)

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ConfigError(f"precision must be auto, bf16 or fp32, got {self.precision!r}")
        for name in ("env_kwargs", "algo_options"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"{name} must be a mapping, got {type(getattr(self, name)).__name__}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def from_dict(data: dict[str, Any], cls: type = TrainConfig, where: str = "config") -> Any:
    """Build ``cls`` from a mapping; unknown keys and wrong section types raise :class:`ConfigError`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in {where}; valid keys: {', '.join(fields)}")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        default = fields[key].default_factory if fields[key].default_factory is not dataclasses.MISSING else None
        sub = default() if callable(default) else None
        if dataclasses.is_dataclass(sub):
            kwargs[key] = from_dict(value or {}, type(sub), f"{where}.{key}" if where != "config" else key)
        else:
            kwargs[key] = value
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ConfigError(f"{where}: {err}") from None


def load_config(path: str | Path | None = None, sets: Sequence[str] = (), **overrides: Any) -> TrainConfig:
    """A :class:`TrainConfig` from a YAML file (optional), then ``sets`` (``"rl.lr=1e-4"``, values
    parsed as YAML) and top-level ``overrides`` (None values ignored) applied."""
    data: dict[str, Any] = {}
    if path is not None:
        import yaml

        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} does not exist")
        try:
            loaded = yaml.safe_load(p.read_text())
        except yaml.YAMLError as err:
            raise ConfigError(f"{str(p)!r} is not valid YAML: {err}") from None
        data = loaded or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{str(p)!r} must hold a mapping at the top level, got {type(data).__name__}")
    for item in sets:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE (e.g. rl.lr=1e-4), got {item!r}")
        import yaml

        key, raw = item.split("=", 1)
        set_dotted(data, key.strip(), yaml.safe_load(raw))
    data.update({k: v for k, v in overrides.items() if v is not None})
    return from_dict(data)


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """``set_dotted(d, "rl.lr", 1e-4)``: set a nested key (for ``--set`` on the command line)."""
    keys = dotted.split(".")
    for k in keys[:-1]:
        data = data.setdefault(k, {})
        if not isinstance(data, dict):
            raise ConfigError(f"{dotted}: {k} is not a section")
    data[keys[-1]] = value
