"""``mmsearch-gym train``: a full tiny run through the CLI, bad input, and the example's code path."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
import yaml

import mmsearch_gym.cli
from algos import tiny
from algos.rollout import load_pretrained
from algos.trainer import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]
QUICK = [
    "--set",
    "env_kwargs={size: 2, text_maze: true, question_types: [moves], max_turns: 2}",
    "--set",
    "rollout={tasks_per_step: 1, group_size: 2, max_new_tokens: 8, max_episode_tokens: 1024}",
    "--set",
    "sft={steps: 1, episodes: 2, batch_size: 2, successful_only: false}",
    "--set",
    "rl.steps=1",
    "--set",
    "eval.episodes=2",
    "--set",
    "logging.progress=false",
]


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
def cli_with_train(monkeypatch):
    monkeypatch.setattr(mmsearch_gym.cli, "COMMAND_MODULES", ["algos.cli"])
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def train(*args: str) -> int:
    return mmsearch_gym.cli.main(["train", *args, "--threads", "1"])


def test_train_command_runs_sft_and_rl_and_writes_everything(model_dir, tmp_path, capsys):
    out = tmp_path / "run"
    rc = train(
        "--env", "mmsearch_gym/Maze-v0", "--algo", "fatal_grpo", "--model", str(model_dir), "--out", str(out), *QUICK
    )
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "held-out success" in printed and "after_rl" in printed
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [(r["phase"], r.get("tag")) for r in rows] == [
        ("eval", "before"),
        ("sft", None),
        ("eval", "after_sft"),
        ("rl", None),
        ("eval", "after_rl"),
    ]
    rl = rows[3]
    for key in (
        "reward_mean",
        "success_rate",
        "loss",
        "grad_norm",
        "shaped_reward_mean",
        "time_generation",
        "time_env",
        "time_scoring",
        "time_update",
    ):
        assert key in rl
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "kl" not in rl and not (out / "ref_model.pt").exists()  # fatal_grpo trains without KL (the release)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "step-000001",
        "step-000002",
    ]  # end of each phase
    assert load_pretrained(out / "final").model is not None
    # run again without --resume: refused; with it: nothing left to do, same result
    assert train("--env", "mmsearch_gym/Maze-v0", "--model", str(model_dir), "--out", str(out), *QUICK) == 1
    assert "already holds checkpoints" in capsys.readouterr().out
    assert train("--env", "mmsearch_gym/Maze-v0", "--model", str(model_dir), "--out", str(out), "--resume", *QUICK) == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--env", "mmsearch_gym/Nope-v0"], "unknown env 'mmsearch_gym/Nope-v0'; registered mmsearch-gym envs: "),
        (["--algo", "ppo_magic"], "unknown algorithm 'ppo_magic'; available: "),
        (["--set", "algo_options={clip_hihg: 0.3}"], "unknown option(s) ['clip_hihg'] for algorithm 'fatal_grpo'"),
        (["--model", "/nonexistent/model"], "'/nonexistent/model' does not exist"),
        (["--set", "rollout.groupsize=4"], "unknown key(s) ['groupsize'] in rollout"),
        (["--set", "learning_rate=1e-4"], "unknown key(s) ['learning_rate'] in config"),
        (["--set", "rl.steps=-1"], "rl.steps must be >= 0"),
        (["--set", "ref_model=null", "--set", "algo_options={kl_coef: 0.01}"], "needs a reference model"),
        (["--set", "env_kwargs={size: 99}"], "size must be an integer between 2 and 25"),
    ],
)
def test_bad_input_is_a_clear_error(model_dir, tmp_path, capsys, args, message):
    base = {"--env": "mmsearch_gym/Maze-v0", "--algo": "fatal_grpo", "--model": str(model_dir), "--out": str(tmp_path)}
    for flag, value in zip(args[::2], args[1::2]):
        if flag in base:
            base[flag] = value
    sets = [a for pair in zip(args[::2], args[1::2]) if pair[0] == "--set" for a in pair]
    rc = train(*[a for kv in base.items() for a in kv], *sets)
    printed = " ".join(capsys.readouterr().out.split())
    assert rc == 2 and message in printed


def test_yaml_config_with_unknown_key(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"env": "x", "rl": {"steps": 3, "lr": 1e-4}, "rollout": {"group_size": 4}}))
    cfg = load_config(good, sets=["rl.lr=0.01"], algo="grpo")
    assert (cfg.rl.steps, cfg.rl.lr, cfg.rollout.group_size, cfg.algo) == (3, 0.01, 4, "grpo")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rl:\n  steps: 3\n  warmup: 2\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['warmup'\] in rl; valid keys: steps, lr, ppo_epochs"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping at the top level"):
        load_config(tmp_path / "list.yaml")


def test_example_smoke_run(tmp_path):
    """One SFT and one RL step per arm through examples/train_tiny_maze.py, two seeds (the full
    run is not a test); a second call reuses the finished stages; the report draws and tabulates."""
    def load(name):
        spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    example, report = load("train_tiny_maze"), load("ablation_report")
    before = torch.get_num_threads()
    argv = ["--smoke", "--out", str(tmp_path / "ex"), "--threads", "1", "--seeds", "0", "1", "--arms", "vanilla", "full"]
    sft_summary = tmp_path / "ex" / "seed-0" / "sft" / "summary.json"
    try:
        result = example.main(argv)
        again = example.main(argv)
    finally:
        torch.set_num_threads(before)
    runs = result["results"]
    assert sorted(runs) == [0, 1]
    for seed in (0, 1):
        assert runs[seed]["heldout"]["shared_prompts"] == 0 and runs[seed]["heldout"]["shared_layouts"] == 0
        assert set(runs[seed]["stages"]["sft"]["evals"]) == {"after_sft"}
        assert set(runs[seed]["stages"]["full"]["evals"]) == {"after_rl"}
        assert (tmp_path / "ex" / f"seed-{seed}" / "full" / "curves.png").exists()
    assert again["results"] == runs  # reused, not retrained
    text = report.main([str(tmp_path / "ex"), "--png", str(tmp_path / "ab.png"), "--smooth", "1"])
    assert (tmp_path / "ab.png").stat().st_size > 10_000
    assert "| RL: vanilla |" in text and "| full | held-out success (greedy) |" in text

    # another RL learning rate retrains the RL stage only, from the same SFT checkpoint; the report
    # then refuses to mix the two recipes
    stamp = sft_summary.stat().st_mtime_ns
    try:
        other_rl = example.main(argv[: argv.index("--seeds")] + ["--seeds", "0", "--arms", "full", "--rl-lr", "5e-4"])
    finally:
        torch.set_num_threads(before)
    assert sft_summary.stat().st_mtime_ns == stamp
    assert other_rl["results"][0]["stages"]["sft"] == runs[0]["stages"]["sft"]
    assert other_rl["results"][0]["stages"]["full"]["config"]["rl"]["lr"] == 5e-4
    with pytest.raises(SystemExit, match="another recipe"):
        report.main([str(tmp_path / "ex"), "--png", str(tmp_path / "ab2.png")])
