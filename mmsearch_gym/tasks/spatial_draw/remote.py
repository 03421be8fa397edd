"""A renderer in a helper process, for processes that cannot make a GL context of their own.

A child forked from a process that has rendered inherits Mesa's EGL state without its threads,
and making a context there hangs. :class:`RemoteRenderer` starts a fresh interpreter
(``subprocess`` execs at once: no inherited GL state, and unlike multiprocessing's ``spawn`` it
does not re-import the user's ``__main__``) that owns a :class:`~.render.GLRenderer`, and talks
to it over a socket pair: ``load`` ships the packed vertices, ``render`` the camera and light,
and the frame comes back. The helper exits when its socket closes (its parent ended or closed
it). Its frames are byte-identical to the in-process ones (same Mesa, same shaders).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import weakref
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from .geometry import Camera
from .render import EGLUnavailable, Environment, Frame

START_TIMEOUT_S = 120.0
_LIVE: weakref.WeakSet[RemoteRenderer] = weakref.WeakSet()


class RemoteRenderer:
    """The :class:`~.render.GLRenderer` interface, served by a helper process this object starts."""

    def __init__(self, supersample: int = 1, shadow_size: int = 1024):
        ours, theirs = socket.socketpair()
        root = str(Path(__file__).resolve().parents[3])  # the folder holding the mmsearch_gym package
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        code = "import sys; from mmsearch_gym.tasks.spatial_draw.remote import serve; serve(*map(int, sys.argv[1:]))"
        args = [sys.executable, "-c", code, str(theirs.fileno()), str(supersample), str(shadow_size)]
        self._proc = subprocess.Popen(args, pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL)
        theirs.close()
        self._conn = Connection(ours.detach())
        self._pid = os.getpid()
        _LIVE.add(self)
        if not self._conn.poll(START_TIMEOUT_S):
            self.close()
            raise EGLUnavailable(f"the renderer process did not start within {START_TIMEOUT_S:.0f} s")
        self._reply()  # "ready", or the EGL error it met

    def _reply(self) -> Any:
        try:
            status, value = self._conn.recv()
        except (EOFError, OSError) as err:
            raise EGLUnavailable(f"the renderer process (pid {self._proc.pid}) ended: {err or 'connection closed'}") from err
        if status == "error":
            raise EGLUnavailable(f"renderer process: {value}")
        return value

    def _call(self, *msg: Any) -> Any:
        if self._conn is None:
            raise RuntimeError("this renderer was closed")
        try:
            self._conn.send(msg)
        except OSError as err:
            raise EGLUnavailable(f"the renderer process (pid {self._proc.pid}) is gone: {err}") from err
        return self._reply()

    def load(self, vertices: np.ndarray, key: Any = None) -> None:
        self._call("load", np.ascontiguousarray(vertices, dtype="f4"), key)

    def render(self, camera: Camera, env: Environment) -> Frame:
        return self._call("render", camera, env)

    def close(self) -> None:
        """Ask the helper to stop and reap it (in the process that started it; a fork only drops its copy)."""
        conn, self._conn = getattr(self, "_conn", None), None
        if conn is None:
            return
        if os.getpid() == self._pid:
            try:
                conn.send(("close",))
            except OSError:
                pass
            conn.close()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        else:
            conn.close()

    def __del__(self) -> None:
        self.close()


def _drop_inherited() -> None:
    """In a forked child: close the sockets of the parent's helpers (theirs to use, not ours)."""
    for r in list(_LIVE):
        if r._conn is not None and r._pid != os.getpid():
            r._conn.close()
            r._conn = None


os.register_at_fork(after_in_child=_drop_inherited)


def serve(fd: int, supersample: int, shadow_size: int) -> None:
    """The helper's loop: answer ``load`` / ``render`` / ``close`` messages until the socket closes."""
    from .render import GLRenderer

    conn = Connection(fd)
    try:
        renderer = GLRenderer(supersample, shadow_size)
    except Exception as err:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(("error", str(err)))
        return
    conn.send(("ready", None))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "close":
            return
        try:
            if msg[0] == "load":
                conn.send(("ok", renderer.load(msg[1], msg[2])))
            elif msg[0] == "render":
                conn.send(("ok", renderer.render(msg[1], msg[2])))
            else:
                conn.send(("error", f"unknown request {msg[0]!r}"))
        except Exception as err:  # noqa: BLE001 - the parent raises it
            conn.send(("error", f"{type(err).__name__}: {err}"))
