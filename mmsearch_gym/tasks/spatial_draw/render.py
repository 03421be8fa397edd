"""The SpatialDraw renderer: OpenGL 3.3 through moderngl on Mesa's software EGL (llvmpipe).

Why this and not a numpy rasteriser: on the same 24k-triangle scene at 448×336 the GL path
takes ~10 ms a frame with shading, against ~230 ms for a vectorised numpy z-buffer that only
fills object ids (measured when this was chosen); frame sequences need
several frames per reset. Output is byte-identical across runs and llvmpipe thread counts.

One pass draws colour (Lambert + ambient, a shadow map with 3×3 PCF, procedural materials:
wood, tiles, grass, asphalt, facades, a cutting mat's grid, water, fabric) and object ids
(an integer attachment) with a z-buffer, at ``supersample``× the output size; colour is then
area-averaged down. Ground-truth boxes are the extents of each object's visible id pixels.

Fork safety: Mesa's EGL state does not survive ``fork()`` (a forked child of a process that has
rendered hangs making its own context: the default ``AsyncVectorEnv`` case). :class:`Renderer`
renders in this process while that is safe, and in a fresh helper process
(:mod:`.remote`, started with ``exec``, never forked) once it finds itself in a child forked
after a GL context existed; it notices forks by pid, so one object keeps working on both sides.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from . import shaders
from .geometry import MATERIALS, Camera, Part


@dataclass
class Environment:
    """Light, sky and haze of a scene."""

    light_dir: tuple[float, float, float] = (-0.4, -1.0, -0.3)
    sky_top: tuple[float, float, float] = (0.45, 0.62, 0.85)
    sky_horizon: tuple[float, float, float] = (0.82, 0.87, 0.92)
    fog_dist: float = 0.0  # metres; 0 = no haze
    ambient: float = 0.42
    shadows: bool = True


@dataclass
class Frame:
    """One rendered view: the image, the id buffer (output size) and each object's visible box and pixel count."""

    image: np.ndarray
    ids: np.ndarray
    boxes: dict[int, tuple[int, int, int, int]]
    pixels: dict[int, int]


class EGLUnavailable(RuntimeError):
    """No OpenGL 3.3 context could be made."""


_CONTEXTS: dict[int, Any] = {}


def _load_triton_first() -> None:
    """Load Triton's native library before Mesa's, where Triton is installed.

    Both carry an LLVM: Mesa's llvmpipe loads ``libLLVM`` into the global symbol scope, and a
    ``libtriton`` loaded after it binds its own LLVM calls to that one and crashes (a segfault on
    ``import triton`` in a process that has rendered: the trainer, a test worker). Loaded first,
    libtriton stays local and each keeps its own LLVM.
    """
    if importlib.util.find_spec("triton") is None:
        return
    try:
        importlib.import_module("triton")
    except Exception:  # noqa: BLE001, S110 - a broken Triton only loses the kernels, not rendering
        pass


def gl_context() -> Any:
    """This process's moderngl context on Mesa's EGL (made on first use)."""
    pid = os.getpid()
    if pid not in _CONTEXTS:
        _load_triton_first()
        try:
            import moderngl
        except ImportError as err:
            raise EGLUnavailable("SpatialDraw renders with moderngl: pip install 'moderngl>=5.10'") from err
        try:
            _CONTEXTS[pid] = moderngl.create_standalone_context(backend="egl", require=330)
        except Exception as err:  # moderngl raises plain Exceptions when EGL is missing
            raise EGLUnavailable(
                f"could not create an OpenGL context through EGL ({err}); install Mesa's software renderer: "
                "apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri (make system-deps does it)"
            ) from err
    return _CONTEXTS[pid]


def pack(parts: list[tuple[int, Part]]) -> np.ndarray:
    """Vertex rows (pos 3, normal 3, colour 3, material, id) of every (object id, part)."""
    rows = []
    for oid, part in parts:
        pos, nrm = part.triangles()
        extra = np.array([*part.color, MATERIALS[part.material], oid], float)
        rows.append(np.hstack([pos, nrm, np.broadcast_to(extra, (len(pos), 5))]))
    return np.vstack(rows).astype("f4") if rows else np.zeros((0, 11), "f4")


class GLRenderer:
    """Renders packed scenes from cameras in this process; keeps its GL objects between calls.

    Args:
        supersample: render at this multiple of the output size, then area-average (anti-aliasing).
        shadow_size: side of the shadow map in texels.
    """

    def __init__(self, supersample: int = 1, shadow_size: int = 1024):
        self.ctx = gl_context()
        self.ss, self.shadow_size = supersample, shadow_size
        self.prog = self.ctx.program(vertex_shader=shaders.VERTEX, fragment_shader=shaders.FRAGMENT)
        self.shadow_prog = self.ctx.program(vertex_shader=shaders.SHADOW_VS, fragment_shader=shaders.SHADOW_FS)
        self.shadow_tex = self.ctx.depth_texture((shadow_size, shadow_size))
        self.shadow_tex.compare_func = ""
        self.shadow_fbo = self.ctx.framebuffer(depth_attachment=self.shadow_tex)
        self._fbos: dict[tuple[int, int], Any] = {}
        self._vbo: Any = None
        self._key: Any = None

    def _fbo(self, w: int, h: int) -> Any:
        if (w, h) not in self._fbos:
            self._fbos[(w, h)] = self.ctx.framebuffer(
                [self.ctx.renderbuffer((w, h), 4), self.ctx.renderbuffer((w, h), 1, dtype="i4")],
                self.ctx.depth_renderbuffer((w, h)),
            )
        return self._fbos[(w, h)]

    def load(self, vertices: np.ndarray, key: Any = None) -> None:
        """Upload a packed scene (skipped when ``key`` is the loaded one)."""
        if key is not None and key == self._key:
            return
        if self._vbo is not None:
            self._vbo.release()
        self._vbo = self.ctx.buffer(np.ascontiguousarray(vertices).tobytes())
        fmt = "3f 3f 3f 1f 1f"
        self.vao = self.ctx.vertex_array(self.prog, [(self._vbo, fmt, "in_pos", "in_nrm", "in_col", "in_mat", "in_id")])
        self.shadow_vao = self.ctx.vertex_array(self.shadow_prog, [(self._vbo, "3f 32x", "in_pos")])
        self._n = len(vertices)
        self._bounds = (vertices[:, :3].min(0), vertices[:, :3].max(0)) if len(vertices) else (np.zeros(3), np.ones(3))
        self._key = key

    def _light_vp(self, env: Environment) -> np.ndarray:
        lo, hi = self._bounds
        centre, radius = (lo + hi) / 2, float(np.linalg.norm(hi - lo) / 2) + 1e-6
        d = np.asarray(env.light_dir, float)
        d /= np.linalg.norm(d)
        cam = Camera(centre - d * radius * 2, centre, 60.0, 1, 1)
        ortho = np.diag([1 / radius, 1 / radius, -1 / radius, 1.0])
        ortho[2, 3] = -2.0  # view depth r … 3r (the scene's bounding sphere) → NDC −1 … 1
        return ortho @ cam.view

    def render(self, camera: Camera, env: Environment) -> Frame:
        """Draw the loaded scene from ``camera``; background is the sky gradient."""
        import moderngl

        w, h = camera.width * self.ss, camera.height * self.ss
        light_vp = self._light_vp(env).astype("f4")
        ctx = self.ctx
        ctx.enable(moderngl.DEPTH_TEST)
        ctx.disable(moderngl.CULL_FACE)
        if env.shadows:
            self.shadow_fbo.use()
            self.shadow_fbo.clear(depth=1.0)
            self.shadow_prog["u_light_vp"].write(light_vp.T.tobytes())
            self.shadow_vao.render()
        fbo = self._fbo(w, h)
        fbo.use()
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        vp = (camera.proj @ camera.view).astype("f4")
        prog = self.prog
        prog["u_vp"].write(vp.T.tobytes())
        prog["u_light_vp"].write(light_vp.T.tobytes())
        prog["u_light_dir"].value = tuple(float(v) for v in env.light_dir)
        prog["u_eye"].value = tuple(float(v) for v in camera.eye)
        prog["u_fog_col"].value = tuple(env.sky_horizon)
        prog["u_fog_dist"].value = float(env.fog_dist)
        prog["u_ambient"].value = float(env.ambient)
        prog["u_shadow_on"].value = 1.0 if env.shadows else 0.0
        self.shadow_tex.use(0)
        prog["u_shadow"].value = 0
        self.vao.render()
        rgba = np.frombuffer(fbo.read(components=4, attachment=0), np.uint8).reshape(h, w, 4)[::-1]
        ids = np.frombuffer(fbo.read(components=1, attachment=1, dtype="i4"), np.int32).reshape(h, w)[::-1]
        img = np.where(rgba[..., 3:] == 0, _sky(h, env), rgba[..., :3])  # nothing drawn: sky
        image = cv2.resize(img, (camera.width, camera.height), interpolation=cv2.INTER_AREA) if self.ss > 1 else img.copy()
        return _frame(image, ids, self.ss)


def gl_tainted() -> bool:
    """True in a child forked from a process that had made a GL context: no context can be made here."""
    return any(pid != os.getpid() for pid in _CONTEXTS)


PROCESS_MODES = ("auto", "local", "remote")


class Renderer:
    """Renders packed scenes from cameras, here or in a helper process, whichever is safe.

    Args:
        supersample: render at this multiple of the output size, then area-average (anti-aliasing).
        shadow_size: side of the shadow map in texels.
        process: ``"auto"`` renders in this process unless it was forked after a GL context
            existed (then in a helper process); ``"local"`` / ``"remote"`` force one.

    After a fork, the first call in the child makes a new backend and uploads the last loaded
    scene again, so an inherited renderer (and the env holding it) keeps working.
    """

    def __init__(self, supersample: int = 1, shadow_size: int = 1024, process: str = "auto"):
        if process not in PROCESS_MODES:
            raise ValueError(f"process must be one of {PROCESS_MODES}, got {process!r}")
        if isinstance(supersample, bool) or not isinstance(supersample, int) or not 1 <= supersample <= 4:
            raise ValueError(f"supersample must be an integer between 1 and 4, got {supersample!r}")
        self.ss, self.shadow_size, self.process = supersample, shadow_size, process
        self._pid = -1
        self._backend: Any = None
        self._loaded: tuple[np.ndarray, Any] | None = None
        self._get()  # fail here, not at the first render, when no context can be made

    @property
    def mode(self) -> str:
        """``"local"`` or ``"remote"``: where this process renders."""
        from .remote import RemoteRenderer

        return "remote" if isinstance(self._get(), RemoteRenderer) else "local"

    def _get(self) -> Any:
        if self._pid != os.getpid():
            from .remote import RemoteRenderer

            if self.process == "local" and gl_tainted():  # making a context here would hang
                raise EGLUnavailable("this process was forked after a GL context existed and cannot make one: "
                                     "use Renderer(process='auto') or 'remote'")  # fmt: skip
            remote = self.process == "remote" or (self.process == "auto" and gl_tainted())
            self._backend = (RemoteRenderer if remote else GLRenderer)(self.ss, self.shadow_size)
            self._pid = os.getpid()
            if self._loaded is not None:
                self._backend.load(*self._loaded)
        return self._backend

    def load(self, vertices: np.ndarray, key: Any = None) -> None:
        """Upload a packed scene (skipped when ``key`` is the loaded one)."""
        self._get().load(vertices, key)
        self._loaded = (vertices, key)

    def render(self, camera: Camera, env: Environment) -> Frame:
        """Draw the loaded scene from ``camera``; background is the sky gradient."""
        return self._get().render(camera, env)

    def close(self) -> None:
        """Stop the helper process, if any (a later call starts what it needs again)."""
        if self._pid == os.getpid() and hasattr(self._backend, "close"):
            self._backend.close()
        self._pid, self._backend = -1, None


def _sky(h: int, env: Environment) -> np.ndarray:
    t = np.linspace(0.0, 1.0, h)[:, None] ** 0.7
    col = (1 - t) * np.asarray(env.sky_top) + t * np.asarray(env.sky_horizon)
    return (np.clip(col, 0, 1) * 255).astype(np.uint8)[:, None, :]


def _frame(image: np.ndarray, ids_ss: np.ndarray, ss: int) -> Frame:
    """Boxes (output pixels) and visible pixel counts (output pixels) per object id from the supersampled ids."""
    boxes, pixels = {}, {}
    flat = ids_ss.ravel()
    counts = np.bincount(flat[flat > 0]) if (flat > 0).any() else np.zeros(1, int)
    ys, xs = np.nonzero(ids_ss > 0)
    vals = ids_ss[ys, xs]
    for oid in np.nonzero(counts)[0]:
        sel = vals == oid
        x, y = xs[sel], ys[sel]
        boxes[int(oid)] = (int(x.min()) // ss, int(y.min()) // ss, -(-(int(x.max()) + 1) // ss), -(-(int(y.max()) + 1) // ss))
        pixels[int(oid)] = int(counts[oid]) // (ss * ss)
    ids = ids_ss[::ss, ::ss].copy()
    return Frame(image, ids, boxes, pixels)
