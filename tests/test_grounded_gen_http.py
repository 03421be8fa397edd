"""GroundedGen over HTTP, on 127.0.0.1 only: the images API generator and the VLM judge, working and failing."""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from chat_server import ChatServer, completion
from PIL import Image

from mmsearch_gym.envs.grounded_gen import GroundedGenEnv
from mmsearch_gym.tools.generate import GenerationError, HTTPImageGenerator, make_generator


def _png_b64(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


class ImagesServer:
    """``/v1/images/*`` on 127.0.0.1: ``script(i, path, headers, body)`` gives ``(status, reply, delay_s)``."""

    def __init__(self, script):
        self.script, self.requests = script, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, reply, delay = outer.script(len(outer.requests) - 1)
                time.sleep(delay)
                data = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout tests)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


PICTURE = np.zeros((48, 64, 3), np.uint8)
PICTURE[:, 32:] = (200, 30, 40)
OK = (200, {"data": [{"b64_json": _png_b64(PICTURE)}]}, 0.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_generations_and_edits_requests_and_reply():
    server = ImagesServer(lambda i: OK)
    try:
        gen = HTTPImageGenerator(server.url, "qwen-image", size="512x384", retries=0)
        out = gen("a red emblem", [])
        assert np.array_equal(out, PICTURE)
        first = server.requests[0]
        assert first["path"] == "/v1/images/generations"
        body = json.loads(first["body"])
        assert body == {"model": "qwen-image", "prompt": "a red emblem", "n": 1, "size": "512x384", "response_format": "b64_json"}
        refs = [np.full((8, 8, 3), i * 40, np.uint8) for i in range(5)]
        assert np.array_equal(gen("copy the first reference image", refs), PICTURE)
        edit = server.requests[1]
        assert edit["path"] == "/v1/images/edits" and edit["headers"]["Content-Type"].startswith("multipart/form-data")
        assert edit["body"].count(b'name="image[]"') == 3  # the editor takes the first three references
        assert b"copy the first reference image" in edit["body"] and b"\x89PNG" in edit["body"]
    finally:
        server.close()


@pytest.mark.parametrize(
    ("reply", "kind", "words"),
    [
        ((503, {"error": "busy"}, 0.0), "backend_down", "HTTP 503"),
        ((200, b"<html>oops</html>", 0.0), "tool_failed", "not JSON"),
        ((200, {"data": []}, 0.0), "tool_failed", "unexpected shape"),
        ((200, {"data": [{"url": "http://10.0.0.1/x.png"}]}, 0.0), "tool_failed", "no b64_json"),
        ((200, {"data": [{"b64_json": "%%%not base64%%%"}]}, 0.0), "tool_failed", "malformed base64"),
        ((200, {"data": [{"b64_json": base64.b64encode(b"not an image").decode()}]}, 0.0), "tool_failed", "decoded"),
        ((401, {"error": "bad key"}, 0.0), "tool_failed", "refused the credentials"),
        ((200, OK[1], 1.5), "timeout", "did not answer in time"),
    ],
)
def test_generator_faults_are_generation_errors(reply, kind, words):
    server = ImagesServer(lambda i: reply)
    try:
        gen = HTTPImageGenerator(server.url, "m", retries=1, timeout_s=0.3, backoff_s=0.01)
        with pytest.raises(GenerationError, match=words) as err:
            gen("x", [])
        assert err.value.kind.value == kind
        if kind in ("backend_down", "timeout"):
            assert len(server.requests) == 2  # retried once
    finally:
        server.close()


def test_a_refused_connection_is_backend_down():
    gen = HTTPImageGenerator(f"http://127.0.0.1:{_free_port()}", "m", retries=0, timeout_s=1)
    with pytest.raises(GenerationError, match="unreachable") as err:
        gen("x", [])
    assert err.value.kind.value == "backend_down"


def test_an_image_over_the_pixel_budget_is_refused_before_decoding():
    big = np.zeros((300, 300, 3), np.uint8)
    server = ImagesServer(lambda i: (200, {"data": [{"b64_json": _png_b64(big)}]}, 0.0))
    try:
        with pytest.raises(GenerationError, match="over 10000 pixels"):
            HTTPImageGenerator(server.url, "m", max_pixels=10_000)("x", [])
    finally:
        server.close()


def test_generator_specs_are_checked():
    with pytest.raises(ValueError, match="http"):
        make_generator({"kind": "http", "base_url": "ftp://x", "model": "m"})
    with pytest.raises(ValueError, match="unexpected keyword"):
        make_generator({"kind": "http", "base_url": "http://127.0.0.1:1", "model": "m", "colour": 1})
    with pytest.raises(ValueError, match="local diffusers pipeline folder"):
        make_generator({"kind": "diffusers", "path": "/no/such/folder"})
    with pytest.raises(TypeError):
        make_generator(42)


def test_the_diffusers_backend_says_how_to_install_it(tmp_path):
    import importlib.util

    if importlib.util.find_spec("diffusers") is not None:
        pytest.skip("diffusers is installed here")
    with pytest.raises(ImportError, match=r"mmsearch-gym\[diffusers\]"):
        make_generator({"kind": "diffusers", "path": str(tmp_path)})


def _oracle_episode(env: GroundedGenEnv, seed: int = 8) -> dict:
    env.reset(seed=seed, options={"composition": "text"})
    while True:
        _, reward, terminated, truncated, info = env.step(env.oracle_action())
        if terminated or truncated:
            return {**info, "reward": reward}


def test_the_env_turns_a_failing_http_generator_into_reward_zero():
    server = ImagesServer(lambda i: (500, {"error": "boom"}, 0.0))
    try:
        env = GroundedGenEnv(generator={"kind": "http", "base_url": server.url, "model": "m", "retries": 0})
        info = _oracle_episode(env)
        assert info["reward"] == 0.0 and "backend_down" in info["evaluation"]["generation_error"]
    finally:
        server.close()


def test_the_http_generator_in_the_env_is_judged_on_its_picture():
    server = ImagesServer(lambda i: OK)
    try:
        env = GroundedGenEnv(generator={"kind": "http", "base_url": server.url, "model": "m"})
        info = _oracle_episode(env)
        assert info["evaluation"]["generator"] == "http"
        assert np.array_equal(env.generated_image, PICTURE)
        assert info["evaluation"]["image_judge"]["visual_correctness"] == 0.0  # a red/black block is not the entity
        assert server.requests[0]["path"] == "/v1/images/edits"
    finally:
        server.close()


JUDGE_IMAGE = {"rationale": "Constraints: …", "faithfulness": 1, "visual_correctness": 0.5, "text_accuracy": 1,
               "aesthetics": 0.5, "text_accuracy_na": False}  # fmt: skip


def test_the_http_judge_scores_with_the_release_rubrics():
    replies = [completion(json.dumps(JUDGE_IMAGE)), completion('```json\n{"rationale": "ok", "score": 0.62}\n```')]
    with ChatServer(lambda i: (200, replies[i % 2])) as server:
        env = GroundedGenEnv(judge={"kind": "http", "base_url": server.api, "model": "gpt-4.1"})
        info = _oracle_episode(env)
    c = info["reward_components"]
    assert c["image"] == pytest.approx(0.75) and c["text"] == 0.5  # 0.1 + 0.2 + 0.4 + 0.05; 0.62 → 0.5
    assert info["reward"] == pytest.approx(0.625) and "judge_error" not in info["evaluation"]
    image_req, text_req = server.requests
    assert image_req["body"]["messages"][0]["content"].startswith("You are a strict and professional expert evaluator")
    parts = image_req["body"]["messages"][1]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "image_url"]
    assert "Task prompt (image requirement)" in parts[0]["text"] and parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    text_parts = text_req["body"]["messages"][1]["content"]
    assert '"gen_prompt": ' in text_parts[0]["text"] and '"title": ' in text_parts[0]["text"]


@pytest.mark.parametrize(
    ("script", "words"),
    [
        (lambda i: (503, {"error": "overloaded"}), "HTTP 503"),
        (lambda i: (200, completion("I think it looks great!")), "no JSON object"),
        (lambda i: (200, {"id": "x"}), "without choices"),
        (lambda i: (time.sleep(1.0), (200, completion(json.dumps(JUDGE_IMAGE))))[1], "did not answer in time"),
    ],
)
def test_a_failing_http_judge_falls_back_to_the_offline_judges_and_says_so(script, words):
    offline = _oracle_episode(GroundedGenEnv())
    with ChatServer(script) as server:
        env = GroundedGenEnv(judge={"kind": "http", "base_url": server.api, "model": "j", "timeout_s": 0.3, "retries": 0})
        info = _oracle_episode(env)
    assert words in info["evaluation"]["judge_error"]
    assert info["reward"] == offline["reward"] and info["reward_components"] == offline["reward_components"]


def test_a_refused_judge_connection_falls_back():
    env = GroundedGenEnv(judge={"kind": "http", "base_url": f"http://127.0.0.1:{_free_port()}", "model": "j", "retries": 0})
    info = _oracle_episode(env)
    assert "unreachable" in info["evaluation"]["judge_error"] and info["reward"] >= 0.8
