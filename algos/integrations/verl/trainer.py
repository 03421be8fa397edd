"""``trainer.v1.trainer_mode=mmsearch_gym``: verl's synchronous v1 trainer, with the episodes' fields
brought to the zoo's estimators and the estimator's loss mask handed to the actor.

verl calls an advantage estimator with rewards, response mask and group index only; what makes
``fatal_grpo`` what it is (the fatal turn of each episode, the turns >= f it drops from the loss)
would not reach it. This mode changes only ``_compute_advantage``: for a zoo estimator it reads
the ``extra_fields`` the :mod:`~algos.integrations.verl.agent_loop` stored with each trajectory,
lends them to the estimator while verl's own advantage step runs (KL-in-reward, rollout
correction and the rest unchanged), then writes the algorithm's loss mask back as the
trajectories' ``response_mask`` (as verl's rollout-correction rejection does) and logs episode
metrics (``mmsearch_gym/fatal_rate``, ``step_errors``, ``success`` …). Other estimators run as in
``PPOTrainerSync``.

Needs verl's TransferQueue (installed with ``verl[vllm]`` / ``verl[fsdp]``); this module is
imported by the verl plugin when it is there. It cannot run on the CPU-only CI (verl's
trainer needs GPU workers); the estimator and the field plumbing it relies on are tested.
"""

from __future__ import annotations

from typing import Any

import transfer_queue as tq
from tensordict import TensorDict
from verl.trainer.ppo.v1 import PPOTrainerSync, register_trainer
from verl.workers.utils.padding import response_to_nested

from algos.integrations.common import episode_metrics
from algos.integrations.verl.algorithms import REGISTERED_ESTIMATORS, lend_episode_fields


@register_trainer("mmsearch_gym")
class MMSearchPPOTrainer(PPOTrainerSync):
    """``PPOTrainerSync`` whose advantage step feeds the zoo's estimators their episode fields."""

    def _compute_advantage(self, batch: Any, metrics: dict) -> Any:
        if str(self.config.algorithm.adv_estimator) not in REGISTERED_ESTIMATORS:
            return super()._compute_advantage(batch, metrics)
        data = tq.kv_batch_get(
            keys=batch.keys, partition_id=batch.partition_id, select_fields=["extra_fields", "response_mask"]
        )
        rows = [dict(x or {}) for x in data["extra_fields"]]
        with lend_episode_fields(rows) as lent:
            batch = super()._compute_advantage(batch, metrics)
        loss_mask = lent["loss_mask"]
        if loss_mask is not None:
            nested = data["response_mask"]
            fields = TensorDict({"response_mask": response_to_nested(loss_mask.long(), nested)}, batch_size=len(rows))
            batch = tq.kv_batch_put(keys=batch.keys, partition_id=batch.partition_id, fields=fields)
        metrics.update(episode_metrics(rows, prefix="mmsearch_gym/"))
        return batch
