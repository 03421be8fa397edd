"""Which implementation runs: Triton on CUDA tensors, torch elsewhere.

``MMSEARCH_KERNELS`` overrides the choice (read at every call, so a test or a script can
switch it): ``triton`` forces the kernels (CUDA tensors, or any tensors under the Triton
CPU interpreter, ``TRITON_INTERPRET=1``), ``torch`` forces the torch path, ``auto`` or
unset picks. Nothing here imports triton: the kernel modules are imported only when a
kernel is about to run, so ``import algos`` works where triton is not installed.
"""

from __future__ import annotations

import importlib.util
import os

import torch

ENV_VAR = "MMSEARCH_KERNELS"
CHOICES = ("auto", "triton", "torch")


def triton_available() -> bool:
    try:
        return importlib.util.find_spec("triton") is not None
    except (ImportError, ValueError):
        return False


def interpreting() -> bool:
    """True under the Triton CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0").strip() not in ("", "0")


def backend(device: torch.device | str) -> str:
    """``"triton"`` or ``"torch"`` for tensors on ``device``; see the module docstring."""
    choice = os.environ.get(ENV_VAR, "").strip().lower() or "auto"
    if choice not in CHOICES:
        raise ValueError(f"{ENV_VAR}={choice!r} is not one of {', '.join(CHOICES)}")
    device = torch.device(device)
    if choice == "torch":
        return "torch"
    if choice == "triton":
        if not triton_available():
            raise ImportError(
                f"{ENV_VAR}=triton but triton is not installed: pip install 'mmsearch-gym[triton]', "
                f"or set {ENV_VAR}=torch"
            )
        if device.type != "cuda" and not interpreting():
            raise RuntimeError(
                f"{ENV_VAR}=triton needs CUDA tensors (got {device.type}); set TRITON_INTERPRET=1 before "
                f"importing triton to run the kernels on the CPU interpreter, or {ENV_VAR}=torch"
            )
        return "triton"
    return "triton" if device.type == "cuda" and triton_available() else "torch"
