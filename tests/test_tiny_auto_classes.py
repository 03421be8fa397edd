"""Saved tiny models load with AutoTokenizer / AutoProcessor as they were saved (what verl, TRL, vLLM call)."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest
from transformers import AutoTokenizer

import mmsearch_gym  # noqa: F401
from algos import tiny
from algos.rollout import ChatFormat, load_pretrained, load_tokenizer


@pytest.fixture(scope="module")
def tok():
    return tiny.default_tokenizer(episodes=40)


@pytest.mark.parametrize("kind", ["text", "vlm"])
@pytest.mark.parametrize("trust_remote_code", [False, True])
def test_auto_tokenizer_gives_our_ids_for_a_real_prompt(tok, tmp_path, kind, trust_remote_code):
    path = tiny.save_tiny_model(tmp_path / kind, kind, tokenizer=tok, hidden=32, layers=1, heads=2)
    env = gym.make("mmsearch_gym/Maze-v0", size=5, text_maze=True)
    _, info = env.reset(seed=0)
    messages = [{"role": m["role"], "content": m["content"]} for m in info["messages"]]
    ours = load_tokenizer(path)
    auto = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    want = ours.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert auto.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == want
    assert auto(want)["input_ids"] == ours(want)["input_ids"] == tok(want)["input_ids"]
    assert len(auto(want)["input_ids"]) < 700
    assert auto.eos_token == ours.eos_token and auto.pad_token_id == ours.pad_token_id
    if kind == "vlm":
        cfg = json.loads((path / "processor_config.json").read_text())
        assert cfg["processor_class"] == "Qwen2VLProcessor"  # a class AutoProcessor knows (with torchvision)
        assert json.loads((path / "video_preprocessor_config.json").read_text())["patch_size"] == 14
        loaded = load_pretrained(path)
        assert ChatFormat(loaded.tokenizer, loaded.processor).multimodal
