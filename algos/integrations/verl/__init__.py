"""verl adapter (``pip install 'mmsearch-gym[verl]'``): agent loop, zoo registries, trainer mode.

``register()`` puts everything in verl's registries; it runs by itself in every verl process
through the ``verl.plugins`` entry point this package declares (verl loads those plugins on
``import verl``), so a plain verl config can say::

    algorithm.adv_estimator=fatal_grpo
    actor_rollout_ref.actor.policy_loss.loss_mode=clipped          # optional: the zoo's loss
    actor_rollout_ref.rollout.agent.default_agent_loop=mmsearch_gym
    trainer.v1.trainer_mode=mmsearch_gym                           # fatal turns to the estimator
    +mmsearch_gym.env_id=mmsearch_gym/DeepSearch-v0

- :mod:`.agent_loop`: ``MMSearchAgentLoop`` (``mmsearch_gym``), one env per trajectory.
- :mod:`.algorithms`: the zoo's estimators (``fatal_grpo``, ``at_grpo``, ``trust_grpo``,
  ``reagent_*``, ``dr_grpo``, ``dapo``) and the ``clipped`` policy loss.
- :mod:`.trainer`: the ``mmsearch_gym`` v1 trainer mode.
- :mod:`.data`: parquet datasets whose rows name env episodes.
"""

from __future__ import annotations


def register() -> dict[str, list[str]]:
    """Register the agent loop, estimators, losses and (with TransferQueue) the trainer mode with verl."""
    from algos.integrations.verl import agent_loop  # noqa: F401  (@register("mmsearch_gym"))
    from algos.integrations.verl.algorithms import register as register_algorithms

    estimators, losses = register_algorithms()
    trainers = []
    try:
        from algos.integrations.verl import trainer  # noqa: F401  (@register_trainer("mmsearch_gym"))

        trainers.append("mmsearch_gym")
    except ImportError:  # verl installed without TransferQueue: no v1 trainer to extend
        pass
    return {"agent_loops": ["mmsearch_gym"], "adv_estimators": estimators, "policy_losses": losses, "trainers": trainers}
