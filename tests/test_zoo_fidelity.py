"""The zoo against the released code's numbers (hand-computed): verl's loss aggregation, the
release defaults of fatal_grpo and trust_grpo, the kernel's clamp_unanswered, estimators by registry."""

import math

import pytest
import torch

import algos
from algos import EpisodeBatch, core, kernels
from algos.kernels import reference

# -- verl's agg_loss: seq-mean-token-sum-norm = Σ(token losses) / T, no mean over sequences -----
# logp = old = 0 (ratio 1), so each loss token is -A. Rows: A = 1 on 3 tokens, A = -2 on 2 tokens,
# and a fully masked row. Σ = -3 + 4 = 1; T = 4.
ADV = torch.tensor([[1.0, 1.0, 1.0, 0.0], [-2.0, -2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
MASK = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)


@pytest.fixture(params=["torch", "triton"])
def backend(request, monkeypatch):
    if request.param == "triton":
        pytest.importorskip("triton")
    monkeypatch.setenv(kernels.ENV_VAR, request.param)
    return request.param


@pytest.mark.parametrize(
    "mode, scale, loss, grads",
    [
        ("seq-mean-token-sum-norm", None, 1 / 4, (-1 / 4, 2 / 4)),  # Σ / T
        ("seq-mean-token-sum-norm", 10.0, 1 / 10, (-1 / 10, 2 / 10)),  # Σ / loss_scale_factor
        ("seq-mean-token-sum", None, 1 / 2, (-1 / 2, 2 / 2)),  # the empty row is not a sequence
        ("seq-mean-token-mean", None, (-1 + 2) / 2, (-1 / 6, 2 / 4)),  # (-3/3 + 4/2) / 2
        ("token-mean", None, 1 / 5, (-1 / 5, 2 / 5)),
    ],
)
def test_loss_aggregation_matches_verl(backend, mode, scale, loss, grads):
    logp = torch.zeros(3, 4, requires_grad=True)
    out, metrics = kernels.clipped_loss(logp, torch.zeros(3, 4), ADV, MASK, loss_agg_mode=mode, loss_scale_factor=scale)
    out.backward()
    assert out.item() == pytest.approx(loss, abs=1e-7)
    g = logp.grad
    assert g[0, :3].tolist() == pytest.approx([grads[0]] * 3, abs=1e-7)
    assert g[1, :2].tolist() == pytest.approx([grads[1]] * 2, abs=1e-7)
    assert float(g[2].abs().sum()) == 0.0 and float(g[0, 3]) == 0.0
    assert float(metrics["n_loss_samples"]) == 2.0  # the fully masked row is not counted
    assert core.aggregate(-ADV, MASK, mode, scale).item() == pytest.approx(loss, abs=1e-7)


def test_dr_grpo_loss_does_not_average_over_sequences():
    # 3 sequences of 2 tokens, A = 1, -1, 0.5 (token loss -A): Σ = -2 + 2 - 1 = -1; T = 2
    b = EpisodeBatch(torch.zeros(3, 2, dtype=torch.long), torch.ones(3, 2, dtype=torch.bool), torch.arange(3),
                     torch.zeros(3))  # fmt: skip
    adv = torch.tensor([[1.0, 1.0], [-1.0, -1.0], [0.5, 0.5]])
    loss, _ = algos.make("dr_grpo").compute_loss(torch.zeros(3, 2), b, adv, b.response_mask)
    assert loss.item() == pytest.approx(-1 / 2)


# -- release defaults ----------------------------------------------------------------------


def test_fatal_grpo_trains_without_kl_by_default():
    assert algos.options("fatal_grpo")["kl_coef"] == 0
    algo = algos.make("fatal_grpo")
    b = EpisodeBatch(
        torch.zeros(2, 3, dtype=torch.long),
        torch.ones(2, 3, dtype=torch.bool),
        torch.zeros(2, dtype=torch.long),
        torch.tensor([1.0, 0.0]),
    )  # fmt: skip  (no ref_logp: none is needed)
    loss, metrics = algo.compute_loss(torch.zeros(2, 3), b, *algo.compute_advantages(b))
    assert "kl" not in metrics and loss.item() == pytest.approx(0.0)
    with pytest.raises(ValueError, match="needs batch.ref_logp"):
        algos.make("fatal_grpo", kl_coef=0.001).compute_loss(torch.zeros(2, 3), b, *algo.compute_advantages(b))


def test_trust_grpo_defaults_to_the_released_run():
    opts = algos.options("trust_grpo")
    assert opts["anneal_steps"] == 12000 and opts["step_offset"] == 1 and opts["alpha"] == 0.3
    # one group: R_o 1, 0 ; R_t .5, .9 -> R_t 0 for R_o < .2 ; μ_c = .5 >= μ_i = 0 -> γ = 1
    b = EpisodeBatch(torch.zeros(2, 1, dtype=torch.long), torch.ones(2, 1, dtype=torch.bool), torch.zeros(2, dtype=torch.long),
                     torch.tensor([1.0, 0.0]), thinking_reward=torch.tensor([0.5, 0.9]))  # fmt: skip
    algo = algos.make("trust_grpo")
    # our first step (0) is the release's step 1: 1 + .3 · exp(-1/12000) · .5 = 1.14998750
    assert algo.shape_rewards(b, step=0).tolist() == pytest.approx([1.1499875, 0.0], abs=1e-6)
    # step 11999 is the release's 12000 = T: 1 + .3 · e^-1 · .5 = 1.05518192
    assert algo.shape_rewards(b, step=11999).tolist() == pytest.approx([1.0551819, 0.0], abs=1e-6)
    assert algos.make("trust_grpo", step_offset=0).shape_rewards(b, step=0)[0].item() == pytest.approx(1.15)


# -- kernels: clamp_unanswered, estimators through the registry -----------------------------
# One group, RLOO, rewards 1, 0, 0, 0: A = (r - .25) · 4/3 = 1, -1/3, -1/3, -1/3.
# s1: f = 2, tokens of turns 0-1 only (ended unanswered); s2: f = 1, tokens at turns 0-2 (cascade).
REWARDS = torch.tensor([1.0, 0.0, 0.0, 0.0])
TURNS = torch.tensor([[0, 0, 1, 1], [0, 1, 1, -1], [0, 1, 2, 2], [0, 0, 0, -1]])
RESPONSE = TURNS >= 0
FATAL = torch.tensor([-1, 2, 1, -1])


@pytest.mark.parametrize("clamp_unanswered, s1", [(True, 0.0), (False, -1 / 3)])
def test_clamp_unanswered_in_the_kernel(backend, clamp_unanswered, s1):
    adv, mask = kernels.advantages_and_mask(
        REWARDS, torch.zeros(4, dtype=torch.long), RESPONSE, TURNS, FATAL, estimator="rloo",
        clamp_unanswered=clamp_unanswered,
    )  # fmt: skip
    assert adv[:, 0].tolist() == pytest.approx([1.0, s1, 0.0, -1 / 3])  # s2 (cascade) is clamped either way
    assert mask.tolist() == [[True] * 4, [True, True, True, False], [True, False, False, False], [True] * 3 + [False]]
    batch = EpisodeBatch(torch.zeros(4, 4, dtype=torch.long), RESPONSE, torch.zeros(4, dtype=torch.long), REWARDS, turn_index=TURNS,
                         fatal_turn=FATAL)  # fmt: skip
    want = algos.make("fatal_grpo", clamp_unanswered=clamp_unanswered).compute_advantages(batch)
    assert torch.allclose(adv, want[0]) and torch.equal(mask, want[1])


def test_a_registered_estimator_reaches_fatal_grpo_and_the_kernel_op(backend):
    @core.register_advantage_estimator("test_sign")
    def sign(rewards, group_ids):
        mean, _, _, _ = core.group_stats(rewards, group_ids)
        return torch.sign(rewards - mean)

    try:
        args = (REWARDS, torch.zeros(4, dtype=torch.long), RESPONSE, TURNS, FATAL)
        adv, _ = kernels.advantages_and_mask(*args, estimator="test_sign")
        assert adv[:, 0].tolist() == [1.0, 0.0, 0.0, -1.0]  # -1 clamped to 0 for the flagged s1, s2
        batch = EpisodeBatch(torch.zeros(4, 4, dtype=torch.long), RESPONSE, torch.zeros(4, dtype=torch.long), REWARDS,
                             turn_index=TURNS, fatal_turn=FATAL)  # fmt: skip
        got, _ = algos.make("fatal_grpo", estimator="test_sign").compute_advantages(batch)
        assert torch.equal(got, adv)
        assert reference.advantages_and_mask(*args, estimator="test_sign")[0].tolist() == adv.tolist()
    finally:
        del core.ADVANTAGE_ESTIMATORS["test_sign"]


def test_estimate_advantages_passes_each_estimator_its_options():
    r, g = torch.tensor([1.0, 0.0, 3.0]), torch.tensor([0, 0, 1])
    grpo = core.estimate_advantages("grpo", r, g, scale_rewards="none", eps=0.5)
    assert grpo.tolist() == [0.5, -0.5, 0.0]  # a group of one gets 0
    assert core.estimate_advantages("rloo", r, g, scale_rewards="none").tolist() == [1.0, -1.0, 0.0]
    with pytest.raises(ValueError, match="unknown advantage estimator 'x'; known: dr_grpo, grpo, rloo"):
        core.estimate_advantages("x", r, g)


def test_group_of_one_gets_zero_and_empty_rows_skip_sequence_means():
    # documented conventions (algos.core): a lone sample has no baseline; a row with no loss token
    # is not a sequence of the mean.
    r = torch.tensor([5.0])
    for name in ("grpo", "dr_grpo", "rloo"):
        assert core.estimate_advantages(name, r, torch.zeros(1, dtype=torch.long)).tolist() == [0.0]
    loss = torch.tensor([[2.0, 2.0], [9.0, 9.0]])
    mask = torch.tensor([[1, 1], [0, 0]])
    assert core.aggregate(loss, mask, "seq-mean-token-sum").item() == 4.0  # not 4 / 2
    assert math.isclose(core.aggregate(loss, mask, "seq-mean-token-mean").item(), 2.0)
