"""Agent-chosen urls (``visit``, thumbnails) reach public addresses only, every redirect hop checked; bodies
and time are bounded; a keyed client follows no redirect to another site.

The only server is a FaultServer on 127.0.0.1. A socket guard records every ``connect``: one to any
address but 127.0.0.1 fails the test, except ``PUBLIC_IP``, a stand-in public host that the guard
routes to 127.0.0.1 (so the guard's "public" verdict can be exercised without leaving the machine).
Names resolve through a fake table, never real DNS.
"""

from __future__ import annotations

import socket
import time
import tracemalloc

import numpy as np
import pytest

from mmsearch_gym.core import ImageStore, ToolContext, ToolError
from mmsearch_gym.search import BackendError, make_backend
from mmsearch_gym.search.fault_server import FaultServer
from mmsearch_gym.search.netguard import is_public
from mmsearch_gym.tools.search import VisitTool

PUBLIC_IP = "93.184.216.34"
KEY = "sk-test-SECRET-4242"


class Net:
    """What the socket guard saw: every connect attempt, every name looked up."""

    def __init__(self) -> None:
        self.connects: list[tuple[str, int]] = []
        self.forbidden: list[tuple[str, int]] = []
        self.lookups: list[str] = []
        self.names: dict[str, list[str]] = {}


@pytest.fixture
def net(monkeypatch):
    guard = Net()
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock, address):
        host, port = address[0], address[1]
        guard.connects.append((host, port))
        if host == PUBLIC_IP:
            return real_connect(sock, ("127.0.0.1", port))
        if host != "127.0.0.1":
            guard.forbidden.append((host, port))
            raise ConnectionRefusedError(f"test socket guard: no connection to {host}")
        return real_connect(sock, address)

    def getaddrinfo(host, port, *args, **kwargs):
        guard.lookups.append(host)
        if host in guard.names:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in guard.names[host]]
        return real_getaddrinfo(host, port, *args, **{**kwargs, "flags": socket.AI_NUMERICHOST})  # never real DNS

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    guard.names.update({"pages.example": [PUBLIC_IP], "intranet.example": ["10.1.2.3"],
                        "mixed.example": [PUBLIC_IP, "10.0.0.7"]})  # fmt: skip
    yield guard
    assert not guard.forbidden, f"connections to non-public addresses were attempted: {guard.forbidden}"


def _ctx() -> ToolContext:
    return ToolContext(ImageStore(), np.random.default_rng(0))


def _backend(api: str, url: str, **kw):
    base = f"{url}/w/api.php" if api == "mediawiki" else url
    return make_backend({"kind": api, "base_url": base, "timeout_s": 1.0, "retries": 0, **kw})


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("SERPER_API_KEY", KEY)


NON_PUBLIC = [
    "http://127.0.0.1:{port}/page/a.html",
    "http://localhost:{port}/page/a.html",
    "http://[::1]:{port}/page/a.html",
    "http://2130706433:{port}/page/a.html",  # 127.0.0.1 as one decimal number
    "http://0x7f000001:{port}/page/a.html",
    "http://0177.0.0.1:{port}/page/a.html",
    "http://[::ffff:127.0.0.1]:{port}/page/a.html",
    "http://0.0.0.0:{port}/page/a.html",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://10.0.0.1/admin",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://[fd00::1]/",
    "http://[fe80::1]/",
    "http://[64:ff9b::7f00:1]/",  # NAT64 wrapping 127.0.0.1
    "http://[2002:7f00:1::1]/",  # 6to4 wrapping 127.0.0.1
    "http://intranet.example/",  # a name that resolves to 10.1.2.3
    "http://mixed.example/",  # one public and one private address: refused
]


@pytest.mark.parametrize("api", ["searxng", "mediawiki", "serper"])
@pytest.mark.parametrize("template", NON_PUBLIC)
def test_visit_refuses_non_public_addresses_before_connecting(net, api, template):
    with FaultServer(api) as server:
        url = template.format(port=server.server_address[1])
        with pytest.raises(ToolError) as err:
            VisitTool(_backend(api, server.url))({"url": url}, _ctx())
        assert err.value.kind == "bad_arguments" and "refusing" in str(err.value)
        assert net.connects == [] and server.requests == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:70/", "http:///nohost", "http://[::1/"])
def test_visit_refuses_other_schemes_and_malformed_urls(net, url):
    with FaultServer("searxng") as server:
        err = pytest.raises(BackendError, _backend("searxng", server.url).fetch, url).value
        assert err.kind == "bad_arguments" and net.connects == []


def test_a_public_host_is_resolved_once_and_the_connection_pinned_to_it(net):
    with FaultServer("searxng") as server:
        port = server.server_address[1]
        page = _backend("searxng", server.url).fetch(f"http://pages.example:{port}/page/a.html")
        assert page.title == "Ada Lovelace"
        names = [h for h in net.lookups if h != PUBLIC_IP]  # the socket layer "looks up" the literal it was given
        assert net.connects == [(PUBLIC_IP, port)] and names == ["pages.example"]
        assert server.requests[0]["headers"]["Host"] == f"pages.example:{port}"  # the site's name, not the IP
        net.names["pages.example"] = ["127.0.0.1"]  # DNS rebinding: the next lookup answers loopback
        with pytest.raises(BackendError, match="not a public address"):
            _backend("searxng", server.url).fetch(f"http://pages.example:{port}/page/a.html")
        assert len(server.requests) == 1


@pytest.mark.parametrize(
    "target",
    ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:{port}/page/a.html", "http://[::1]:{port}/",
     "http://2130706433:{port}/page/a.html", "http://intranet.example/"],
)  # fmt: skip
def test_every_redirect_hop_is_checked(net, target):
    with FaultServer("searxng") as server:
        port = server.server_address[1]
        server.faults.append("redirect:" + target.format(port=port))
        err = pytest.raises(BackendError, _backend("searxng", server.url).fetch, f"http://pages.example:{port}/x").value
        assert err.kind == "bad_arguments" and ("not a public address" in str(err) or "local" in str(err))
        assert net.connects == [(PUBLIC_IP, port)] and len(server.requests) == 1


def test_redirects_between_public_hosts_are_followed_and_bounded(net):
    with FaultServer("searxng") as server:
        port = server.server_address[1]
        backend = _backend("searxng", server.url)
        server.faults.append(f"redirect:http://pages.example:{port}/page/a.html")
        assert backend.fetch(f"http://pages.example:{port}/old").title == "Ada Lovelace"
        assert [r["path"] for r in server.requests] == ["/old", "/page/a.html"]
        server.faults.extend([f"redirect:/hop{i}" for i in range(6)])
        err = pytest.raises(BackendError, backend.fetch, f"http://pages.example:{port}/start").value
        assert err.kind == "tool_failed" and "redirects" in str(err)


def test_private_addresses_need_the_explicit_opt_in(net):
    with FaultServer("searxng") as server:
        url = f"{server.url}/page/a.html"
        with pytest.raises(BackendError, match="not a public address"):
            _backend("searxng", server.url).fetch(url)
        assert _backend("searxng", server.url, allow_private_addresses=True).fetch(url).title == "Ada Lovelace"
        with pytest.raises(ValueError, match="allow_private_addresses"):
            _backend("searxng", server.url, allow_private_addresses="yes")


def test_the_serper_key_does_not_follow_a_redirect_to_another_site(net):
    with FaultServer("serper") as api, FaultServer("searxng") as elsewhere:
        api.faults.append(f"redirect:{elsewhere.url}/search")
        err = pytest.raises(BackendError, _backend("serper", api.url).text_search, "ada", 3).value
        assert err.kind == "tool_failed" and "redirected to another site" in str(err) and KEY not in str(err)
        assert api.requests[0]["headers"]["X-API-KEY"] == KEY and elsewhere.requests == []


@pytest.mark.parametrize("fault", ["big:5000000", "stream:5000000", "gzip:50000000"])
def test_bodies_are_cut_at_the_cap_while_streaming(net, fault):
    with FaultServer("searxng") as server:
        backend = _backend("searxng", server.url, allow_private_addresses=True, max_body_bytes=1_000_000)
        server.faults.append(fault)
        tracemalloc.start()
        try:
            err = pytest.raises(BackendError, backend.fetch, f"{server.url}/page/a.html").value
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert err.kind == "tool_failed" and "larger than 1000000 bytes" in str(err)
        assert peak < 4_000_000  # the 5 MB body (50 MB inflated) was never held whole


def test_a_dripping_server_is_cut_at_the_call_deadline(net):
    with FaultServer("searxng") as server:
        backend = _backend("searxng", server.url, allow_private_addresses=True, timeout_s=1.0, deadline_s=1.5)
        server.faults.append("drip:40:0.25")  # 10 s in all, each byte well within the read timeout
        start = time.monotonic()
        err = pytest.raises(BackendError, backend.fetch, f"{server.url}/page/a.html").value
        assert err.kind == "timeout" and time.monotonic() - start < 2.5


@pytest.mark.parametrize(
    "ip, public",
    [("8.8.8.8", True), ("2606:4700::1111", True), ("127.0.0.1", False), ("10.0.0.1", False), ("169.254.1.1", False),
     ("100.64.1.1", False), ("::1", False), ("fc00::1", False), ("::ffff:10.0.0.1", False), ("::ffff:8.8.8.8", True),
     ("224.0.0.1", False), ("255.255.255.255", False), ("2001:db8::1", False)],
)  # fmt: skip
def test_is_public(ip, public):
    assert is_public(ip) is public
