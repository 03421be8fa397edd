"""The GRPO-family algorithm zoo: swap algorithms by name.

    import algos
    algo = algos.make("fatal_grpo", clip_high=0.28)
    advantages, loss_mask = algo.compute_advantages(batch, step=step)
    loss, metrics = algo.compute_loss(logp, batch, advantages, loss_mask)

``algos.available()`` lists the names; ``algos.options(name)`` their options and defaults.
Every algorithm works on an :class:`EpisodeBatch` of plain tensors.
"""

from algos import at_grpo, fatal_grpo, grpo, reagent, trust_grpo  # noqa: F401  (registration)
from algos.base import AlgoConfig, Algorithm, GroupNormConfig
from algos.batch import NO_TURN, NOT_FATAL, EpisodeBatch
from algos.registry import available, make, options, register

__all__ = [
    "NOT_FATAL",
    "NO_TURN",
    "AlgoConfig",
    "Algorithm",
    "EpisodeBatch",
    "GroupNormConfig",
    "available",
    "make",
    "options",
    "register",
]
