"""SFT warm start and RL training of a policy on an env with any registered algorithm.

    from algos.trainer import Trainer, load_config
    cfg = load_config("train.yaml", env="mmsearch_gym/Maze-v0", algo="fatal_grpo", model="runs/tiny")
    summary = Trainer(cfg).fit()

From the shell: ``mmsearch-gym train --env ID --algo NAME --model PATH [--config YAML]``.
"""

from algos.trainer.checkpoint import latest_checkpoint, list_checkpoints
from algos.trainer.config import (
    CheckpointConfig,
    ConfigError,
    EvalConfig,
    LogConfig,
    OptimConfig,
    RLConfig,
    RolloutConfig,
    SFTConfig,
    TrainConfig,
    from_dict,
    load_config,
)
from algos.trainer.data import check_env_id
from algos.trainer.logprobs import sequence_logprobs
from algos.trainer.metrics import MetricsLogger, plot_curves, read_metrics
from algos.trainer.trainer import Trainer

__all__ = [
    "CheckpointConfig",
    "ConfigError",
    "EvalConfig",
    "LogConfig",
    "MetricsLogger",
    "OptimConfig",
    "RLConfig",
    "RolloutConfig",
    "SFTConfig",
    "TrainConfig",
    "Trainer",
    "check_env_id",
    "from_dict",
    "latest_checkpoint",
    "list_checkpoints",
    "load_config",
    "plot_curves",
    "read_metrics",
    "sequence_logprobs",
]
