"""verl: its real AgentLoopWorker runs the mmsearch_gym loop; its registry computes the zoo's advantages."""

from __future__ import annotations

import asyncio
import os

import gymnasium as gym
import numpy as np
import pytest
import torch

pytest.importorskip("verl", reason="needs the verl extra (make test installs it)")

import algos  # noqa: E402
from algos import tiny  # noqa: E402
from algos.batch import NOT_FATAL  # noqa: E402
from algos.integrations.verl import register  # noqa: E402
from algos.rollout import ChatFormat, RolloutEngine, SamplingParams, ScriptedTextPolicy, load_tokenizer  # noqa: E402

PROMPT_LEN, RESPONSE_LEN = 4096, 8192


class Scripted:
    """A scripted agent: the oracle's first ``good`` turns, then unparseable turns (an error cascade)."""

    def __init__(self, good: int):
        self.good = good

    def act(self, env) -> str:
        base = env.unwrapped
        return base.oracle_action() if len(base.episode_record().turns) < self.good else "no tags at all"


class ReplayServer:
    """verl's LLM server client, replaying the turns of reference episodes by their token prefix."""

    def __init__(self, episodes):
        self.episodes = episodes
        self.calls = []

    async def generate(self, request_id, *, prompt_ids, sampling_params, image_data=None, **_):
        from verl.workers.rollout.replica import TokenOutput

        self.calls.append(sampling_params)
        for ep in self.episodes:
            for start, end in ep.spans:
                if start == len(prompt_ids) and ep.ids[:start] == list(prompt_ids):
                    return TokenOutput(token_ids=ep.ids[start:end], log_probs=[-0.5] * (end - start))
        raise AssertionError("no reference episode continues this prompt")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny.save_tiny_model(
        tmp_path_factory.mktemp("verl") / "tiny", "text", tokenizer=tiny.default_tokenizer(episodes=40),
        hidden=32, layers=1, heads=2,
    )  # fmt: skip


def _worker(model_dir, env_id, env_kwargs, server):
    import verl
    from hydra import compose, initialize_config_dir
    from verl.experimental.agent_loop.agent_loop import AgentLoopWorker

    register()
    config_dir = os.path.join(os.path.dirname(verl.__file__), "trainer/config")
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        cfg = compose("ppo_trainer", overrides=[
            f"actor_rollout_ref.model.path={model_dir}",
            "actor_rollout_ref.rollout.name=vllm",
            f"actor_rollout_ref.rollout.prompt_length={PROMPT_LEN}",
            f"actor_rollout_ref.rollout.response_length={RESPONSE_LEN}",
            "actor_rollout_ref.rollout.calculate_log_probs=true",
            "actor_rollout_ref.rollout.agent.default_agent_loop=mmsearch_gym",
            f"+mmsearch_gym.env_id={env_id}",
            f"+mmsearch_gym.env_kwargs={env_kwargs}",
            "+mmsearch_gym.max_new_tokens=600",
        ])  # fmt: skip
    return AgentLoopWorker(cfg, llm_client=server)


@pytest.mark.parametrize(
    ("env_id", "env_kwargs", "seeds", "agents"),
    [
        ("mmsearch_gym/Maze-v0", {"size": 3, "text_maze": True}, [5, 6], [Scripted(9), Scripted(1)]),
        ("mmsearch_gym/DeepSearch-v0", {}, [21, 22], [Scripted(99), Scripted(2)]),
    ],
)
def test_verl_agent_loop_batch_matches_our_rollout_engine(model_dir, env_id, env_kwargs, seeds, agents):
    tok = load_tokenizer(model_dir)
    envs = [gym.make(env_id, **env_kwargs) for _ in seeds]
    reference = [
        RolloutEngine(ScriptedTextPolicy(agent), SamplingParams(max_new_tokens=600), chat=ChatFormat(tok),
                      max_episode_tokens=PROMPT_LEN + RESPONSE_LEN).rollout([env], [seed])
        for env, seed, agent in zip(envs, seeds, agents)
    ]  # fmt: skip
    ref_tokens = [r.tokens[0] for r in reference]
    ref_records = [r.records[0] for r in reference]
    assert ref_records[1].fatal and ref_records[1].fatal_turn >= 1  # the cascade run is fatal
    server = ReplayServer(ref_tokens)
    worker = _worker(model_dir, env_id, str(env_kwargs).replace("'", ""), server)
    # AutoTokenizer (what verl loads) gives our ids: the saved tiny tokenizer is loaded as saved
    text = ref_records[0].messages[1]["content"]
    assert worker.tokenizer(text)["input_ids"] == tok(text)["input_ids"]

    from verl.protocol import DataProto

    batch = DataProto.from_dict(non_tensors={
        "raw_prompt": np.array([[{"role": "user", "content": "unused"}]] * len(seeds), dtype=object),
        "index": np.arange(len(seeds)),
        "extra_info": np.array([{"mmsearch_gym": {"seed": s}} for s in seeds], dtype=object),
    })  # fmt: skip
    out = asyncio.new_event_loop().run_until_complete(worker.generate_sequences(batch))
    prompts, responses = out.batch["prompts"], out.batch["responses"]
    attention, mask = out.batch["attention_mask"], out.batch["response_mask"]
    for row, (ep, rec) in enumerate(zip(ref_tokens, ref_records, strict=True)):
        n_prompt = int(attention[row, :PROMPT_LEN].sum())
        n_resp = int(attention[row, PROMPT_LEN:].sum())
        ids = prompts[row, PROMPT_LEN - n_prompt :].tolist() + responses[row, :n_resp].tolist()
        assert ids == ep.ids  # the same token sequence, prompt and response split where the first turn starts
        assert n_prompt == ep.spans[0][0]
        assert mask[row, :n_resp].bool().tolist() == ep.response_mask[n_prompt:]
        assert int(mask[row, n_resp:].sum()) == 0
        assert out.non_tensor_batch["turn_index"][row] == ep.turn_index[n_prompt:]
        fatal = out.non_tensor_batch["fatal_turn"][row]
        assert fatal == (NOT_FATAL if rec.fatal_turn is None else rec.fatal_turn)
        assert float(out.batch["rm_scores"][row].sum()) == pytest.approx(rec.reward)
        lp = out.batch["rollout_log_probs"][row, :n_resp]
        assert torch.equal(lp != 0, mask[row, :n_resp].bool())  # sampled tokens carry the server's log-probs
    assert all(c["max_tokens"] <= 600 and c["stop_token_ids"] for c in server.calls)
    for env in envs:
        env.close()


def _verl_batch():
    """A batch in verl's layout: responses [B, T] with 2-3 turns, groups of 4, fatal episodes."""
    g = torch.Generator().manual_seed(0)
    B, T = 8, 32
    mask = torch.zeros(B, T, dtype=torch.long)
    turn_index = []
    lengths = [6, 5, 4, 7, 3, 6, 5, 4]
    for b, n in enumerate(lengths):
        rows, t, k = [-1] * T, 0, 0
        for _ in range(3 if b % 2 else 2):
            mask[b, t : t + n] = 1
            rows[t : t + n] = [k] * n
            t, k = t + n + 2, k + 1
        turn_index.append(rows)
    rewards = torch.rand(B, generator=g).round(decimals=1)
    last = mask.shape[1] - 1 - mask.flip(1).argmax(dim=1)
    token_level = torch.zeros(B, T)
    token_level[torch.arange(B), last] = rewards
    fatal = [NOT_FATAL, 1, NOT_FATAL, 0, 2, NOT_FATAL, 1, NOT_FATAL]
    rows = [
        {"fatal_turn": f, "n_valid_tool_calls": b % 3, "reward_components": {"accuracy": float(rewards[b])}}
        for b, f in enumerate(fatal)
    ]
    return token_level, mask, np.array(["p0"] * 4 + ["p1"] * 4, dtype=object), rows, turn_index


def test_verl_registry_computes_the_zoos_fatal_grpo():
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn, get_policy_loss_fn

    register()
    token_level, mask, uid, rows, turn_index = _verl_batch()
    fn = get_adv_estimator_fn("fatal_grpo")
    non_tensor = {"extra_fields": np.array(rows, dtype=object)}
    adv, returns = fn(token_level_rewards=token_level, response_mask=mask, index=uid, config=None,
                      non_tensor_batch=non_tensor)  # fmt: skip

    ours = algos.make("fatal_grpo")
    batch = algos.EpisodeBatch(
        input_ids=torch.zeros_like(mask), response_mask=mask.bool(), group_ids=torch.tensor([0] * 4 + [1] * 4),
        rewards=token_level.sum(-1), turn_index=torch.tensor(turn_index), fatal_turn=torch.tensor([r["fatal_turn"] for r in rows]),
    )  # fmt: skip
    expected, loss_mask = ours.compute_advantages(batch)
    torch.testing.assert_close(adv, expected)
    assert torch.equal(returns, adv)
    assert not loss_mask[3].any() and bool((adv[3] == 0).all())  # f = 0: dropped
    assert bool((adv[[1, 4, 6]] >= 0).all())  # flagged: clamped at 0
    # turn_index written by the loop and the one derived from the mask agree
    with_turns = [dict(r, turn_index=t) for r, t in zip(rows, turn_index)]
    adv2, _ = fn(token_level_rewards=token_level, response_mask=mask, index=uid,
                 non_tensor_batch={"extra_fields": np.array(with_turns, dtype=object)})  # fmt: skip
    torch.testing.assert_close(adv2, expected)
    # zoo options from the verl config; missing fatal turns are an error, not plain RLOO
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"algos": {"estimator": "grpo", "clamp_fatal": False}})
    adv3, _ = fn(token_level_rewards=token_level, response_mask=mask, index=uid, config=cfg, non_tensor_batch=non_tensor)
    expected3, _ = algos.make("fatal_grpo", estimator="grpo", clamp_fatal=False).compute_advantages(batch)
    torch.testing.assert_close(adv3, expected3)
    with pytest.raises(ValueError, match="fatal_turn"):
        fn(token_level_rewards=token_level, response_mask=mask, index=uid, config=None)

    # the zoo's clipped loss under verl's loss contract equals algos' compute_loss
    logp = -torch.rand(mask.shape, generator=torch.Generator().manual_seed(1))
    old = logp + 0.3 * torch.randn(mask.shape, generator=torch.Generator().manual_seed(2))
    actor = OmegaConf.create({"clip_ratio": 0.2, "clip_ratio_low": 0.2, "clip_ratio_high": 0.28, "clip_ratio_c": 3.0,
                              "global_batch_info": {}})  # fmt: skip
    loss, metrics = get_policy_loss_fn("clipped")(old_log_prob=old, log_prob=logp, advantages=adv,
                                                  response_mask=loss_mask, loss_agg_mode="seq-mean-token-sum",
                                                  config=actor)  # fmt: skip
    batch.old_logp = old
    our_loss, our_metrics = algos.make("fatal_grpo", kl_coef=0.0).compute_loss(logp, batch, adv, loss_mask)
    torch.testing.assert_close(loss, our_loss)
    assert metrics["actor/pg_clipfrac"] == pytest.approx(our_metrics["pg_clipfrac"])


def test_verl_plugin_registers_in_a_fresh_process():
    """``import verl`` alone loads our entry point: the registries know the zoo and the loop."""
    import subprocess
    import sys

    code = (
        "import verl\n"
        "from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY, POLICY_LOSS_REGISTRY\n"
        "from verl.experimental.agent_loop.agent_loop import _agent_loop_registry\n"
        "print(sorted(k for k in ('fatal_grpo', 'at_grpo', 'trust_grpo', 'reagent_r', 'reagent_u') if k in ADV_ESTIMATOR_REGISTRY),"
        " 'clipped' in POLICY_LOSS_REGISTRY, 'mmsearch_gym' in _agent_loop_registry)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240, check=True).stdout
    assert out.strip().splitlines()[-1] == "['at_grpo', 'fatal_grpo', 'reagent_r', 'reagent_u', 'trust_grpo'] True True"
