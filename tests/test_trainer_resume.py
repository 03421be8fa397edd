"""Exact resume: a run that crashes after step 3 and resumes from its step-2 checkpoint ends
with the same parameters, optimizer state and metrics as a run that never stopped."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch

from algos import tiny
from algos.base import GroupNormConfig
from algos.grpo import GRPO
from algos.trainer import Trainer, from_dict, latest_checkpoint, list_checkpoints
from algos.trainer.checkpoint import save_checkpoint


@dataclass(kw_only=True)
class ParityConfig(GroupNormConfig):
    kl_coef: float = 0.05


class EvenTokenGRPO(GRPO):
    """GRPO on a dense test reward (share of even ids among the sampled tokens): a random model's
    samples all fail the env, so its reward alone would give zero advantages and no update to resume."""

    config_cls = ParityConfig

    def shape_rewards(self, batch, *, step=0):
        resp = batch.response_mask
        return ((batch.input_ids % 2 == 0) & resp).sum(1).float() / resp.sum(1).clamp(min=1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny.save_tiny_model(
        tmp_path_factory.mktemp("m") / "model",
        "text",
        tokenizer=tiny.default_tokenizer(episodes=40),
        hidden=32,
        layers=1,
        heads=2,
    )


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def config(model_dir, out, **over):
    data = dict(
        env="mmsearch_gym/Maze-v0",
        algo="grpo",
        model=str(model_dir),
        out_dir=str(out),
        env_kwargs={"size": 2, "text_maze": True, "question_types": ["moves"], "max_turns": 3},
        rollout={"tasks_per_step": 2, "group_size": 2, "max_new_tokens": 12, "max_episode_tokens": 1024},
        sft={"steps": 1, "episodes": 4, "batch_size": 3, "lr": 1e-2, "successful_only": False},
        rl={"steps": 3, "lr": 1e-2},
        optim={"micro_batch_size": 3, "warmup_steps": 2},
        eval={"episodes": 2, "temperature": 1.0},
        checkpoint={"every": 2, "keep": 5},
        logging={"tensorboard": False, "progress": False, "plot": False},
    )
    data.update(over)
    return from_dict(data)


class Crash(RuntimeError):
    pass


def crash_after(step):
    def cb(trainer, metrics):
        if trainer.state["step"] == step:
            raise Crash(f"simulated crash after step {step}")

    return cb


def run(cfg, resume=False, callbacks=()):
    trainer = Trainer(cfg, callbacks=callbacks, algorithm=EvenTokenGRPO())
    return trainer, trainer.fit(resume=resume)


def test_resume_after_step_2_of_4_matches_an_uninterrupted_run(model_dir, tmp_path):
    # 4 optimizer steps: 1 SFT + 3 RL; checkpoints after steps 1 (end of SFT), 2, 4
    straight, _ = run(config(model_dir, tmp_path / "a"))
    assert straight.state["step"] == 4

    with pytest.raises(Crash):
        run(config(model_dir, tmp_path / "b"), callbacks=[crash_after(3)])
    assert latest_checkpoint(tmp_path / "b" / "checkpoints").name == "step-000002"  # step 3 is lost, no more
    resumed, summary = run(config(model_dir, tmp_path / "b"), resume=True)
    assert resumed.state["step"] == 4 and summary["step"] == 4

    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6, rtol=1e-5), k
    # the weights moved (else equality would mean nothing)
    start = torch.load(list_checkpoints(tmp_path / "a" / "checkpoints")[0] / "model.pt", weights_only=True)
    assert any(not torch.allclose(start[k], a[k]) for k in a)
    sa, sb = straight.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    assert all(torch.allclose(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"], atol=1e-8) for i in sa)
    assert straight.state["task_cursor"] == resumed.state["task_cursor"] == 6
    assert straight.state["evals"] == resumed.state["evals"]

    # the metrics file reads as one run: every step once, same rewards and losses
    rows = {
        name: [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        for name in ("a", "b")
    }
    assert [(r["step"], r["phase"]) for r in rows["a"]] == [(r["step"], r["phase"]) for r in rows["b"]]
    for ra, rb in zip(rows["a"], rows["b"]):
        for key in ("reward_mean", "loss", "kl", "success_rate"):
            if key in ra:
                assert ra[key] == pytest.approx(rb[key], rel=1e-5, abs=1e-7), (ra["step"], key)


def test_half_written_checkpoint_is_ignored(tmp_path):
    model = torch.nn.Linear(2, 2)
    save_checkpoint(tmp_path, 2, model, None, None, {"step": 2})
    (tmp_path / ".step-000004.tmp").mkdir()  # a crash while saving step 4
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-000002"]
    for step in (4, 6, 8):
        save_checkpoint(tmp_path, step, model, None, None, {"step": step}, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-000006", "step-000008"]


def test_existing_checkpoints_need_resume(model_dir, tmp_path):
    cfg = config(model_dir, tmp_path, sft={"steps": 0}, rl={"steps": 0}, eval={"episodes": 0})
    save_checkpoint(tmp_path / "checkpoints", 2, torch.nn.Linear(1, 1), None, None, {"step": 2})
    with pytest.raises(ValueError, match="already holds checkpoints"):
        Trainer(cfg).fit()
