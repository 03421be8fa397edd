"""DeepSearch-v0 through the rollout engine and the trainer with the tiny vision-language model."""

from __future__ import annotations

import json
import math

import gymnasium as gym
import pytest
import torch

import mmsearch_gym.cli
from algos import tiny
from algos.rollout import ChatFormat, RolloutEngine, SamplingParams, ScriptedTextPolicy

ENV_ID = "mmsearch_gym/DeepSearch-v0"


@pytest.fixture(scope="module")
def tok():
    return tiny.default_tokenizer(episodes=40)


def test_oracle_episodes_tokenise_with_every_image_the_policy_saw(tok):
    _, processor = tiny.build_vlm(tok, hidden=32, layers=1, heads=2, vision_dim=16, max_pixels=56 * 56)
    chat = ChatFormat(tok, processor)
    envs = [gym.make(ENV_ID) for _ in range(2)]
    engine = RolloutEngine(
        ScriptedTextPolicy("oracle"), SamplingParams(max_new_tokens=600), chat=chat, max_episode_tokens=60_000
    )
    result = engine.rollout(envs, seeds=[21, 22])
    for ep, rec in zip(result.tokens, result.records, strict=True):
        assert rec.success and rec.n_valid_tool_calls >= 4
        assert len(ep.spans) == len(rec.turns)
        for (start, end), turn in zip(ep.spans, rec.turns, strict=True):
            assert chat.decode(ep.ids[start:end]).removesuffix(chat.decode([chat.turn_stop_id])) == turn.action
        shown = [i for m in rec.messages[:-1] for i in m["images"]]  # the reply to the answer is never shown
        assert len(shown) >= 2 and len(ep.images) == len(shown)  # the anchor and the tools' images, in order
        assert sum(ep.response_mask) == sum(end - start for start, end in ep.spans)
    for env in envs:
        env.close()


def test_train_command_runs_sft_and_rl_on_deep_search(tok, tmp_path, monkeypatch):
    model = tiny.save_tiny_model(tmp_path / "vlm", "vlm", tokenizer=tok, hidden=32, layers=1, heads=2)
    monkeypatch.setattr(mmsearch_gym.cli, "COMMAND_MODULES", ["algos.cli"])
    before = torch.get_num_threads()
    out = tmp_path / "run"
    try:
        rc = mmsearch_gym.cli.main([
            "train", "--env", ENV_ID, "--algo", "fatal_grpo", "--model", str(model), "--out", str(out),
            "--threads", "1",
            "--set", "rollout={tasks_per_step: 1, group_size: 2, max_new_tokens: 400, max_episode_tokens: 30000}",
            "--set", "sft={steps: 1, episodes: 2, batch_size: 2, successful_only: true}",
            "--set", "rl.steps=1", "--set", "eval.episodes=1", "--set", "logging.progress=false",
        ])  # fmt: skip
    finally:
        torch.set_num_threads(before)
    assert rc == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    sft = next(r for r in rows if r["phase"] == "sft")
    rl = next(r for r in rows if r["phase"] == "rl")
    assert sft["n_tokens"] > 500 and math.isfinite(sft["loss"]) and sft["grad_norm"] > 0
    assert {"reward_accuracy", "reward_format", "reward_query"} <= set(rl)  # DeepSearch's components reach the logs
    assert (out / "curves.png").is_file()


def test_env_baseline_agents_play_in_async_vector_env_workers():
    """``ScriptedTextPolicy("no_vision")`` asks each worker's env for its own scripted agent's turn."""
    engine = RolloutEngine(ScriptedTextPolicy("no_vision"), SamplingParams(max_new_tokens=600))
    expected = engine.rollout([gym.make(ENV_ID) for _ in range(2)], seeds=[31, 32])
    vec = gym.vector.AsyncVectorEnv([lambda: gym.make(ENV_ID) for _ in range(2)], shared_memory=False)
    try:
        got = engine.rollout(vec, seeds=[31, 32])
    finally:
        vec.close()
    assert [r.to_dict() for r in got.records] == [r.to_dict() for r in expected.records]
    first_calls = [r.turns[0].tool for r in got.records]
    assert first_calls == ["image_search", "image_search"]  # no perception tools: reverse search of the raw image
