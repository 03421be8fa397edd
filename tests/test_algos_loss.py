"""Algorithm.compute_loss: KL terms, off-policy ratios, masks, and never a silent NaN."""

import math

import pytest
import torch

import algos
from algos import EpisodeBatch


def batch(rewards, groups, mask, **kw):
    mask = torch.tensor(mask, dtype=torch.bool)
    return EpisodeBatch(
        input_ids=torch.zeros(mask.shape, dtype=torch.long),
        response_mask=mask,
        group_ids=torch.tensor(groups),
        rewards=torch.tensor(rewards, dtype=torch.float32),
        **kw,
    )


def test_on_policy_grpo_loss_is_minus_mean_advantage():
    # rewards 1, 0 in one group: mean .5, unbiased std √.5 = .70711 -> A = ±.70711 (eps 1e-6)
    b = batch([1.0, 0.0], [0, 0], [[1, 1, 1], [1, 0, 0]])
    algo = algos.make("grpo")
    adv, mask = algo.compute_advantages(b)
    a = 0.5 / (math.sqrt(0.5) + 1e-6)
    assert adv.flatten().tolist() == pytest.approx([a, a, a, -a, 0, 0], rel=1e-6)
    logp = torch.full((2, 3), -1.0, requires_grad=True)
    loss, metrics = algo.compute_loss(logp, b, adv, mask)
    # ratio 1 everywhere: token-mean of -A over 4 tokens = -(3a - a)/4 = -a/2
    assert loss.item() == pytest.approx(-a / 2, rel=1e-6)
    loss.backward()
    assert logp.grad.flatten().tolist() == pytest.approx([-a / 4] * 3 + [a / 4, 0, 0], rel=1e-6)
    assert metrics["n_loss_tokens"] == 4 and metrics["pg_clipfrac"] == 0.0


def test_kl_term_is_added_with_its_coefficient():
    # A = 0 (all-equal rewards), so the loss is kl_coef · KL alone.
    logp = torch.tensor([[-1.0, -2.0]])
    b = batch([1.0], [0], [[1, 1]], ref_logp=torch.tensor([[-2.0, -1.0]]))
    for est, kl in (("k3", (math.exp(-1) + math.e - 2) / 2), ("k1", (1.0 - 1.0) / 2)):
        algo = algos.make("grpo", kl_coef=0.1, kl_estimator=est)
        loss, metrics = algo.compute_loss(logp, b, *algo.compute_advantages(b))
        assert metrics["kl"] == pytest.approx(kl, abs=1e-6)  # k3: (.36788 + .71828)/2 = .54308
        assert loss.item() == pytest.approx(0.1 * kl, abs=1e-7)
    b1 = batch([1.0], [0], [[1, 1]], ref_logp=torch.tensor([[-2.0, -1.5]]))
    algo = algos.make("grpo", kl_coef=0.5, kl_estimator="k1")
    loss, _ = algo.compute_loss(torch.tensor([[-1.0, -1.0]]), b1, *algo.compute_advantages(b1))
    assert loss.item() == pytest.approx(0.5 * (1.0 + 0.5) / 2)  # k1 = logp - ref = 1, .5


def test_kl_without_reference_says_what_to_pass():
    b = batch([1.0, 0.0], [0, 0], [[1], [1]])
    algo = algos.make("grpo", kl_coef=0.01)
    with pytest.raises(ValueError, match="needs batch.ref_logp"):
        algo.compute_loss(torch.zeros(2, 1), b, *algo.compute_advantages(b))


def test_off_policy_ratio_uses_old_logp():
    # ratio e^{0.5} = 1.6487 > 1.2 with A > 0: clipped to 1.2, loss -1.2·A, no gradient.
    b = batch([1.0, 0.0], [0, 0], [[1], [1]], old_logp=torch.tensor([[-1.5], [-1.0]]))
    algo = algos.make("grpo", scale_rewards="none")  # A = ±.5
    adv, mask = algo.compute_advantages(b)
    logp = torch.tensor([[-1.0], [-1.0]], requires_grad=True)
    loss, metrics = algo.compute_loss(logp, b, adv, mask)
    assert loss.item() == pytest.approx((-1.2 * 0.5 + 0.5) / 2)
    loss.backward()
    assert logp.grad.flatten().tolist() == pytest.approx([0.0, 0.25])
    assert metrics["pg_clipfrac"] == 0.5


@pytest.mark.parametrize(
    "mode", ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"]
)
def test_all_zero_loss_mask_gives_zero_loss_and_zero_grads(mode):
    b = batch([1.0, 0.0], [0, 0], [[0, 0], [0, 0]], ref_logp=torch.zeros(2, 2))
    algo = algos.make("grpo", loss_agg_mode=mode, kl_coef=0.1)
    adv, mask = algo.compute_advantages(b)
    logp = torch.full((2, 2), float("-inf"), requires_grad=True)  # garbage off the mask
    loss, metrics = algo.compute_loss(logp, b, adv, mask)
    assert loss.item() == 0.0 and metrics["n_loss_tokens"] == 0
    loss.backward()
    assert torch.equal(logp.grad, torch.zeros(2, 2))


def test_nan_logp_on_loss_tokens_raises_naming_the_sample():
    b = batch([1.0, 0.0, 0.5], [0, 0, 0], [[1, 1], [1, 1], [1, 0]])
    algo = algos.make("grpo")
    logp = torch.zeros(3, 2)
    logp[2, 1] = float("nan")  # off the mask: harmless
    algo.compute_loss(logp, b, *algo.compute_advantages(b))
    logp[1, 0] = float("nan")
    with pytest.raises(ValueError, match=r"not finite.*samples \[1\]"):
        algo.compute_loss(logp, b, *algo.compute_advantages(b))


def test_loss_shape_mismatch():
    b = batch([1.0, 0.0], [0, 0], [[1, 1], [1, 1]])
    algo = algos.make("grpo")
    adv, mask = algo.compute_advantages(b)
    with pytest.raises(ValueError, match=r"logp has shape \(2, 3\), expected \(2, 2\)"):
        algo.compute_loss(torch.zeros(2, 3), b, adv, mask)
    with pytest.raises(ValueError, match=r"rewards has shape \(3,\), expected \(2,\)"):
        algo.compute_advantages(b, rewards=torch.zeros(3))


def test_empty_batch_gives_zero_loss():
    b = EpisodeBatch(
        input_ids=torch.zeros(0, 4, dtype=torch.long),
        response_mask=torch.zeros(0, 4),
        group_ids=torch.zeros(0, dtype=torch.long),
        rewards=torch.zeros(0),
    )
    algo = algos.make("fatal_grpo", kl_coef=0.0)
    adv, mask = algo.compute_advantages(b)
    assert adv.shape == (0, 4)
    loss, _ = algo.compute_loss(torch.zeros(0, 4, requires_grad=True), b, adv, mask)
    assert loss.item() == 0.0


def test_dr_grpo_defaults_to_constant_normaliser():
    # rewards 1, 0: A = ±.5 ; seq sums -.5·2 and +.5·1 ; summed (verl: no mean over rows) = -.5 ; / scale 8
    b = batch([1.0, 0.0], [0, 0], [[1, 1, 0, 0], [1, 0, 0, 0]])
    algo = algos.make("dr_grpo", loss_scale_factor=8)
    loss, _ = algo.compute_loss(torch.zeros(2, 4), b, *algo.compute_advantages(b))
    assert loss.item() == pytest.approx(-0.5 / 8)
    algo = algos.make("dr_grpo")  # divisor T = 4
    loss, _ = algo.compute_loss(torch.zeros(2, 4), b, *algo.compute_advantages(b))
    assert loss.item() == pytest.approx(-0.5 / 4)
