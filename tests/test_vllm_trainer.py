"""The trainer with vLLM rollouts on the CPU (``make test-vllm``; skipped where vLLM is absent).

SFT then RL with ``rollout.backend: vllm``: every update is followed by a weight sync before
the next rollout, and the engine provably samples from the trained weights: at every RL step
its log-probs equal the trained model's on the same tokens, and after training its greedy
turns are the trained model's, not the initial one's.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("vllm", reason="vLLM is not installed: `make vllm` (CPU) then `make test-vllm`")

from algos.rollout import HFPolicy, SamplingParams, TokenPrompt, VLLMPolicy, load_pretrained  # noqa: E402
from algos.trainer import Trainer  # noqa: E402
from algos.trainer.config import load_config  # noqa: E402
from algos.trainer.logprobs import sequence_logprobs  # noqa: E402
from vllm_cpu import ENGINE, ENV, KW, LOGP_TOL, tiny_vllm_model  # noqa: E402

pytestmark = pytest.mark.timeout(900)


def probe_prompts(trainer: Trainer) -> list[TokenPrompt]:
    import gymnasium as gym

    prompts = []
    for seed in (7, 8):
        _, info = gym.make(ENV, **KW).reset(seed=seed)
        piece = trainer.chat.prompt(info["messages"], [[] for _ in info["messages"]])
        prompts.append(TokenPrompt(list(piece.ids)))
    return prompts


def generate(policy, prompts, chat, temperature=0.0):
    return policy.generate(prompts, SamplingParams(max_new_tokens=12, temperature=temperature), chat.stop_ids)


def test_trainer_with_vllm_rollouts_syncs_weights_after_every_update(tmp_path):
    model = tiny_vllm_model(tmp_path / "model")
    cfg = load_config(
        env=ENV,
        model=str(model),
        out_dir=str(tmp_path / "run"),
        algo="fatal_grpo",
        ref_model=None,
        device="cpu",
        env_kwargs=dict(KW),
        sets=[
            "rollout.backend=vllm",
            "rollout.tasks_per_step=1",
            "rollout.group_size=4",
            "rollout.max_new_tokens=64",  # the oracle's turns (SFT data) fit
            "rollout.max_episode_tokens=2048",
            "sft.steps=2",
            "sft.episodes=8",
            "sft.batch_size=4",
            "sft.lr=0.01",
            "rl.steps=2",
            "rl.lr=0.01",
            "rl.ppo_epochs=2",  # the trainer then scores old log-probs with the HF model: compared with vLLM's
            "eval.episodes=2",
            "checkpoint.every=100",
            "logging={tensorboard: false, progress: false, plot: false}",
        ],
    )
    cfg.rollout.vllm = dict(ENGINE)
    steps: list[dict] = []
    trainer = Trainer(cfg, callbacks=[lambda t, m: steps.append(dict(m))])
    try:
        assert isinstance(trainer.engine.policy, VLLMPolicy)
        syncs = []
        real_load = trainer.rollout_policy.load_weights
        trainer.rollout_policy.load_weights = lambda model: syncs.append(trainer.state["step"]) or real_load(model)
        prompts = probe_prompts(trainer)
        initial = load_pretrained(model).model
        before = generate(trainer.rollout_policy, prompts, trainer.chat, temperature=1.0)
        summary = trainer.fit()

        # synced once after the SFT steps (before the after_sft eval), after RL step 1 (in step 2), after step 2
        assert syncs == [2, 3, 4]
        rl = [m for m in steps if "time_weight_sync" in m]
        assert len(rl) == 2 and rl[0]["time_weight_sync"] == 0 and rl[1]["time_weight_sync"] > 0
        for m in rl:  # the engine sampled with the weights the update had just made
            assert m["rollout_logp_abs_diff_max"] < LOGP_TOL, m
        assert set(summary["evals"]) == {"before", "after_sft", "after_rl"}  # evals sampled by vLLM too

        # the engine now holds the trained weights: greedy turns and log-probs are the trained model's
        after = generate(trainer.rollout_policy, prompts, trainer.chat)
        trained = generate(HFPolicy(trainer.model, trainer.tokenizer), prompts, trainer.chat)
        assert [g.ids for g in after] == [g.ids for g in trained]
        fresh = generate(trainer.rollout_policy, prompts, trainer.chat, temperature=1.0)
        for prompt, g, old in zip(prompts, fresh, before):
            ids = torch.tensor([prompt.ids + g.ids])
            inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
            with torch.no_grad():
                now = sequence_logprobs(trainer.model, inputs)[0, len(prompt.ids):]
                then = sequence_logprobs(initial, inputs)[0, len(prompt.ids):]
            assert torch.allclose(torch.tensor(g.logprobs), now, atol=LOGP_TOL)
            assert float((torch.tensor(g.logprobs) - then).abs().max()) > 0.05  # training moved them
            assert old.logprobs is not None
    finally:
        trainer.close()
