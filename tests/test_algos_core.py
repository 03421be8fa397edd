"""algos.core: every formula pinned with numbers worked out by hand in the comments."""

import math

import pytest
import torch

from algos import core

F64 = torch.float64


def t(values, dtype=F64):
    return torch.tensor(values, dtype=dtype)


# Groups used below (ids deliberately interleaved and non-contiguous):
#   id 7: rewards 1, 0, 0, 0  -> mean 0.25, deviations .75 -.25 -.25 -.25,
#         Σdev² = .5625 + 3·.0625 = .75, unbiased var = .75/3 = .25, std = .5
#   id 3: rewards 2, 4        -> mean 3, unbiased var = (1+1)/1 = 2, std = √2
#   id 9: reward 5 alone      -> no baseline, advantage 0
#   id 4: 0.3, 0.3, 0.3       -> all equal, advantage 0
REWARDS = t([1, 2, 0, 4, 0, 5, 0, 0.3, 0.3, 0.3])
GROUPS = torch.tensor([7, 3, 7, 3, 7, 9, 7, 4, 4, 4])


def test_grpo_unbiased_std_without_eps():
    adv = core.grpo_advantages(REWARDS, GROUPS, eps=0.0)
    s2 = 1 / math.sqrt(2)  # (2-3)/√2
    expected = [1.5, -s2, -0.5, s2, -0.5, 0.0, -0.5, 0.0, 0.0, 0.0]
    assert adv.tolist() == pytest.approx(expected, abs=1e-12)


def test_grpo_eps_enters_the_denominator():
    adv = core.grpo_advantages(REWARDS, GROUPS, eps=1e-6)
    # .75 / (.5 + 1e-6) = 1.499997000006 ; -.25 / .500001 = -0.499999000002
    # 1 / (√2 + 1e-6) = 0.7071062811869011
    assert adv[0].item() == pytest.approx(1.499997000006, abs=1e-12)
    assert adv[2].item() == pytest.approx(-0.499999000002, abs=1e-12)
    assert adv[3].item() == pytest.approx(0.7071062811869011, abs=1e-12)
    assert adv[5].item() == 0.0 and adv[7:].tolist() == [0.0, 0.0, 0.0]


def test_grpo_scale_rewards_batch_and_none():
    r, g = t([1, 0, 0, 0, 2, 4]), torch.tensor([0, 0, 0, 0, 1, 1])
    # batch std of all six rewards: mean 7/6, Σdev² = 12.8333…, /5 = 2.56667, std = 1.6020820
    batch = core.grpo_advantages(r, g, scale_rewards="batch", eps=0.0)
    sd = 1.602081978759722
    assert batch.tolist() == pytest.approx(
        [0.75 / sd, -0.25 / sd, -0.25 / sd, -0.25 / sd, -1 / sd, 1 / sd], abs=1e-12
    )
    none = core.grpo_advantages(r, g, scale_rewards="none")
    assert none.tolist() == pytest.approx([0.75, -0.25, -0.25, -0.25, -1.0, 1.0], abs=1e-12)
    with pytest.raises(ValueError, match="scale_rewards"):
        core.grpo_advantages(r, g, scale_rewards="token")


def test_dr_grpo_drops_the_std():
    adv = core.dr_grpo_advantages(REWARDS, GROUPS)
    assert adv.tolist() == pytest.approx(
        [0.75, -1.0, -0.25, 1.0, -0.25, 0.0, -0.25, 0.0, 0.0, 0.0], abs=1e-12
    )


def test_rloo_leave_one_out_baseline():
    adv = core.rloo_advantages(REWARDS, GROUPS)
    # id 7: 1 - (0+0+0)/3 = 1 ; 0 - (1+0+0)/3 = -1/3.   id 3: 2 - 4 = -2 ; 4 - 2 = 2
    third = 1 / 3
    assert adv.tolist() == pytest.approx(
        [1.0, -2.0, -third, 2.0, -third, 0.0, -third, 0.0, 0.0, 0.0], abs=1e-12
    )


@pytest.mark.parametrize("estimator", ["grpo", "dr_grpo", "rloo"])
def test_estimators_on_empty_and_singletons(estimator):
    fn = core.ADVANTAGE_ESTIMATORS[estimator]
    assert fn(t([]), torch.tensor([], dtype=torch.long)).shape == (0,)
    assert fn(t([3.0, -1.0]), torch.tensor([0, 1])).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_rewards_name_the_samples(bad):
    r = t([0.0, bad, 1.0, bad])
    for fn in core.ADVANTAGE_ESTIMATORS.values():
        with pytest.raises(ValueError, match=r"samples \[1, 3\]"):
            fn(r, torch.tensor([0, 0, 1, 1]))


def test_mismatched_group_ids():
    with pytest.raises(ValueError, match="group_ids has shape"):
        core.grpo_advantages(t([0.0, 1.0]), torch.tensor([0, 0, 0]))


# -- clipped loss -------------------------------------------------------------------------
# old_logp = 0, logp = log ρ; clip_low .2, clip_high .28, clip_ratio_c 3.
#   A=+1 ρ=1.5: max(-1.5, -1.28) = -1.28   (clipped above, no gradient)
#   A=+1 ρ=0.5: max(-0.5, -0.8)  = -0.5    (not clipped: gradient -A·ρ = -0.5)
#   A=-1 ρ=0.5: max(0.5, 0.8)    = 0.8     (clipped below, no gradient)
#   A=-1 ρ=1.5: max(1.5, 1.28)   = 1.5     (not clipped: gradient 1.5)
#   A=-1 ρ=5  : max(5, 1.28) = 5 -> dual clip min(5, 3·1) = 3 (no gradient)
#   A=+2 ρ=1.1: -2.2 both sides  (gradient -2.2)
RATIOS = [1.5, 0.5, 0.5, 1.5, 5.0, 1.1]
ADVS = [1.0, 1.0, -1.0, -1.0, -1.0, 2.0]


def _clip(clip_ratio_c):
    logp = torch.log(t([RATIOS])).requires_grad_()
    mask = torch.ones(1, 6, dtype=torch.bool)
    loss, info = core.clipped_policy_loss(
        logp,
        torch.zeros(1, 6, dtype=F64),
        t([ADVS]),
        mask,
        clip_low=0.2,
        clip_high=0.28,
        clip_ratio_c=clip_ratio_c,
    )
    loss.sum().backward()
    return loss, info, logp.grad


def test_clipped_loss_both_sides_and_dual_clip():
    loss, info, grad = _clip(3.0)
    assert loss[0].tolist() == pytest.approx([-1.28, -0.5, 0.8, 1.5, 3.0, -2.2], abs=1e-12)
    assert grad[0].tolist() == pytest.approx([0.0, -0.5, 0.0, 1.5, 0.0, -2.2], abs=1e-12)
    assert info["clipped"][0].tolist() == [1, 0, 1, 0, 0, 0]
    assert info["dual_clipped"][0].tolist() == [0, 0, 0, 0, 1, 0]


def test_clipped_loss_without_dual_clip():
    loss, _, grad = _clip(None)
    assert loss[0, 4].item() == pytest.approx(5.0)
    assert grad[0, 4].item() == pytest.approx(5.0)  # d(-A·ρ)/dlogρ = ρ = 5


# -- aggregation --------------------------------------------------------------------------
# loss rows (mask): [1 2 3 | 4 masked], [5 6 | masked], [all masked]; NaN on masked cells.
NAN = float("nan")
LOSS_MAT = t([[1, 2, 3, NAN], [5, 6, NAN, 0], [NAN, NAN, 9, 9]])
MASK = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)


@pytest.mark.parametrize(
    "mode, scale, expected",
    [
        ("token-mean", None, 17 / 5),  # (1+2+3+5+6) / 5 tokens
        ("seq-mean-token-sum", None, 8.5),  # (6 + 11) / 2 non-empty rows
        ("seq-mean-token-mean", None, 3.75),  # (6/3 + 11/2) / 2
        # verl's agg_loss: Σ of the row sums / T, no mean over rows: (6 + 11 + 0) / 4
        ("seq-mean-token-sum-norm", None, 4.25),
        ("seq-mean-token-sum-norm", 10.0, 1.7),  # 17 / loss_scale_factor
    ],
)
def test_aggregation_modes(mode, scale, expected):
    assert core.aggregate(LOSS_MAT, MASK, mode, scale).item() == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("mode", core.LOSS_AGG_MODES)
def test_all_zero_mask_aggregates_to_zero(mode):
    out = core.aggregate(LOSS_MAT, torch.zeros_like(MASK), mode)
    assert out.item() == 0.0


def test_unknown_aggregation_lists_modes():
    with pytest.raises(ValueError, match="seq-mean-token-sum-norm"):
        core.aggregate(LOSS_MAT, MASK, "mean")


# -- KL -----------------------------------------------------------------------------------


def test_k1_and_k3():
    logp, ref = t([-1.0, -2.0]), t([-2.0, -1.0])
    assert core.kl_k1(logp, ref).tolist() == pytest.approx([1.0, -1.0])
    # x = ref - logp: x=-1 -> e^-1 + 1 - 1 = 0.36787944 ; x=1 -> e - 1 - 1 = 0.71828183
    assert core.kl_k3(logp, ref).tolist() == pytest.approx(
        [0.36787944117144233, 0.7182818284590451], abs=1e-12
    )
    assert core.kl_k3(t([-3.0]), t([-3.0])).item() == 0.0


# -- DAPO pieces --------------------------------------------------------------------------


def test_overlong_penalty_piecewise():
    # L_max 10, L_cache 4 -> L_exp 6: 6 -> 0; 8 -> (6-8)/4 = -.5; 10 -> -1; 12 -> -1 (capped)
    pen = core.overlong_penalty(torch.tensor([0, 6, 7, 8, 10, 12]), 10, 4)
    assert pen.tolist() == pytest.approx([0.0, 0.0, -0.25, -0.5, -1.0, -1.0])
    assert core.overlong_penalty(torch.tensor([8]), 10, 4, penalty_factor=0.5).item() == pytest.approx(-0.25)


def test_zero_variance_groups_are_filtered():
    keep = core.nonzero_variance_groups(t([1, 1, 1, 0, 1, 0, 0.5]), torch.tensor([0, 0, 0, 1, 1, 1, 2]))
    assert keep.tolist() == [False, False, False, True, True, True, False]
