"""``VLLMPolicy`` on vLLM's real engine (the CPU wheel: ``make test-vllm``; skipped where vLLM is absent).

One engine for the module (starting one takes ~30 s on 2 cores). Multi-turn rollouts keep the
ids vLLM sampled; the env's messages are tokenised once; vLLM's log-probs equal the HF model's
on the same tokens; greedy rollouts equal HF ``generate``'s; ``load_weights`` makes the
engine sample from the new weights.
"""

from __future__ import annotations

import copy
from collections import defaultdict

import gymnasium as gym
import pytest
import torch

pytest.importorskip("vllm", reason="vLLM is not installed: `make vllm` (CPU) then `make test-vllm`")

import mmsearch_gym  # noqa: E402,F401
from algos import tiny  # noqa: E402
from algos.rollout import HFPolicy, RolloutEngine, SamplingParams, VLLMPolicy  # noqa: E402
from algos.trainer.logprobs import sequence_logprobs  # noqa: E402
from vllm_cpu import ENGINE, ENV, KW, LOGP_TOL, tiny_vllm_model  # noqa: E402

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_vllm_model(tmp_path_factory.mktemp("vllm") / "tiny")


@pytest.fixture(scope="module")
def policy(model_dir):
    p = VLLMPolicy(model_dir, seed=0, **ENGINE)
    yield p
    p.close()


@pytest.fixture(scope="module")
def hf(model_dir):
    return HFPolicy.from_pretrained(model_dir)


def envs(n: int) -> list[gym.Env]:
    return [gym.make(ENV, **KW) for _ in range(n)]


def rollout(policy, seeds=(0, 1), group_size=2, **sampling):
    params = SamplingParams(**{"max_new_tokens": 12, "temperature": 1.0, **sampling})
    return RolloutEngine(policy, params).rollout(envs(len(seeds) * group_size), seeds=list(seeds), group_size=group_size)


class GenerateSpy:
    """Records every prompt sent to ``llm.generate`` and the ids vLLM returned for it (the real call runs)."""

    def __init__(self, llm):
        self.llm, self.real, self.calls = llm, llm.generate, []

    def __enter__(self):
        def generate(prompts, *args, **kwargs):
            outputs = self.real(prompts, *args, **kwargs)
            self.calls += [(list(p["prompt_token_ids"]), list(o.outputs[0].token_ids)) for p, o in zip(prompts, outputs)]
            return outputs

        self.llm.generate = generate
        return self

    def __exit__(self, *exc):
        del self.llm.generate  # back to the class's method


def test_multi_turn_rollout_keeps_exactly_the_ids_vllm_sampled(policy):
    with GenerateSpy(policy.llm) as spy:
        result = rollout(policy)
    sent = defaultdict(list)
    for prompt, out in spy.calls:
        sent[tuple(prompt)].append(out)
    chat = policy.chat_format()
    for ep, record in zip(result.tokens, result.records):
        assert len(ep.spans) >= 2, "a random tiny model errs every turn: the episode must run several turns"
        replies = [m for m in record.messages[1:] if m["role"] != "assistant"][1:]  # after the task prompt
        for k, (start, end) in enumerate(ep.spans):
            outs = sent[tuple(ep.ids[:start])]  # vLLM was sent exactly the context so far …
            assert ep.ids[start:end] in outs  # … and the turn in the batch is exactly what it returned
            outs.remove(ep.ids[start:end])
            if k + 1 < len(ep.spans):  # between turns: the template's turn end, then the env's reply tokenised alone
                sampled = ep.ids[start:end]
                glue = chat.close_turn(sampled, sampled[-1] in chat.stop_ids).ids + chat.message(replies[k], []).ids
                assert ep.ids[end : ep.spans[k + 1][0]] == glue
    assert all(not outs for outs in sent.values())  # every generation landed in some episode
    assert result.batch.response_mask.sum() == sum(e - s for ep in result.tokens for s, e in ep.spans)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_vllm_logprobs_equal_the_hf_models_on_the_same_tokens(policy, hf, temperature):
    result = rollout(policy, temperature=temperature)
    assert result.rollout_logp is not None
    with torch.no_grad():
        ours = sequence_logprobs(hf.model, result.model_inputs(), temperature=temperature)
    mask = result.batch.response_mask
    assert int(mask.sum()) >= 40
    gap = (result.rollout_logp - ours)[mask].abs()
    assert float(gap.max()) < LOGP_TOL, f"max |Δ log p| = {float(gap.max()):.2e}"
    assert float(result.rollout_logp[mask].abs().min()) > 0 and not result.rollout_logp[~mask].any()


def test_greedy_rollouts_equal_hf_generate(policy, hf):
    ours = rollout(policy, seeds=(3, 4, 5), group_size=1, temperature=0.0)
    theirs = rollout(hf, seeds=(3, 4, 5), group_size=1, temperature=0.0)
    assert [ep.ids for ep in ours.tokens] == [ep.ids for ep in theirs.tokens]
    assert [len(ep.spans) for ep in ours.tokens] == [len(ep.spans) for ep in theirs.tokens]


def test_load_weights_makes_the_engine_sample_from_the_new_weights(policy, hf):
    moved = copy.deepcopy(hf.model)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in moved.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * p.std().clamp(min=1e-3))
    assert policy.load_weights(moved) == len(dict(moved.named_parameters()))  # the tied head is sent once
    try:
        # greedy turns of a random tied-embedding model mostly repeat a token, so the log-probs are the proof
        greedy = rollout(policy, seeds=(3, 4), group_size=1, temperature=0.0)
        expected = rollout(HFPolicy(moved, hf.tokenizer), seeds=(3, 4), group_size=1, temperature=0.0)
        assert [ep.ids for ep in greedy.tokens] == [ep.ids for ep in expected.tokens]
        sampled = rollout(policy, temperature=1.0)
        mask = sampled.batch.response_mask
        with torch.no_grad():
            new_lp = sequence_logprobs(moved, sampled.model_inputs())
            old_lp = sequence_logprobs(hf.model, sampled.model_inputs())
        assert float((sampled.rollout_logp - new_lp)[mask].abs().max()) < LOGP_TOL
        assert float((sampled.rollout_logp - old_lp)[mask].abs().mean()) > 0.1  # the old weights are gone, head too
    finally:
        policy.load_weights(hf.model)  # the other tests' engine holds the original weights
    back = rollout(policy, temperature=1.0)
    with torch.no_grad():
        lp = sequence_logprobs(hf.model, back.model_inputs())
    assert float((back.rollout_logp - lp)[back.batch.response_mask].abs().max()) < LOGP_TOL


def test_a_head_size_vllms_cpu_attention_refuses_is_caught_before_the_engine_starts(tmp_path):
    path = tiny.save_tiny_model(tmp_path / "h16", "text", tokenizer=tiny.default_tokenizer(episodes=40), hidden=64,
                                heads=4, layers=1)
    with pytest.raises(ValueError, match=r"head_dim 16.*python -m algos.tiny DIR --vllm"):
        VLLMPolicy(path, **ENGINE)


def torchvision_works() -> bool:
    try:
        import torchvision  # noqa: F401
    except Exception:  # absent, or a CUDA build beside the CPU torch
        return False
    return True


@pytest.mark.skipif(not torchvision_works(), reason="vLLM's Qwen2-VL processing needs torchvision (a CPU build)")
def test_the_tiny_vlm_with_images_matches_hf_and_takes_new_weights(tmp_path):
    path = tiny.save_tiny_model(tmp_path / "vlm", "vlm", tokenizer=tiny.default_tokenizer(episodes=40), layers=1,
                                **tiny.VLLM_SIZES)
    vlm = VLLMPolicy(path, limit_mm_per_prompt={"image": 4}, **ENGINE)
    try:
        hf = HFPolicy.from_pretrained(path)
        kw = {k: v for k, v in KW.items() if k != "text_maze"}  # the image only
        play = [gym.make(ENV, **kw) for _ in range(2)]
        result = RolloutEngine(vlm, SamplingParams(max_new_tokens=12)).rollout(play, seeds=[0], group_size=2)
        assert all(len(ep.images) >= 1 and len(ep.spans) >= 2 for ep in result.tokens)
        with torch.no_grad():
            lp = sequence_logprobs(hf.model, result.model_inputs())
        assert float((lp - result.rollout_logp)[result.batch.response_mask].abs().max()) < LOGP_TOL
        moved = copy.deepcopy(hf.model)
        with torch.no_grad():
            for p in moved.parameters():
                p.mul_(1.5)
        vlm.load_weights(moved)  # the vision tower and the language model
        result = RolloutEngine(vlm, SamplingParams(max_new_tokens=12)).rollout(play, seeds=[0], group_size=2)
        with torch.no_grad():
            lp = sequence_logprobs(moved, result.model_inputs())
        assert float((lp - result.rollout_logp)[result.batch.response_mask].abs().max()) < LOGP_TOL
    finally:
        vlm.close()


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("torchvision") is not None, reason="torchvision is installed here"
)
def test_the_tiny_vlm_without_torchvision_fails_saying_what_to_install(tmp_path):
    path = tiny.save_tiny_model(tmp_path / "vlm", "vlm", tokenizer=tiny.default_tokenizer(episodes=40), layers=1,
                                **tiny.VLLM_SIZES)
    with pytest.raises(ImportError, match=r"torchvision 0\.28\.0\+cpu"):
        VLLMPolicy(path, **ENGINE)
