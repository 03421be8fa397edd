"""Per-episode image store: every image an episode sees gets an id ``img_1``, ``img_2``, …"""

from __future__ import annotations

import re

import numpy as np

# At most 9 digits: ids are small, and ``int()`` of a 4300-digit string raises (Python's int limit).
_REF = re.compile(r"^\s*<?\s*(?:img|image)[ _-]?(\d{1,9})\s*>?\s*$", re.IGNORECASE)
MAX_ID_NUMBER = 10**9


DEFAULT_MAX_BYTES = 256 * 2**20  # per episode: ~5 images of 4096×4096, ~340 of 512×512


def _shown(ref: object) -> str:
    """A short, always printable form of a reference (``str()`` of a 5000-digit int raises)."""
    if isinstance(ref, str):
        return repr(ref[:40] + ("…" if len(ref) > 40 else ""))
    if isinstance(ref, int) and not isinstance(ref, bool) and abs(ref) >= MAX_ID_NUMBER:
        return f"a {ref.bit_length()}-bit integer"
    try:
        return repr(str(ref)[:40])
    except Exception:  # a hostile __str__
        return f"a {type(ref).__name__}"


class ImageRefError(LookupError):
    """An image id that does not exist in this episode; the message lists the valid ones."""


class ImageLimitError(ValueError):
    """An image over the size bounds, or one image too many for the episode."""


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as a contiguous uint8 H×W×3 array (gray and RGBA are converted)."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ImageLimitError(f"expected an H×W×3 image, got shape {arr.shape}")
    arr = arr[:, :, :3]
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
            raise ImageLimitError("image has NaN or infinite values")
        scale = 255.0 if np.issubdtype(arr.dtype, np.floating) and arr.max(initial=0) <= 1.0 else 1.0
        arr = np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


class ImageStore:
    """Images of one episode, addressed by id; a tool's new image gets the next id.

    Args:
        max_images: most images one episode may hold (VILASR allows 45).
        max_side: longest accepted height or width in pixels.
        max_pixels: largest accepted H×W.
        max_bytes: most bytes all the episode's images may hold together (a count alone lets
            45 large images pin ~2 GB); an image that would go over is refused.
    """

    def __init__(
        self,
        max_images: int = 45,
        max_side: int = 4096,
        max_pixels: int = 16_000_000,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ):
        for name, value in (
            ("max_images", max_images), ("max_side", max_side), ("max_pixels", max_pixels), ("max_bytes", max_bytes)
        ):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.max_images, self.max_side, self.max_pixels, self.max_bytes = max_images, max_side, max_pixels, max_bytes
        self._images: dict[str, np.ndarray] = {}
        self._sources: dict[str, str] = {}
        self.nbytes = 0  # bytes held by the stored images

    def clear(self) -> None:
        self._images.clear()
        self._sources.clear()
        self.nbytes = 0

    def check(self, image: np.ndarray) -> np.ndarray:
        """Validate ``image`` against the bounds and return it as uint8 H×W×3."""
        arr = as_rgb_uint8(image)
        h, w = arr.shape[:2]
        if h < 1 or w < 1:
            raise ImageLimitError(f"image has zero area ({w}×{h})")
        if max(h, w) > self.max_side or h * w > self.max_pixels:
            raise ImageLimitError(
                f"image {w}×{h} is over the limits (side ≤ {self.max_side}, pixels ≤ {self.max_pixels})"
            )
        return arr

    def add(self, image: np.ndarray, source: str = "") -> str:
        """Store a read-only copy of ``image`` (the caller's array is left as it was) and return its new id."""
        if len(self._images) >= self.max_images:
            raise ImageLimitError(f"this episode already holds {self.max_images} images, the most allowed")
        arr = self.check(image)
        if self.nbytes + arr.nbytes > self.max_bytes:
            raise ImageLimitError(
                f"this episode's images already hold {self.nbytes / 1e6:.1f} MB; a new {arr.shape[1]}×{arr.shape[0]} "
                f"image ({arr.nbytes / 1e6:.1f} MB) would pass the limit of {self.max_bytes / 1e6:.1f} MB. "
                "Work on smaller images (crop first, upscale less)."
            )
        if isinstance(image, np.ndarray) and np.may_share_memory(arr, image):
            arr = arr.copy()  # e.g. a search backend's cached thumbnail: episodes must not share it
        arr.setflags(write=False)
        image_id = f"img_{len(self._images) + 1}"
        self._images[image_id] = arr
        self._sources[image_id] = source
        self.nbytes += arr.nbytes
        return image_id

    def resolve(self, ref: object) -> str:
        """Normalise a reference (``"img_2"``, ``"image 2"``, ``2``) to a stored id."""
        image_id = None
        if isinstance(ref, (int, np.integer)) and not isinstance(ref, bool) and 0 < ref < MAX_ID_NUMBER:
            image_id = f"img_{int(ref)}"
        elif isinstance(ref, str) and len(ref) < 64 and (m := _REF.match(ref)):
            image_id = f"img_{int(m.group(1))}"
        if image_id is None or image_id not in self._images:
            valid = ", ".join(self._images) or "none yet"
            raise ImageRefError(f"Unknown image {_shown(ref)}; valid ids are: {valid}.")
        return image_id

    def get(self, ref: object) -> np.ndarray:
        return self._images[self.resolve(ref)]

    def source(self, ref: object) -> str:
        return self._sources[self.resolve(ref)]

    @property
    def ids(self) -> list[str]:
        return list(self._images)

    @property
    def latest(self) -> str | None:
        return next(reversed(self._images), None)

    def __len__(self) -> int:
        return len(self._images)

    def __contains__(self, ref: object) -> bool:
        try:
            self.resolve(ref)
        except ImageRefError:
            return False
        return True
