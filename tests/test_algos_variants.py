"""Paper variants pinned with hand-computed numbers: fatal_grpo, at_grpo, trust_grpo, dapo, reagent_r/u."""

import math

import pytest
import torch

import algos
from algos import EpisodeBatch
from mmsearch_gym.core.failures import fatal_turn
from mmsearch_gym.core.record import EpisodeRecord, TurnRecord


def flat(t):
    return t.flatten().tolist()


def simple_batch(rewards, groups, mask=None, **kw):
    B = len(rewards)
    mask = torch.ones(B, 1, dtype=torch.bool) if mask is None else torch.tensor(mask, dtype=torch.bool)
    return EpisodeBatch(
        input_ids=torch.zeros(mask.shape, dtype=torch.long),
        response_mask=mask,
        group_ids=torch.tensor(groups),
        rewards=torch.tensor(rewards, dtype=torch.float32),
        **kw,
    )


# -- fatal_grpo ---------------------------------------------------------------------------
# One prompt, four episodes, four assistant turns max. Token layout per episode:
#   pos: 0 prompt | 1 turn0 | 2 tool | 3 turn1 | 4 tool | 5 turn2 | 6 tool | 7 turn3
# s0 answers cleanly                     -> not fatal, reward 1.0
# s1 errors at turns 1,2,3 (K=3)         -> f = 1, env reward 0.2 (from turn 0 only)
# s2 errors at turns 0,1,2 (ends there)  -> f = 0, env reward 0.5 -> forced to 0, dropped
# s3 one error at turn 1, never answers  -> f = 4 = number of turns (all kept), reward 0.6
def _record(errors, answered, reward):
    turns = [
        TurnRecord(
            turn=i, action="a", kind="tool_call", well_formed=not e, step_error="tool_failed" if e else None
        )
        for i, e in enumerate(errors)
    ]
    f = fatal_turn(errors, answered)
    return EpisodeRecord(
        env_id="e", task_id="q", seed=0, turns=turns, fatal=f is not None, fatal_turn=f, reward=reward
    )


def fatal_batch():
    records = [
        _record([False, False, False, False], True, 1.0),
        _record([False, True, True, True], False, 0.2),
        _record([True, True, True], False, 0.5),
        _record([False, True, False, False], False, 0.6),
    ]
    assert [r.fatal_turn for r in records] == [None, 1, 0, 4]
    turn = torch.tensor([-1, 0, -1, 1, -1, 2, -1, 3]).repeat(4, 1)
    attention = torch.ones(4, 8, dtype=torch.bool)
    attention[2, 6:] = False  # s2 stopped after three turns
    turn[2, 6:] = -1
    ids = torch.zeros(4, 8, dtype=torch.long)
    return EpisodeBatch.from_records(
        records, ids, turn >= 0, turn, attention_mask=attention, ref_logp=torch.zeros(4, 8)
    )


def test_fatal_grpo_mask_clamp_and_drop():
    b = fatal_batch()
    algo = algos.make("fatal_grpo")
    assert algo.shape_rewards(b).tolist() == pytest.approx([1.0, 0.2, 0.0, 0.6])
    adv, mask = algo.compute_advantages(b)
    # RLOO over all four, rewards 1, .2, 0, .6 (sum 1.8):
    #   s0: 1 - .8/3 = .733333   s1: .2 - 1.6/3 = -.333333 -> clamped to 0
    #   s2: 0 - 1.8/3 = -.6 -> 0 (and dropped)   s3: .6 - 1.2/3 = .2 (flagged but positive: kept)
    a0, a3 = 1 - 0.8 / 3, 0.2
    assert mask.int().tolist() == [
        [0, 1, 0, 1, 0, 1, 0, 1],  # clean: every turn
        [0, 1, 0, 0, 0, 0, 0, 0],  # f = 1: only turn 0
        [0, 0, 0, 0, 0, 0, 0, 0],  # f = 0: dropped
        [0, 1, 0, 1, 0, 1, 0, 1],  # f = 4: all turns kept
    ]
    assert flat(adv) == pytest.approx(
        [0, a0, 0, a0, 0, a0, 0, a0] + [0] * 16 + [0, a3, 0, a3, 0, a3, 0, a3], abs=1e-6
    )

    # Loss, on-policy (ratio 1), seq-mean-token-sum over the 3 non-empty rows, KL 0 (ref = logp):
    #   row sums -4·a0, 0, -4·a3 -> (-2.933333 - .8) / 3 = -1.244444
    loss, m = algo.compute_loss(torch.zeros(4, 8), b, adv, mask)
    assert loss.item() == pytest.approx((-4 * a0 - 4 * a3) / 3, abs=1e-6)
    assert m["n_loss_samples"] == 3


def test_fatal_grpo_options():
    b = fatal_batch()
    no_clamp = algos.make("fatal_grpo", clamp_fatal=False)
    adv, _ = no_clamp.compute_advantages(b)
    assert adv[1, 1].item() == pytest.approx(0.2 - 1.6 / 3, abs=1e-6)  # -.333333 survives

    grpo = algos.make("fatal_grpo", estimator="grpo")
    adv, _ = grpo.compute_advantages(b)
    # mean .45, deviations .55 -.25 -.45 .15, Σdev² = .59, std = √(.59/3) = .4434712
    assert [adv[i, 1].item() for i in range(4)] == pytest.approx(
        [0.55 / 0.4434712, 0.0, 0.0, 0.15 / 0.4434712], rel=1e-5
    )

    dropped = algos.make("fatal_grpo", drop_from_group=True)
    adv, _ = dropped.compute_advantages(b)
    # s2 leaves the group: RLOO over 1, .2, .6 (sum 1.8): s0 1 - .4 = .6 ; s1 -.6 -> 0 ; s3 .6 - .6 = 0
    assert [adv[i, 1].item() for i in range(4)] == pytest.approx([0.6, 0.0, 0.0, 0.0], abs=1e-6)

    unmasked = algos.make("fatal_grpo", mask_fatal=False)
    _, mask = unmasked.compute_advantages(b)
    assert torch.equal(mask, b.response_mask)


# -- at_grpo ------------------------------------------------------------------------------


def test_at_grpo_tool_benefit_term_at_0_6_12_tools():
    # α·ΔS·exp(-γ((n-6)/6)²) with α .6, γ 2, ΔS .5: n=0,12 -> .3·e^-2 = .0406006 ; n=6 -> .3
    # ΔS = -.5 at n=6 -> -.3
    b = simple_batch(
        [1.0, 1.0, 1.0, 0.0],
        [0, 0, 0, 0],
        n_valid_tool_calls=torch.tensor([0, 6, 12, 6]),
        tool_benefit=torch.tensor([0.5, 0.5, 0.5, -0.5]),
    )
    shaped = algos.make("at_grpo").shape_rewards(b)
    assert shaped.tolist() == pytest.approx([1.0406005849709838, 1.3, 1.0406005849709838, -0.3], abs=1e-6)
    shaped = algos.make("at_grpo", alpha=1.0, gamma=1.0, n_max=3).shape_rewards(b)
    # n=0: (−1)² -> e^-1 ; n=6: 1² -> e^-1 ; n=12: 3² -> e^-9
    assert shaped.tolist() == pytest.approx(
        [1 + 0.5 / math.e, 1 + 0.5 / math.e, 1 + 0.5 * math.exp(-9), -0.5 / math.e], abs=1e-6
    )


def test_at_grpo_needs_tool_benefit():
    with pytest.raises(ValueError, match="at_grpo needs each sample's Tool Benefit Score.*data tool-benefit"):
        algos.make("at_grpo").shape_rewards(simple_batch([1.0], [0]))


# -- trust_grpo ---------------------------------------------------------------------------
# g0: R_o 1, 0, 1, .3 ; R_t .2, .9, .4, .8 -> R_o=0 is not queried: R_t .2, 0, .4, .8
#     correct (R_o>=.5): s0, s2 -> μ_c = .3 ; incorrect s1, s3 -> μ_i = (0 + .8)/2 = .4
#     μ_c < μ_i -> γ = e^{-.1} = .9048374
# g1: R_o 1, 0, .6 ; R_t .9, .1, .5 -> R_t .9, 0, .5 ; μ_c .7 >= μ_i 0 -> γ = 1
# g2: R_o .95, 1.0 (all >= .9) -> gated, R = R_o
# g3: R_o 0, .1 (all <= .1)    -> gated, R = R_o
# g4: R_o .3, .4, no correct member -> γ = 1 ; R_t .6, .2 both queried
RULE = [1, 0, 1, 0.3, 1, 0, 0.6, 0.95, 1.0, 0.0, 0.1, 0.3, 0.4]
THINK = [0.2, 0.9, 0.4, 0.8, 0.9, 0.1, 0.5, 0.1, 0.8, 1.0, 1.0, 0.6, 0.2]
GROUPS = [0, 0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 4]


def test_trust_grpo_gating_trust_and_annealing():
    b = simple_batch(RULE, GROUPS, thinking_reward=torch.tensor(THINK))
    algo = algos.make("trust_grpo", anneal_steps=500, step_offset=0)  # the class default T, steps from 0
    g = math.exp(-0.1)
    for step, f in ((0, 1.0), (500, math.exp(-1))):
        w = 0.3 * f  # α · exp(-step / T)
        expected = [
            1 + w * g * 0.2,
            0.0,
            1 + w * g * 0.4,
            0.3 + w * g * 0.8,
            1 + w * 0.9,
            0.0,
            0.6 + w * 0.5,
            0.95,
            1.0,
            0.0,
            0.1,
            0.3 + w * 0.6,
            0.4 + w * 0.2,
        ]
        assert algo.shape_rewards(b, step=step).tolist() == pytest.approx(expected, abs=1e-6)
    # step 0 literal values: g0 = 1.0542902, 0, 1.1085805, .5171610 ; g1 = 1.27, 0, .75
    assert algo.shape_rewards(b, step=0)[:7].tolist() == pytest.approx(
        [1.0542902, 0.0, 1.1085805, 0.5171610, 1.27, 0.0, 0.75], abs=1e-6
    )
    # step 500: g0[0] = 1 + .3·e^-1·e^-.1·.2 = 1.0199723
    assert algo.shape_rewards(b, step=500)[0].item() == pytest.approx(1.0199723, abs=1e-6)


def test_trust_weights_gamma():
    from algos.trust_grpo import trust_weights

    gamma, r_t = trust_weights(torch.tensor(RULE), torch.tensor(THINK), torch.tensor(GROUPS))
    assert gamma[:4].tolist() == pytest.approx([math.exp(-0.1)] * 4, abs=1e-6)
    assert gamma[4:7].tolist() == [1.0] * 3 and gamma[11:].tolist() == [1.0, 1.0]
    assert r_t.tolist() == pytest.approx([0.2, 0, 0.4, 0.8, 0.9, 0, 0.5, 0, 0, 0, 0, 0.6, 0.2], abs=1e-6)


# -- dapo ---------------------------------------------------------------------------------


def test_dapo_overlong_penalty_and_group_filter():
    # L_max 10, L_cache 4: lengths 6, 8, 10, 12 -> penalties 0, -.5, -1, -1
    mask = [[1] * n + [0] * (12 - n) for n in (6, 8, 10, 12)] + [[1] * 3 + [0] * 9] * 2
    b = simple_batch([1.0, 1.0, 1.0, 1.0, 0.0, 0.0], [0, 0, 0, 0, 1, 1], mask)
    algo = algos.make("dapo", max_response_length=10, overlong_buffer_len=4)
    assert algo.shape_rewards(b).tolist() == pytest.approx([1.0, 0.5, 0.0, 0.0, 0.0, 0.0])
    _, loss_mask = algo.compute_advantages(b)
    # group 1 (two equal rewards) is filtered out of the loss; group 0 now varies and stays
    assert loss_mask.any(dim=1).tolist() == [True, True, True, True, False, False]
    keep = algos.make("dapo", max_response_length=10, overlong_buffer_len=4, filter_groups=False)
    assert keep.compute_advantages(b)[1].any(dim=1).all()
    assert algo.config.clip_high == 0.28 and algo.config.loss_agg_mode == "token-mean"


# -- reagent ------------------------------------------------------------------------------


def test_reagent_r_sum():
    # R = R_rule + .3·score : 1 + .15, 0 + .24, .6667 + 0
    b = simple_batch([1.0, 0.0, 2 / 3], [0, 0, 0], rrm_score=torch.tensor([0.5, 0.8, 0.0]))
    assert algos.make("reagent_r").shape_rewards(b).tolist() == pytest.approx([1.15, 0.24, 2 / 3], abs=1e-6)
    assert algos.make("reagent_r", lam=1.0).shape_rewards(b).tolist() == pytest.approx(
        [1.5, 0.8, 2 / 3], abs=1e-6
    )


def test_reagent_rule_reward():
    from algos.reagent import rule_reward

    assert rule_reward("The Paris.", "paris") == 1.0  # normalised exact match
    # pred tokens eiffel tower in paris vs eiffel tower: P = 2/4, R = 1 -> F1 = 2/3
    assert rule_reward("the Eiffel Tower in Paris", ["Louvre", "Eiffel Tower"]) == pytest.approx(2 / 3)
    # 1 of 7 tokens: P = 1/7, R = 1 -> F1 = .25 < .3 -> 0
    assert rule_reward("one two three four five six house", "house") == 0.0
    # 1 of 5 tokens: F1 = 2·.2/1.2 = .3333 >= .3 -> kept
    assert rule_reward("big red house near lake", "house") == pytest.approx(1 / 3)
    assert rule_reward(None, "x") == 0.0


def test_reagent_u_pooling():
    # prompt 0: initial rewards 0, 0 ; refined 1, 0 ; rrm_score 0.
    b = simple_batch(
        [0.0, 0.0, 1.0, 0.0],
        [0, 0, 0, 0],
        rrm_score=torch.zeros(4),
        refined=torch.tensor([False, False, True, True]),
    )
    pooled = algos.make("reagent_u", eps=0.0).compute_advantages(b)[0]
    # pooled: mean .25, std .5 -> -.5 -.5 1.5 -.5
    assert flat(pooled) == pytest.approx([-0.5, -0.5, 1.5, -0.5])
    separate = algos.make("reagent_u", pooling="separate", eps=0.0).compute_advantages(b)[0]
    # initial group all equal -> 0 ; refined group 1, 0: mean .5, std √.5 -> ±.7071068
    assert flat(separate) == pytest.approx([0.0, 0.0, 0.7071068, -0.7071068], abs=1e-6)
    with pytest.raises(ValueError, match="needs batch.refined"):
        algos.make("reagent_u", pooling="separate").compute_advantages(
            simple_batch([0.0, 1.0], [0, 0], rrm_score=torch.zeros(2))
        )
