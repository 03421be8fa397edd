"""The ``world build``, ``world info`` and ``serve`` subcommands, plugged in through ``COMMAND_MODULES``."""

import argparse
import json
import threading
import time
import urllib.parse
import urllib.request

import pytest

from mmsearch_gym import cli
from mmsearch_gym.world import is_complete, load_world
from mmsearch_gym.world.cli import register


@pytest.fixture(autouse=True)
def with_world_commands(monkeypatch):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["mmsearch_gym.world.cli"])


def test_world_build_writes_a_world_and_keeps_it(tmp_path, capsys):
    out = tmp_path / "w"
    assert cli.main(["world", "build", "--entities", "60", "--seed", "4", "--out", str(out)]) == 0
    assert "built in" in capsys.readouterr().out and is_complete(out, 60, 4)
    assert cli.main(["world", "build", "--entities", "60", "--seed", "4", "--out", str(out)]) == 0
    assert "kept the existing" in capsys.readouterr().out
    assert cli.main(["world", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "connected: True" in " ".join(text.split()) and "landmark" in text
    assert len(load_world(out)) == 60


def test_world_build_with_photos_writes_them(tmp_path):
    out = tmp_path / "w"
    assert cli.main(["world", "build", "--entities", "40", "--out", str(out), "--photos"]) == 0
    photos = [i for i in load_world(out).images.values() if i.kind == "photo"]
    assert photos and all((out / "images" / f"{p.id}.png").exists() for p in photos)


@pytest.mark.parametrize("args", [["--entities", "3"], ["--seed", "-1"]])
def test_world_build_rejects_bad_sizes(tmp_path, capsys, args):
    assert cli.main(["world", "build", "--out", str(tmp_path / "w"), *args]) == 2
    assert not (tmp_path / "w").exists()


def test_world_build_refuses_a_foreign_folder_and_info_a_non_world(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("x")
    assert cli.main(["world", "build", "--entities", "40", "--out", str(tmp_path)]) == 2
    assert cli.main(["world", "info", str(tmp_path)]) == 2
    text = " ".join(capsys.readouterr().out.split())
    assert "is not a world folder" in text and "is not a built world" in text


def test_serve_answers_search_over_http(tmp_path, monkeypatch):
    out = tmp_path / "w"
    assert cli.main(["world", "build", "--entities", "40", "--out", str(out)]) == 0
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["serve", "--world", str(out), "--port", "0"])
    from mmsearch_gym.world.server import WorldServer

    started: list = []
    original = WorldServer.__init__

    def remember(self, *a, **kw):  # keep a handle on the server the command makes, to stop it
        original(self, *a, **kw)
        started.append(self)

    monkeypatch.setattr(WorldServer, "__init__", remember)
    thread = threading.Thread(target=args.func, args=(args, cli.Console()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not started and time.monotonic() < deadline:
        time.sleep(0.05)
    server = started[0]
    try:
        with urllib.request.urlopen(f"{server.url}/health", timeout=5) as resp:
            health = json.loads(resp.read())
        assert health["ok"] and health["n_entities"] == 40
        name = load_world(out).of_type("city")[0].name
        with urllib.request.urlopen(f"{server.url}/search?q={urllib.parse.quote(name)}&top_k=1", timeout=5) as resp:
            assert json.loads(resp.read())["results"][0]["title"] == name
    finally:
        server.shutdown()
    thread.join(timeout=10)
    assert not thread.is_alive()  # the command returned once its server stopped


def test_serve_reports_a_missing_world(tmp_path, capsys):
    assert cli.main(["serve", "--world", str(tmp_path / "none")]) == 2
    assert "cannot serve" in " ".join(capsys.readouterr().out.split())
