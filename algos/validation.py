"""Input checks shared by the batch and the core ops: errors name the offending samples."""

from __future__ import annotations

import torch
from torch import Tensor

_MAX_LISTED = 10


def sample_list(bad: Tensor) -> str:
    """``bad`` is a [B] bool tensor; render the indices that are True, capped at 10."""
    idx = torch.nonzero(bad, as_tuple=False).flatten().tolist()
    shown = ", ".join(map(str, idx[:_MAX_LISTED]))
    more = f" and {len(idx) - _MAX_LISTED} more" if len(idx) > _MAX_LISTED else ""
    return f"[{shown}{more}]"


def check_finite(values: Tensor, what: str) -> None:
    """Raise ValueError naming the samples whose ``values`` hold NaN or inf.

    ``values`` is [B] or [B, T]; a row counts as bad when any of its entries is.
    """
    if values.is_floating_point() and bool(torch.isfinite(values.sum())):
        return  # one reduction in the common case; a non-finite entry makes the sum non-finite
    bad = ~torch.isfinite(values)
    if bad.ndim > 1:
        bad = bad.flatten(1).any(dim=1)
    if bool(bad.any()):
        raise ValueError(f"{what} must be finite; NaN or inf in samples {sample_list(bad)}")


def check_shape(t: Tensor, shape: tuple[int, ...], what: str) -> None:
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{what} has shape {tuple(t.shape)}, expected {tuple(shape)}")


def as_mask(t: Tensor, what: str) -> Tensor:
    """A 0/1 or bool tensor as bool; anything else is an error (a float mask of 0.5 is a bug)."""
    if t.dtype == torch.bool:
        return t
    if not _is_binary(t):
        raise ValueError(f"{what} must hold only 0 and 1 (or be bool), found other values")
    return t != 0


def _is_binary(t: Tensor) -> bool:
    return bool(((t == 0) | (t == 1)).all())
