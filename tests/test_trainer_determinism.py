"""Same config and seed -> the same run: tokens sampled, metrics and final weights; and a sampled
held-out evaluation neither changes what training samples next nor depends on when it runs."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from algos import tiny
from algos.fatal_grpo import FatalGRPO, FatalGRPOConfig
from algos.trainer import Trainer, from_dict


class EvenTokenFatalGRPO(FatalGRPO):
    """fatal_grpo on a dense test reward (share of even ids among the sampled tokens): a tiny random
    model never solves the env, and a zero reward everywhere would leave the RL update untested."""

    def shape_rewards(self, batch, *, step=0):
        resp = batch.response_mask
        return ((batch.input_ids % 2 == 0) & resp).sum(1).float() / resp.sum(1).clamp(min=1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    tok = tiny.default_tokenizer(episodes=40)
    path = tmp_path_factory.mktemp("m") / "model"
    return tiny.save_tiny_model(path, "text", tokenizer=tok, hidden=32, layers=1, heads=2)


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run(model_dir, out, sampled=1, seed=3):
    cfg = from_dict(
        {
            "env": "mmsearch_gym/MazeWalk-v0",
            "model": str(model_dir),
            "out_dir": str(out),
            "seed": seed,
            "ref_model": None,
            "env_kwargs": {"size": 2, "max_turns": 4, "split": "train", "oracle_error_rate": 0.3},
            "rollout": {"tasks_per_step": 2, "group_size": 2, "max_new_tokens": 40, "temperature": 1.0},
            "sft": {"steps": 2, "episodes": 4, "batch_size": 2, "lr": 1e-2},
            "rl": {"steps": 2, "lr": 1e-2},
            "eval": {"episodes": 2, "sampled": sampled, "env_kwargs": {"split": "test"}, "every": 1},
            "logging": {"tensorboard": False, "progress": False, "plot": False},
        }
    )
    algo = EvenTokenFatalGRPO(FatalGRPOConfig(kl_coef=0.0, clamp_fatal=False, mask_fatal=False))
    Trainer(cfg, algorithm=algo).fit()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    for r in rows:  # clocks differ between runs; everything else must not
        r.pop("wall_time")
        for k in [k for k in r if k.startswith("time_")]:
            r.pop(k)
    return rows, load_file(out / "final" / "model.safetensors")


def test_same_seed_same_run_and_eval_does_not_steer_training(model_dir, tmp_path):
    rows_a, weights_a = run(model_dir, tmp_path / "a")
    rows_b, weights_b = run(model_dir, tmp_path / "b")
    assert rows_a == rows_b
    assert weights_a.keys() == weights_b.keys() and all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    rl = [r for r in rows_a if r["phase"] == "rl"]
    assert len(rl) == 2 and any(r["adv_abs_mean"] > 0 for r in rl)  # the RL steps did update
    evals = [r for r in rows_a if r["phase"] == "eval"]
    assert [r["tag"] for r in evals] == ["before", "after_sft", "rl_1", "after_rl"]
    assert all("sampled_success_rate" in r for r in evals)

    # without the sampled evaluations, training samples exactly the same tokens
    rows_c, weights_c = run(model_dir, tmp_path / "c", sampled=0)
    train = [r for r in rows_a if r["phase"] != "eval"]
    assert [r for r in rows_c if r["phase"] != "eval"] == train
    assert all(torch.equal(weights_a[k], weights_c[k]) for k in weights_a)

    # another seed is another run
    rows_d, _ = run(model_dir, tmp_path / "d", seed=4)
    assert [r for r in rows_d if r["phase"] == "rl"] != rl
