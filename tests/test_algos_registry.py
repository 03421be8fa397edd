"""Registry behaviour, config validation, Reagent-C, and every algorithm end to end."""

from dataclasses import dataclass

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import algos
from algos import EpisodeBatch
from algos.reagent import ReagentC, two_stage_sample
from algos.reward_models import RewardModelOutput, RuleRewardModel

TRAINABLE = [
    "at_grpo",
    "dapo",
    "dr_grpo",
    "fatal_grpo",
    "grpo",
    "reagent_r",
    "reagent_u",
    "rloo",
    "trust_grpo",
]


def test_available_names():
    assert algos.available() == sorted([*TRAINABLE, "reagent_c"])
    assert all(callable(getattr(algos.make(n), "compute_loss", None)) for n in TRAINABLE)


def test_make_with_options():
    algo = algos.make("fatal_grpo", clip_high=0.3, estimator="grpo")
    assert algo.config.clip_high == 0.3 and algo.config.estimator == "grpo"
    assert algo.config.kl_coef == 0.0 and algo.config.loss_agg_mode == "seq-mean-token-sum"
    assert algos.options("at_grpo")["alpha"] == 0.6


def test_unknown_names_and_options_list_valid_ones():
    with pytest.raises(ValueError, match=r"unknown algorithm 'ppo'; available: at_grpo, dapo"):
        algos.make("ppo")
    with pytest.raises(
        TypeError,
        match=r"unknown option\(s\) \['clip'\] for algorithm 'grpo'; valid options: clip_low, clip_high",
    ):
        algos.make("grpo", clip=0.2)


@pytest.mark.parametrize(
    "name, cfg, message",
    [
        ("grpo", dict(loss_agg_mode="mean"), "token-mean, seq-mean-token-sum"),
        ("grpo", dict(kl_estimator="k2"), "known: k1, k3"),
        ("grpo", dict(scale_rewards="token"), "scale_rewards must be one of"),
        ("grpo", dict(clip_ratio_c=0.5), "clip_ratio_c must be > 1"),
        ("fatal_grpo", dict(estimator="ppo"), "unknown advantage estimator 'ppo'; known: dr_grpo, grpo, rloo"),
        ("reagent_u", dict(pooling="mix"), "pooling must be one of"),
        ("dapo", dict(overlong_buffer_len=0), "overlong_buffer_len"),
        ("reagent_c", dict(feedback_template="no slot"), "{critique}"),
    ],
)
def test_bad_option_values(name, cfg, message):
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("}", r"\}")):
        algos.make(name, **cfg)


def test_register_a_new_algorithm(monkeypatch):
    monkeypatch.setattr(
        algos.registry, "_REGISTRY", dict(algos.registry._REGISTRY)
    )  # keep the real one clean

    @dataclass(kw_only=True)
    class HalfConfig(algos.GroupNormConfig):
        factor: float = 0.5

    @algos.register("test_half_reward")
    class Half(algos.Algorithm):
        config_cls = HalfConfig

        def shape_rewards(self, batch, *, step=0):
            return batch.rewards * self.config.factor

    algo = algos.make("test_half_reward", factor=0.25)
    assert isinstance(algo, Half) and algo.name == "test_half_reward"
    with pytest.raises(ValueError, match="already registered"):
        algos.register("test_half_reward")(type("Other", (algos.Algorithm,), {}))


def _random_batch(rewards, groups, lengths, T, seed):
    g = torch.Generator().manual_seed(seed)
    B = len(rewards)
    pos = torch.arange(T)[None, :]
    mask = pos < torch.tensor(lengths)[:, None]
    turns = torch.where(mask, pos // 3, -1)
    return EpisodeBatch(
        input_ids=torch.randint(0, 50, (B, T), generator=g),
        response_mask=mask,
        turn_index=turns,
        group_ids=torch.tensor(groups),
        rewards=torch.tensor(rewards, dtype=torch.float32),
        fatal_turn=torch.tensor([(-1 if i % 3 else i % 4) for i in range(B)]),
        n_valid_tool_calls=torch.tensor([i % 7 for i in range(B)]),
        tool_benefit=torch.rand(B, generator=g) - 0.5,
        thinking_reward=torch.rand(B, generator=g),
        rrm_score=torch.rand(B, generator=g),
        refined=torch.tensor([i % 2 == 1 for i in range(B)]),
        old_logp=-torch.rand(B, T, generator=g),
        ref_logp=-torch.rand(B, T, generator=g),
    )


@settings(max_examples=25, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.sampled_from([0.0, 0.5, 1.0, 0.2]), st.integers(0, 3), st.integers(0, 12)),
        min_size=1,
        max_size=12,
    ),
    name=st.sampled_from(TRAINABLE),
    seed=st.integers(0, 1000),
)
def test_every_algorithm_gives_finite_loss_and_grads(data, name, seed):
    rewards, groups, lengths = zip(*data, strict=True)
    b = _random_batch(list(rewards), list(groups), list(lengths), 12, seed)
    algo = algos.make(name, kl_coef=0.01)
    adv, mask = algo.compute_advantages(b, step=3)
    assert not (adv.ne(0) & ~mask).any()  # advantages live on the loss mask only
    assert not (mask & ~b.response_mask).any()
    logp = (b.old_logp + 0.05 * torch.randn(b.old_logp.shape)).requires_grad_()
    loss, metrics = algo.compute_loss(logp, b, adv, mask)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logp.grad).all()
    assert (logp.grad[~mask] == 0).all()
    assert all(isinstance(v, float) for v in metrics.values())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", TRAINABLE)
def test_cuda_matches_cpu(name):
    rewards, groups = [1.0, 0.0, 0.5, 0.5, 0.2, 1.0, 0.0, 0.0], [0, 0, 0, 1, 1, 1, 2, 2]
    b = _random_batch(rewards, groups, [12, 7, 0, 3, 12, 9, 5, 1], 12, seed=0)
    noise = 0.3 * torch.randn(b.old_logp.shape, generator=torch.Generator().manual_seed(1))
    algo = algos.make(name, kl_coef=0.01)
    results = []
    for device in ("cpu", "cuda"):
        bd = b.to(device)
        adv, mask = algo.compute_advantages(bd, step=7)
        logp = (bd.old_logp + noise.to(device)).requires_grad_()
        loss, metrics = algo.compute_loss(logp, bd, adv, mask)
        loss.backward()
        results.append((adv.cpu(), mask.cpu(), loss.detach().cpu(), logp.grad.cpu(), metrics))
    (a0, m0, l0, g0, x0), (a1, m1, l1, g1, x1) = results
    assert torch.equal(m0, m1)
    torch.testing.assert_close(a1, a0)
    torch.testing.assert_close(l1, l0)
    torch.testing.assert_close(g1, g0)
    assert x0.keys() == x1.keys() and all(x1[k] == pytest.approx(x0[k], rel=1e-5, abs=1e-6) for k in x0)


# -- Reagent-C ----------------------------------------------------------------------------


class ScriptedRRM:
    def __init__(self, out):
        self.out, self.calls = out, []

    def score(self, question, trajectory):
        self.calls.append((question, trajectory))
        return self.out


def test_reagent_c_refines_with_the_critique():
    seen = []

    def policy(messages):
        seen.append(messages)
        return f"answer {len(seen)}"

    rrm = ScriptedRRM(RewardModelOutput(0.3, "Check the date.", "..."))
    r = algos.make("reagent_c").refine(policy, rrm, "When?")
    assert (r.first, r.second, r.refined) == ("answer 1", "answer 2", True)
    assert rrm.calls == [("When?", "answer 1")]  # as released: the question and the final response
    assert seen[1][:2] == [{"role": "user", "content": "When?"}, {"role": "assistant", "content": "answer 1"}]
    assert seen[1][2]["role"] == "user" and "Check the date." in seen[1][2]["content"]
    rrm = ScriptedRRM(RewardModelOutput(0.3, "Check the date.", "..."))
    algos.make("reagent_c", rrm_input="trajectory").refine(policy, rrm, "When?")  # the whole chat, as an option
    assert rrm.calls == [("When?", [{"role": "user", "content": "When?"}, {"role": "assistant", "content": "answer 3"}])]


def test_reagent_c_with_a_text_policy_and_a_malformed_critique():
    prompts = []
    refiner = algos.make("reagent_c", policy_input="prompt")
    bad = ScriptedRRM(RewardModelOutput(0.0, "", "", valid=False, error="malformed"))
    r = refiner.refine(lambda p: prompts.append(p) or "o1", bad, "Q?")
    assert (r.second, r.refined, len(prompts)) == ("o1", False, 1)  # no second call
    assert prompts[0] == "[user]\nQ?"
    with pytest.raises(TypeError, match="must return text"):
        refiner.refine(lambda p: None, bad, "Q?")


def test_reagent_c_with_the_rule_rrm_and_two_stage_sampling():
    outs = iter(["<think>a</think><answer>x</answer>", "<think>b</think><tool_call>{}</tool_call>", "c", "d"])
    rollouts = two_stage_sample(
        lambda m: next(outs), RuleRewardModel(), "Name the river", n_initial=2, n_refined=2
    )
    assert [r["refined"] for r in rollouts] == [False, False, True, True]
    assert [r["text"] for r in rollouts] == [
        "<think>a</think><answer>x</answer>",
        "<think>b</think><tool_call>{}</tool_call>",
        "c",
        "d",
    ]
    assert algos.reagent.refined_flags(rollouts).tolist() == [False, False, True, True]
    with pytest.raises(ValueError, match="n_refined <= n_initial"):
        two_stage_sample(lambda m: "", RuleRewardModel(), "q", 1, 2)
    assert isinstance(ReagentC(), ReagentC)
