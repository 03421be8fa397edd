"""Image generation backends: ``generator(prompt, references, seed) -> uint8 H×W×3``.

- :class:`~.generate_offline.OfflineGenerator` (default): composes the cited references and
  what the prompt states with the world's renderer; deterministic, no model.
- :class:`DiffusersGenerator`: a local ``diffusers`` pipeline from a folder (``pip install
  mmsearch-gym[diffusers]``); never downloads. The first reference goes in as ``image=`` when
  the pipeline takes one (image-to-image and editing pipelines).
- :class:`HTTPImageGenerator`: an OpenAI-compatible images API over httpx:
  ``/images/generations`` without references, ``/images/edits`` (multipart, ``image[]``) with
  them; ``b64_json`` replies only (an image url would be a fetch of an address the server picks).

Every failure is a :class:`GenerationError` with a step-error kind (``timeout``,
``backend_down``, ``tool_failed``, ``bad_arguments``) and a message safe to show; the env
turns it into reward 0, as Gen-Searcher's release does for a failed generation.
"""

from __future__ import annotations

import base64
import binascii
import io
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from ..core.failures import StepError
from .generate_offline import OfflineGenerator

GENERATOR_KINDS = ("offline", "diffusers", "http")
_IMAGES_SCHEMA = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "array", "minItems": 1, "items": {"type": "object"}}},
}


class GenerationError(RuntimeError):
    """A generation that failed; ``kind`` is a :class:`StepError`."""

    def __init__(self, kind: StepError | str, message: str):
        super().__init__(message)
        self.kind = StepError(kind)


class Generator(Protocol):
    name: str

    def __call__(self, prompt: str, references: Sequence[np.ndarray] = (), seed: int = 0) -> np.ndarray: ...


def decode_image(data: bytes, max_pixels: int = 16_000_000) -> np.ndarray:
    """RGB array of encoded image bytes; the size is checked from the header before any pixel is decoded."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
            if w < 1 or h < 1 or w * h > max_pixels:
                raise GenerationError(StepError.TOOL_FAILED, f"the generated image is {w}×{h}, over {max_pixels} pixels")
            return np.asarray(im.convert("RGB"))
    except GenerationError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise GenerationError(StepError.TOOL_FAILED, f"the generated image could not be decoded ({err})") from None


def _png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image[:, :, :3]).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


class HTTPImageGenerator:
    """An OpenAI-compatible images endpoint.

    Args:
        base_url: server address (``/v1`` is added unless present), e.g. ``http://127.0.0.1:8000``.
        model: model name sent with each request; size: ``"WIDTHxHEIGHT"``.
        api_key_env: environment variable holding the key (sent as ``Authorization: Bearer``); keys are never arguments.
        max_refs: references sent to ``/images/edits`` (Gen-Searcher's editor: 3); timeout_s, retries,
            backoff_s: per request, extra attempts on timeouts/5xx/429, first wait between them.
        max_bytes: largest accepted base64 reply; max_pixels: largest accepted image.
    """

    name = "http"

    def __init__(
        self,
        base_url: str,
        model: str,
        size: str = "1024x1024",
        api_key_env: str | None = None,
        max_refs: int = 3,
        timeout_s: float = 120.0,
        retries: int = 2,
        backoff_s: float = 1.0,
        max_bytes: int = 40_000_000,
        max_pixels: int = 16_000_000,
    ):
        from ..search.http import HttpClient

        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) url such as http://127.0.0.1:8000/v1, got {base_url!r}")
        if not isinstance(model, str) or not model:
            raise ValueError(f"model must be the served model's name, got {model!r}")
        if not isinstance(size, str) or not size.replace("x", "", 1).isdigit():
            raise ValueError(f"size must look like '1024x1024', got {size!r}")
        url = base_url.rstrip("/")
        self.base = url if url.endswith("/v1") else url + "/v1"
        self.model, self.size, self.max_refs, self.max_bytes, self.max_pixels = model, size, max_refs, max_bytes, max_pixels
        header = {"Authorization": api_key_env} if api_key_env else {}
        self.client = HttpClient(
            self.base, f"the image generator {model} at {self.base}", timeout_s=timeout_s, retries=retries,
            backoff_s=backoff_s, deadline_s=(retries + 1) * timeout_s + backoff_s * 2 ** (retries + 1),
            secret_env=header, secret_prefix={"Authorization": "Bearer "} if header else None,
        )  # fmt: skip

    def __call__(self, prompt: str, references: Sequence[np.ndarray] = (), seed: int = 0) -> np.ndarray:
        from ..search.base import BackendError

        fields = {"model": self.model, "prompt": prompt, "n": "1", "size": self.size, "response_format": "b64_json"}
        refs = list(references)[: self.max_refs]
        try:
            if refs:
                body, ctype = _multipart(fields, [("image[]", f"ref{i}.png", _png(r)) for i, r in enumerate(refs)])
                data = self.client.post_json("images/edits", content=body, content_type=ctype, schema=_IMAGES_SCHEMA)
            else:
                data = self.client.post_json("images/generations", {**fields, "n": 1}, schema=_IMAGES_SCHEMA)
        except BackendError as err:
            raise GenerationError(err.kind, str(err)) from None
        b64 = data["data"][0].get("b64_json")
        if not isinstance(b64, str) or not b64:
            raise GenerationError(StepError.TOOL_FAILED, f"{self.client.name} sent no b64_json image (urls are not fetched)")
        if len(b64) > self.max_bytes:
            raise GenerationError(StepError.TOOL_FAILED, f"{self.client.name} sent an image over {self.max_bytes} bytes")
        try:
            raw = base64.b64decode(b64.split(",", 1)[-1], validate=True)
        except (binascii.Error, ValueError):
            raise GenerationError(StepError.TOOL_FAILED, f"{self.client.name} sent malformed base64") from None
        return decode_image(raw, self.max_pixels)

    def close(self) -> None:
        self.client.close()


def _multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for key, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    for key, filename, data in files:
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"; filename="{filename}"\r\n'
        out.write(f"{head}Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


class DiffusersGenerator:
    """A ``diffusers`` pipeline loaded from a local folder (``local_files_only``: nothing is downloaded).

    Args: path: the pipeline folder; steps, guidance_scale: sampling settings; width, height: output
    size (text-to-image pipelines); device: ``"cpu"``, ``"cuda"`` …
    """

    name = "diffusers"

    def __init__(self, path: str | Path, steps: int = 20, guidance_scale: float = 4.0, width: int = 512,
                 height: int = 384, device: str = "cpu"):  # fmt: skip
        path = Path(path)
        if not path.is_dir():
            raise ValueError(f"path must be a local diffusers pipeline folder, got {str(path)!r} (not a folder)")
        try:
            import diffusers
        except ImportError:
            raise ImportError("the diffusers backend needs `pip install mmsearch-gym[diffusers]`") from None
        import inspect

        self.pipe = diffusers.DiffusionPipeline.from_pretrained(str(path), local_files_only=True).to(device)
        self.takes_image = "image" in inspect.signature(self.pipe.__call__).parameters
        self.steps, self.guidance_scale, self.width, self.height, self.device = steps, guidance_scale, width, height, device

    def __call__(self, prompt: str, references: Sequence[np.ndarray] = (), seed: int = 0) -> np.ndarray:
        import torch

        kwargs: dict[str, Any] = {"num_inference_steps": self.steps, "guidance_scale": self.guidance_scale,
                                  "generator": torch.Generator(self.device).manual_seed(seed)}  # fmt: skip
        if references and self.takes_image:
            kwargs["image"] = Image.fromarray(np.ascontiguousarray(references[0][:, :, :3]))
        else:
            kwargs.update(width=self.width, height=self.height)
        try:
            out = self.pipe(prompt=prompt, **kwargs).images[0]
        except Exception as err:  # a pipeline bug or out-of-memory must not end the episode
            raise GenerationError(StepError.TOOL_FAILED, f"the diffusers pipeline failed: {type(err).__name__}: {err}") from None
        arr = np.asarray(out.convert("RGB") if isinstance(out, Image.Image) else out)
        if arr.dtype != np.uint8:
            arr = np.clip(np.rint(arr * (255.0 if arr.max(initial=0) <= 1.0 else 1.0)), 0, 255).astype(np.uint8)
        return arr


def make_generator(spec: Any = None) -> Generator:
    """``None``/``"offline"`` → :class:`OfflineGenerator`; a dict with ``kind`` in :data:`GENERATOR_KINDS`
    and that class's arguments; or a generator (any callable with a ``name``), returned as is."""
    if spec is None:
        return OfflineGenerator()
    if callable(spec) and hasattr(spec, "name"):
        return spec
    if isinstance(spec, str):
        spec = {"kind": spec}
    if not isinstance(spec, dict):
        raise TypeError(
            f"generator {spec!r}: use None, 'offline', or a dict with 'kind' in {GENERATOR_KINDS}, e.g. "
            "{'kind': 'http', 'base_url': 'http://127.0.0.1:8000/v1', 'model': 'qwen-image-edit'}"
        )
    kwargs = dict(spec)
    kind = kwargs.pop("kind", None)
    classes = {"offline": OfflineGenerator, "diffusers": DiffusersGenerator, "http": HTTPImageGenerator}
    if kind not in classes:
        raise ValueError(f"unknown generator kind {kind!r}; known kinds: {', '.join(GENERATOR_KINDS)}")
    try:
        return classes[kind](**kwargs)
    except TypeError as err:
        raise ValueError(f"generator {kind!r}: {err}") from None


__all__ = ["GENERATOR_KINDS", "DiffusersGenerator", "GenerationError", "Generator", "HTTPImageGenerator",
           "OfflineGenerator", "decode_image", "make_generator"]  # fmt: skip
