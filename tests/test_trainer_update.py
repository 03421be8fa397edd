"""The update: micro-batches add up to the full batch, the SFT loss, log-probs through the kernels."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

import algos
import mmsearch_gym  # noqa: F401
from algos import tiny
from algos.core import LOSS_AGG_MODES
from algos.rollout import ChatFormat, RolloutEngine, SamplingParams, ScriptedTextPolicy
from algos.trainer import logprobs as lp_module
from algos.trainer.logprobs import sequence_logprobs, torch_logprobs
from algos.trainer.update import rl_step, select_rows, sft_step


@pytest.fixture(scope="module")
def setup():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    tok = tiny.default_tokenizer(episodes=40)
    model = tiny.build_text_model(tok, hidden=32, layers=1, heads=2, seed=3).train()
    envs = [
        gym.make("mmsearch_gym/Maze-v0", min_size=2, max_size=3, text_maze=True, question_types=("moves",))
        for _ in range(5)
    ]
    result = RolloutEngine(
        ScriptedTextPolicy("oracle"), SamplingParams(max_new_tokens=200), chat=ChatFormat(tok)
    ).rollout(envs, seeds=[0, 1, 2, 3, 4])
    yield model, result
    torch.set_num_threads(before)


def grads(model, fn):
    model.zero_grad(set_to_none=True)
    metrics = fn()
    return [p.grad.clone() for p in model.parameters()], metrics


@pytest.mark.parametrize("mode", LOSS_AGG_MODES)
def test_micro_batches_give_the_full_batch_gradient(setup, mode):
    model, result = setup
    batch = result.batch
    algo = algos.make("grpo", loss_agg_mode=mode)
    mask = batch.response_mask.clone()
    mask[1] = False  # an episode with no loss tokens changes the seq-mean denominators
    adv = torch.linspace(-1, 1, batch.batch_size)[:, None] * mask

    def inputs(rows):
        return result.model_inputs(rows, width=max(len(result.tokens[r]) for r in rows))  # trimmed rows

    full, m_full = grads(model, lambda: rl_step(model, algo, batch, inputs, adv, mask, 5, 1.0, None))
    micro, m_micro = grads(model, lambda: rl_step(model, algo, batch, inputs, adv, mask, 2, 1.0, None))
    for g_full, g_micro in zip(full, micro):
        assert torch.allclose(g_full, g_micro, atol=1e-6, rtol=1e-4)
    assert m_full["loss"] == pytest.approx(m_micro["loss"], rel=1e-4, abs=1e-7)
    assert m_full["n_loss_tokens"] == m_micro["n_loss_tokens"] == float(mask.sum())
    assert any(float(g.abs().sum()) > 0 for g in full)


def test_sft_loss_is_the_token_mean_nll_of_the_responses(setup):
    model, result = setup
    inputs = result.model_inputs()
    response = result.batch.response_mask
    (g1, m1) = grads(model, lambda: sft_step(model, lambda rows: result.model_inputs(rows), response, 5, None))
    (g2, m2) = grads(model, lambda: sft_step(model, lambda rows: result.model_inputs(rows), response, 2, None))
    with torch.no_grad():
        logits = model(**inputs).logits[:, :-1]
        nll = -torch_logprobs(logits, inputs["input_ids"][:, 1:])[response[:, 1:]].mean()
    assert m1["loss"] == pytest.approx(float(nll), rel=1e-5) == m2["loss"]
    assert all(torch.allclose(a, b, atol=1e-6, rtol=1e-4) for a, b in zip(g1, g2))


def test_logprobs_with_and_without_kernels_and_temperature(setup, monkeypatch):
    model, result = setup
    inputs = result.model_inputs()
    real = result.batch.attention_mask[:, 1:]
    for temperature in (1.0, 0.7):
        with torch.no_grad():
            fused = sequence_logprobs(model, inputs, temperature)
            expected = torch_logprobs(model(**inputs).logits[:, :-1], inputs["input_ids"][:, 1:], temperature)
        assert torch.allclose(fused[:, 1:][real], expected[real], atol=1e-5)
        assert bool((fused[:, 0] == 0).all()) and bool((fused[:, 1:][~real] == 0).all())
    monkeypatch.setattr(lp_module, "_kernels", lambda: None)  # the plain-torch seam gives the same numbers
    with torch.no_grad():
        plain = sequence_logprobs(model, inputs, 0.7)
    assert torch.allclose(plain, fused, atol=1e-5)


def test_select_rows_keeps_every_field(setup):
    _, result = setup
    batch = result.batch
    sub = select_rows(batch, [3, 0])
    assert torch.equal(sub.input_ids, batch.input_ids[[3, 0]])
    assert torch.equal(sub.turn_index, batch.turn_index[[3, 0]])
    assert sub.reward_components.keys() == batch.reward_components.keys()
    assert torch.equal(sub.rewards, batch.rewards[[3, 0]]) and torch.equal(sub.group_ids, batch.group_ids[[3, 0]])


def test_vlm_micro_batches_slice_the_images_with_their_rows():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tok = tiny.default_tokenizer(episodes=40)
        model, processor = tiny.build_vlm(tok, hidden=32, layers=1, heads=2, vision_dim=16, max_pixels=56 * 56)
        model.train()
        envs = [
            gym.make("mmsearch_gym/Maze-v0", min_size=2, max_size=3, question_types=("moves",), cell_px=24)
            for _ in range(3)
        ]
        result = RolloutEngine(
            ScriptedTextPolicy("oracle"), SamplingParams(max_new_tokens=300), chat=ChatFormat(tok, processor)
        ).rollout(envs, seeds=[0, 1, 2])
        assert [len(t.images) for t in result.tokens] == [2, 2, 2]
        batch, algo = result.batch, algos.make("fatal_grpo", kl_coef=0.0)
        adv, mask = torch.tensor([[1.0], [-0.5], [0.25]]) * batch.response_mask, batch.response_mask

        def inputs(rows):
            return result.model_inputs(rows, width=max(len(result.tokens[r]) for r in rows))

        full, _ = grads(model, lambda: rl_step(model, algo, batch, inputs, adv, mask, 3, 1.0, None))
        micro, _ = grads(model, lambda: rl_step(model, algo, batch, inputs, adv, mask, 1, 1.0, None))
        vision = [i for i, (name, _) in enumerate(model.named_parameters()) if "visual" in name]
        assert vision and any(float(full[i].abs().sum()) > 0 for i in vision)  # the images reach the loss
        for a, b in zip(full, micro):
            assert torch.allclose(a, b, atol=1e-6, rtol=1e-4)
    finally:
        torch.set_num_threads(before)


def test_bf16_autocast_update_runs_and_keeps_fp32_weights(setup):
    model, result = setup
    batch, algo = result.batch, algos.make("grpo")
    adv = torch.linspace(-1, 1, batch.batch_size)[:, None] * batch.response_mask

    def inputs(rows):
        return result.model_inputs(rows)

    fp32, _ = grads(model, lambda: rl_step(model, algo, batch, inputs, adv, batch.response_mask, 5, 1.0, None))
    bf16, m = grads(
        model, lambda: rl_step(model, algo, batch, inputs, adv, batch.response_mask, 5, 1.0, torch.bfloat16)
    )
    assert all(p.dtype == torch.float32 for p in model.parameters()) and all(g.dtype == torch.float32 for g in bf16)
    cos = torch.nn.functional.cosine_similarity(
        torch.cat([g.flatten() for g in fp32]), torch.cat([g.flatten() for g in bf16]), dim=0
    )
    assert float(cos) > 0.95 and torch.isfinite(torch.tensor(m["loss"]))
