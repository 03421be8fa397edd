"""``report.html`` opened in real headless Chromium: no console errors, the viewer shows an episode's images,
filters work, and hostile model text stays text.

Set ``EVAL_REPORT_SCREENSHOT=PATH`` to keep a screenshot of the page.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from cdp import Browser, find_chromium
from chat_server import ChatServer, completion
from fake_model import maze_model
from PIL import Image

from algos.eval import EvalConfig, RunStore, run_eval

HOSTILE = '</script><script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (make system-deps)")


def hostile_model(i, body):
    status, reply = maze_model(i, body)
    if len(body["messages"]) > 2:  # the answering turn thinks out loud in markup
        letter = reply["choices"][0]["message"]["content"].split("<answer>")[1][0]
        reply = completion(f"<think>{HOSTILE}</think><answer>{letter}</answer>", reply.get("usage"))
    return status, reply


def test_report_loads_in_chromium_and_the_viewer_shows_images(tmp_path):
    out = tmp_path / "run"
    with ChatServer(hostile_model) as srv:
        run_eval(
            EvalConfig(
                "mmsearch_gym/Maze-v0",
                srv.api,
                out,
                model="served-model",
                episodes=6,
                env_kwargs={"size": 4, "question_types": ["choice"]},
            ),
            progress=False,
        )
    lines = RunStore(out).lines()
    successes = sum(x["record"]["success"] for x in lines)
    with Browser() as browser:
        page = browser.open((out / "report.html").as_uri())
        assert page.eval("document.querySelectorAll('#ep-list tr[data-key]').length") == 6
        # the first episode opens by itself; its task image and the drawn route are shown and decoded
        images = page.eval(
            "[...document.querySelectorAll('#ep-detail img')].map(i => [i.complete, i.naturalWidth, i.alt])"
        )
        assert [alt for _, _, alt in images] == ["img_1", "img_2"]
        width = Image.open(out / lines[0]["images"]["img_1"]).width
        assert all(done and w == width for done, w, _ in images)  # decoded at the saved image's size
        key = lines[3]["key"]
        page.eval(f"document.querySelector('#ep-list tr[data-key=\"{key}\"]').click()")
        assert page.eval("document.querySelector('#ep-detail h3').textContent").endswith(f"({key})")
        assert page.eval("location.hash") == f"#ep={key.replace('/', '%2F')}"
        detail = page.eval("document.getElementById('ep-detail').textContent")
        assert HOSTILE in detail  # shown as text …
        assert page.eval("typeof window.pwned") == "undefined"  # … never run
        page.eval(
            "{ const s = document.getElementById('f-outcome'); s.value = 'success'; s.dispatchEvent(new Event('change')); }"
        )
        assert page.eval("document.querySelectorAll('#ep-list tr[data-key]').length") == successes
        page.eval(
            "{ const s = document.getElementById('f-outcome'); s.value = ''; s.dispatchEvent(new Event('change')); }"
        )
        page.eval(f"document.querySelector('#ep-list tr[data-key=\"{lines[0]['key']}\"]').click()")
        shot = page.screenshot(tmp_path / "report.png", height=1400, selector="#viewer")
        assert page.errors == []
        # a link to one episode opens it
        deep = browser.open((out / "report.html").as_uri() + "#ep=" + lines[5]["key"].replace("/", "%2F"))
        assert deep.eval("document.querySelector('#ep-detail h3').textContent").endswith(f"({lines[5]['key']})")
        assert deep.errors == []
    assert shot.stat().st_size > 10_000
    if os.environ.get("EVAL_REPORT_SCREENSHOT"):
        shutil.copy(shot, os.environ["EVAL_REPORT_SCREENSHOT"])
    assert json.loads((out / "summary.json").read_text())["episodes"] == 6
