"""``mmsearch-gym serve`` under hostile clients: decompression-bomb uploads, half-open and dripping
connections, missing tokens, and binding beyond loopback without one (all on 127.0.0.1)."""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import threading
import time
import tracemalloc

import numpy as np
import pytest
from hostile_files import bomb_png

from mmsearch_gym import cli
from mmsearch_gym.search import BackendError, make_backend
from mmsearch_gym.world import build_world
from mmsearch_gym.world.backend import LocalWorldBackend
from mmsearch_gym.world.cli import register
from mmsearch_gym.world.server import TOKEN_ENV, WorldServer, is_loopback

TOKEN = "tok-0123456789"


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    return LocalWorldBackend(build_world(tmp_path_factory.mktemp("w") / "world", 60, 3))


@pytest.fixture
def serve(local):
    servers = []

    def start(**kw) -> WorldServer:
        srv = WorldServer(local, "127.0.0.1", 0, **kw)
        srv.start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def _request(srv: WorldServer, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def test_a_decompression_bomb_upload_is_refused_before_decoding(serve):
    srv = serve()
    bomb = bomb_png(12000, 12000)  # 144 megapixels in ~140 KB
    tracemalloc.start()
    start = time.monotonic()
    try:
        status, data = _request(srv, "POST", "/image_search?top_k=3", bomb, {"Content-Type": "image/png"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 400 and "12000×12000" in data["error"]
    assert peak < 30_000_000 and time.monotonic() - start < 3  # decoding it would take 144 MB+ and seconds


def test_half_open_connections_time_out_and_cannot_take_every_thread(serve):
    srv = serve(max_connections=4, request_timeout_s=0.5)
    threads_before = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", srv.server_address[1])) for _ in range(12)]
    try:
        time.sleep(0.2)
        assert threading.active_count() - threads_before <= 4  # one thread per served connection, at most 4
        answers, start = [], time.monotonic()
        for s in idle:
            s.settimeout(3)
            answers.append(s.recv(200))
        busy = [a for a in answers if a.startswith(b"HTTP/1.1 503")]
        closed = [a for a in answers if a == b""]  # the server hung up on a silent client
        assert len(busy) >= 4 and len(busy) + len(closed) == 12  # over the limit: 503 at once; else cut at 0.5 s
        assert time.monotonic() - start < 2.5
        assert _request(srv, "GET", "/health")[0] == 200  # the slots are free again
    finally:
        for s in idle:
            s.close()


def test_an_upload_dripping_its_body_is_cut_off(serve):
    srv = serve(body_timeout_s=0.6, request_timeout_s=2)
    s = socket.create_connection(("127.0.0.1", srv.server_address[1]))
    try:
        s.sendall(b"POST /image_search HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        start = time.monotonic()
        s.settimeout(0.05)
        reply = b""
        while b"}" not in reply and time.monotonic() - start < 5:
            try:
                s.sendall(b"x")
                reply += s.recv(300)
            except TimeoutError:
                time.sleep(0.15)
            except OSError:  # the server closed the connection after answering
                break
        assert reply.startswith(b"HTTP/1.1 400") and b"did not arrive within" in reply
        assert time.monotonic() - start < 2
    finally:
        s.close()


def test_a_token_is_required_when_set_and_our_client_sends_it(serve, monkeypatch):
    srv = serve(token=TOKEN)
    assert _request(srv, "GET", "/health")[0] == 401
    assert _request(srv, "GET", "/health", headers={"Authorization": "Bearer wrong-token"})[0] == 401
    assert _request(srv, "GET", "/health", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    err = pytest.raises(BackendError, make_backend({"kind": "serve", "base_url": srv.url, "retries": 0}).health).value
    assert "HTTP 401" in str(err) and TOKEN_ENV in str(err)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    remote = make_backend({"kind": "serve", "base_url": srv.url})
    assert remote.health()["ok"]
    hits = remote.image_search(query="logo", top_k=2)
    assert hits and hits[0].thumbnail is not None  # thumbnails come through the same authorised client
    assert TOKEN not in str(pytest.raises(BackendError, remote.fetch, "https://nowhere.invalid/x").value)


def test_serve_refuses_to_bind_beyond_loopback_without_a_token(capsys, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    made = []
    monkeypatch.setattr(WorldServer, "__init__", lambda *a, **k: made.append(a))
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["serve", "--host", "0.0.0.0", "--port", "0"])
    assert args.func(args, cli.Console()) == 2 and not made
    out = " ".join(capsys.readouterr().out.split())
    assert "without a token" in out and TOKEN_ENV in out
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and not is_loopback("0.0.0.0")


def test_server_settings_are_checked(local):
    for bad in ({"token": "short"}, {"max_connections": 0}, {"request_timeout_s": 0}, {"body_timeout_s": float("inf")}):
        with pytest.raises(ValueError):
            WorldServer(local, "127.0.0.1", 0, **bad)


def test_a_normal_upload_still_works(serve, local):
    srv = serve()
    photo = next(i for i in local.world.images.values() if i.kind == "photo")
    remote = make_backend(srv.url)
    hits = remote.image_search(image=local.image_array(photo.id), top_k=2)
    assert [h.image_id for h in hits] == [
        h.image_id for h in local.image_search(image=local.image_array(photo.id), top_k=2)
    ]
    assert np.asarray(hits[0].thumbnail).ndim == 3
