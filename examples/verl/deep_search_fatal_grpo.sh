#!/usr/bin/env bash
# Qwen2.5-VL-7B on DeepSearch-v0 with fatal_grpo and vLLM rollouts, 1 node x 8 GPUs (verl 0.9.1, v1 trainer).
# Not run in this repository's CI (no GPU there); the pieces it uses are tested on the CPU
# (tests/test_integrations_verl.py: the agent loop inside verl's AgentLoopWorker, the registry's fatal_grpo).
#
# Install on the GPU box:   pip install 'mmsearch-gym[verl]' 'verl[vllm]==0.9.1'
# Data (rows name env episodes):
#   python -m algos.integrations.verl.data --env mmsearch_gym/DeepSearch-v0 --n 8000 --seed 0 --out data/ds/train.parquet
#   python -m algos.integrations.verl.data --env mmsearch_gym/DeepSearch-v0 --n 256 --seed 900000 --out data/ds/val.parquet
# Share one search index between rollout workers (optional): mmsearch-gym serve --world worlds/w0 --port 8765
set -euo pipefail
MODEL=${MODEL:-Qwen/Qwen2.5-VL-7B-Instruct}

python -m verl.trainer.main_ppo \
  trainer.v1.trainer_mode=mmsearch_gym \
  algorithm.adv_estimator=fatal_grpo \
  +algorithm.algos.estimator=rloo \
  algorithm.use_kl_in_reward=false \
  data.train_files=data/ds/train.parquet data.val_files=data/ds/val.parquet \
  data.train_batch_size=64 data.max_prompt_length=4096 data.max_response_length=16384 \
  actor_rollout_ref.model.path="$MODEL" \
  actor_rollout_ref.actor.policy_loss.loss_mode=clipped \
  actor_rollout_ref.actor.clip_ratio_low=0.2 actor_rollout_ref.actor.clip_ratio_high=0.28 \
  actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-sum \
  actor_rollout_ref.actor.use_kl_loss=true actor_rollout_ref.actor.kl_loss_coef=0.001 actor_rollout_ref.actor.kl_loss_type=low_var_kl \
  actor_rollout_ref.actor.optim.lr=1e-6 actor_rollout_ref.actor.ppo_mini_batch_size=16 \
  actor_rollout_ref.rollout.name=vllm actor_rollout_ref.rollout.n=8 \
  actor_rollout_ref.rollout.tensor_model_parallel_size=2 actor_rollout_ref.rollout.gpu_memory_utilization=0.6 \
  actor_rollout_ref.rollout.calculate_log_probs=true \
  actor_rollout_ref.rollout.agent.default_agent_loop=mmsearch_gym \
  actor_rollout_ref.rollout.agent.num_workers=8 \
  +mmsearch_gym.env_id=mmsearch_gym/DeepSearch-v0 \
  '+mmsearch_gym.env_kwargs={max_turns: 20}' \
  +mmsearch_gym.max_new_tokens=1024 \
  +mmsearch_gym.env_backend=local \
  trainer.n_gpus_per_node=8 trainer.nnodes=1 trainer.total_epochs=1 \
  trainer.logger='[console,tensorboard]' trainer.project_name=mmsearch_gym trainer.experiment_name=ds_fatal_grpo "$@"
