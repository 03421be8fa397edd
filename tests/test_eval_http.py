"""``mmsearch-gym eval`` against an OpenAI-compatible server on 127.0.0.1: images, resume, failures."""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from chat_server import ChatServer
from fake_model import images_of, maze_model, text_of
from PIL import Image

from algos.eval import EvalConfig, RunStore, run_eval
from mmsearch_gym.cli import main

MAZE = "mmsearch_gym/Maze-v0"
KW = ["--kw", "size=3", "--kw", 'question_types=["choice"]']


def png(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_served_model_on_maze_sends_images_as_data_urls_and_saves_them_as_files(tmp_path, capsys):
    out = tmp_path / "run"
    with ChatServer(maze_model) as srv:
        code = main(
            [
                "eval",
                MAZE,
                "--policy",
                srv.api,
                "--model",
                "served-model",
                "--episodes",
                "4",
                "--seed",
                "3",
                "--out",
                str(out),
                "--max-new-tokens",
                "64",
                *KW,
            ]
        )
        requests = list(srv.requests)
    assert code == 0, capsys.readouterr().out
    assert len(requests) == 8 and all(r["path"] == "/v1/chat/completions" for r in requests)
    assert {r["body"]["model"] for r in requests} == {"served-model"}
    assert {r["body"]["max_tokens"] for r in requests} == {64}
    store = RunStore(out)
    lines = store.lines()
    assert sorted(x["seed"] for x in lines) == [3, 4, 5, 6]
    assert "base64" not in store.episodes_path.read_text()  # images are files, not inlined
    for line in lines:
        first = next(
            r["body"]
            for r in requests
            if text_of(r["body"]["messages"][1]) == line["record"]["messages"][1]["content"]
            and len(r["body"]["messages"]) == 2
        )
        (sent,) = images_of(first["messages"][1])
        saved = np.asarray(Image.open(out / line["images"]["img_1"]).convert("RGB"))
        assert np.array_equal(png(sent), saved)  # the model saw exactly the task image
        second = next(
            r["body"]
            for r in requests
            if len(r["body"]["messages"]) == 4 and r["body"]["messages"][1] == first["messages"][1]
        )
        (drawn,) = images_of(second["messages"][3])  # the path_tracer result, in the tool response
        assert np.array_equal(png(drawn), np.asarray(Image.open(out / line["images"]["img_2"]).convert("RGB")))
        assert not np.array_equal(png(drawn), saved)
        assert line["usage"] == {"prompt_tokens": 200 + 400, "completion_tokens": 40}
    summary = json.loads(store.summary_path.read_text())
    success = [x["record"]["success"] for x in lines]
    assert summary["envs"]["Maze-v0"]["metrics"]["success"]["mean"] == pytest.approx(np.mean(success))
    assert summary["envs"]["Maze-v0"]["tools"]["per_tool"]["path_tracer"] == {
        "calls": 4,
        "per_episode": 1.0,
        "valid_rate": 1.0,
    }
    config = json.loads(store.config_path.read_text())
    assert config["model"] == "served-model" and config["sampling"]["max_new_tokens"] == 64
    assert config["versions"]["gymnasium"] and config["suite"]["envs"][0]["kwargs"] == {
        "size": 3,
        "question_types": ["choice"],
    }
    html = store.report_path.read_text()
    assert 'src="http' not in html and 'href="http' not in html  # self-contained
    assert html.count("data:image/png;base64,") == 8  # two images per episode, embedded


def test_prompt_template_and_system_prompt_reach_the_model_and_the_record(tmp_path):
    with ChatServer(maze_model) as srv:
        run_eval(
            EvalConfig(
                MAZE,
                srv.api,
                tmp_path,
                model="served-model",
                episodes=1,
                env_kwargs={"size": 3, "question_types": ["choice"]},
                system_prompt="Be careful.\n{env_system}",
                prompt_template="Puzzle:\n{prompt}\nGo.",
            ),
            progress=False,
        )
        system, user = srv.requests[0]["body"]["messages"]
    assert system["content"].startswith("Be careful.\nYou solve maze puzzles") and "path_tracer" in system["content"]
    assert text_of(user).startswith("Puzzle:\nThe image img_1 shows") and text_of(user).endswith("\nGo.")
    record = RunStore(tmp_path).lines()[0]["record"]
    assert record["messages"][0]["content"] == system["content"] and record["messages"][1]["content"] == text_of(user)


def test_wrong_model_or_unreachable_server_fail_before_any_episode(tmp_path, capsys):
    with ChatServer(maze_model, models=["qwen-7b", "qwen-72b"]) as srv:
        assert main(["eval", MAZE, "--policy", srv.api, "--model", "gpt-x", "--out", str(tmp_path / "a")]) == 2
        assert srv.requests == []
    out = capsys.readouterr().out
    assert "does not serve model 'gpt-x'; it serves: qwen-7b, qwen-72b" in out
    port = free_port()
    assert (
        main(["eval", MAZE, "--policy", f"http://127.0.0.1:{port}/v1", "--model", "m", "--out", str(tmp_path / "b")])
        == 2
    )
    assert "cannot reach the policy server" in capsys.readouterr().out
    assert main(["eval", MAZE, "--policy", "http://127.0.0.1:1/v1", "--out", str(tmp_path / "c")]) == 2
    assert "--model NAME" in capsys.readouterr().out
    assert not (tmp_path / "a" / "episodes.jsonl").exists()


def test_server_dying_mid_run_stops_keeps_finished_episodes_and_resumes(tmp_path, capsys):
    port = free_port()
    out = tmp_path / "run"
    args = [
        "eval",
        MAZE,
        "--policy",
        f"http://127.0.0.1:{port}/v1",
        "--model",
        "served-model",
        "--episodes",
        "6",
        "--out",
        str(out),
        "--concurrency",
        "1",
        "--retries",
        "1",
        *KW,
    ]
    srv = ChatServer(lambda i, body: maze_model(i, body), port=port)

    def dying(i, body):  # answers five requests (two episodes and a half), then the server is gone
        if i == 4:
            threading.Thread(target=srv.close).start()
        return maze_model(i, body)

    srv.script = dying
    try:
        assert main(args) == 1
    finally:
        srv.close()
    text = capsys.readouterr().out
    assert "2 of 6 episodes are saved" in text and "failed after 2 attempts" in text
    assert "resume with: mmsearch-gym eval mmsearch_gym/Maze-v0 --policy http://127.0.0.1:" in text.replace("\n", " ")
    kept = RunStore(out).lines()
    assert [x["seed"] for x in kept] == [0, 1]
    assert json.loads((out / "summary.json").read_text())["complete"] is False
    with ChatServer(maze_model, port=port) as again:
        assert main(args) == 0
        assert len(again.requests) == 4 * 2  # only the four missing episodes, two turns each
    lines = RunStore(out).lines()
    assert [x["seed"] for x in lines] == [0, 1, 2, 3, 4, 5] and lines[:2] == kept
    assert json.loads((out / "summary.json").read_text())["complete"] is True


def test_killed_run_restarts_without_redoing_finished_episodes(tmp_path):
    out = tmp_path / "run"
    with ChatServer(maze_model, delay=0.15) as srv:
        cmd = [
            sys.executable,
            "-m",
            "mmsearch_gym.cli",
            "eval",
            MAZE,
            "--policy",
            srv.api,
            "--model",
            "served-model",
            "--episodes",
            "10",
            "--concurrency",
            "2",
            "--out",
            str(out),
            *KW,
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ))
        episodes = out / "episodes.jsonl"
        deadline = time.monotonic() + 120
        while not (episodes.exists() and episodes.read_bytes().count(b"\n") >= 3):
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        before = RunStore(out).lines()
        assert 3 <= len(before) < 10
        prefix = episodes.read_bytes()
        srv.requests.clear()
        result = run_eval(
            EvalConfig(
                MAZE,
                srv.api,
                out,
                model="served-model",
                episodes=10,
                concurrency=2,
                env_kwargs={"size": 3, "question_types": ["choice"]},
            ),
            progress=False,
        )
        assert result.skipped == len(before) and result.played == 10 - len(before)
        assert len(srv.requests) == 2 * (10 - len(before))
    done_seeds = {x["seed"] for x in before}
    replayed = {json.loads(x)["seed"] for x in episodes.read_bytes()[len(prefix) :].splitlines()}
    assert replayed == set(range(10)) - done_seeds  # nothing finished was played again
    assert sorted(x["seed"] for x in RunStore(out).lines()) == list(range(10))


def test_a_folder_of_another_configuration_is_not_resumed(tmp_path):
    with ChatServer(maze_model) as srv:
        cfg = dict(model="served-model", episodes=1, env_kwargs={"size": 3, "question_types": ["choice"]})
        run_eval(EvalConfig(MAZE, srv.api, tmp_path, **cfg), progress=False)
        with pytest.raises(ValueError, match=r"another configuration \(sampling: .*--overwrite"):
            run_eval(EvalConfig(MAZE, srv.api, tmp_path, temperature=0.7, **cfg), progress=False)
        more = run_eval(EvalConfig(MAZE, srv.api, tmp_path, **{**cfg, "episodes": 2}), progress=False)
        assert (more.skipped, more.played) == (1, 1)  # more episodes extend the run
        fresh = run_eval(EvalConfig(MAZE, srv.api, tmp_path, temperature=0.7, overwrite=True, **cfg), progress=False)
        assert (fresh.skipped, fresh.played) == (0, 1)


def test_torn_last_line_is_dropped_and_replayed(tmp_path):
    with ChatServer(maze_model) as srv:
        cfg = EvalConfig(
            MAZE,
            srv.api,
            tmp_path,
            model="served-model",
            episodes=3,
            env_kwargs={"size": 3, "question_types": ["choice"]},
        )
        run_eval(cfg, progress=False)
        path = Path(tmp_path) / "episodes.jsonl"
        data = path.read_bytes()
        path.write_bytes(data[: len(data) - 40])  # killed while writing the third line
        result = run_eval(cfg, progress=False)
    assert (result.skipped, result.played) == (2, 1)
    assert len(RunStore(tmp_path).lines()) == 3 and path.read_bytes().count(b"\n") == 3
