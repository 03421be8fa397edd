import json
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest

import envs_registry
import mmsearch_gym
from mmsearch_gym.cli import main, play
from mmsearch_gym.policies import make_policy


def test_importing_the_package_registers_envs_without_torch():
    code = "import sys, mmsearch_gym, gymnasium as gym; print('torch' in sys.modules, [i for i in gym.registry if i.startswith('mmsearch_gym/')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    has_torch, ids = out.split(" ", 1)
    assert has_torch == "False"
    assert set(eval(ids)) == set(envs_registry.ENVS)


def test_registry_entries_are_importable_and_idempotent():
    assert mmsearch_gym.register_all() == list(envs_registry.ENVS)
    for env_id, entry in envs_registry.ENVS.items():
        assert gym.spec(env_id).entry_point == entry.entry_point and entry.description


def test_list_prints_every_id(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(env_id in out for env_id in envs_registry.ENVS)


def test_play_oracle_wins_and_random_mostly_fails():
    oracle = play("mmsearch_gym/Maze-v0", "oracle", 20, 0, {})
    rand = play("mmsearch_gym/Maze-v0", "random", 60, 0, {})
    assert oracle.successes == 20 and oracle.turns == 40 and not oracle.errors
    assert rand.successes / rand.episodes < 0.2 and sum(rand.errors.values()) > 0


def test_play_command_prints_table_and_writes_records(tmp_path, capsys):
    out = tmp_path / "records.jsonl"
    code = main(["play", "mmsearch_gym/Maze-v0", "--policy", "oracle", "--episodes", "3", "--seed", "5",
                 "--kw", "size=4", "--out", str(out), "--show"])
    text = capsys.readouterr().out
    assert code == 0 and "100.0%" in text and "4×4 maze" in text  # transcript shown
    lines = out.read_text().splitlines()
    assert len(lines) == 3 and [json.loads(line)["seed"] for line in lines] == [5, 6, 7]


def test_play_rejects_bad_input(capsys):
    assert main(["play", "mmsearch_gym/Nope-v0"]) == 2
    assert main(["play", "mmsearch_gym/Maze-v0", "--kw", "size=1"]) == 2
    assert "size must be an integer between 2 and 25" in capsys.readouterr().out


def test_play_works_on_discrete_env():
    stats = play("mmsearch_gym/MazeGrid-v0", "oracle", 3, 0, {})
    assert stats.successes == 3


def test_make_policy_rejects_unknown_names():
    with pytest.raises(ValueError, match="oracle, random"):
        make_policy("genius")


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "mmsearch-gym"
    out = subprocess.run([str(script), "list"], capture_output=True, text=True)
    assert out.returncode == 0 and "mmsearch_gym/Maze-v0" in out.stdout


def test_list_and_play_do_not_import_torch():
    code = "import sys; from mmsearch_gym.cli import main; main(['list']); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"
