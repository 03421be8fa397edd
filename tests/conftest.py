"""Shared test set-up."""

import os
import shutil

# Triton kernels run under the interpreter when there is no GPU; it must be set before
# any kernel module is imported, so it is decided here without importing torch.
if not shutil.which("nvidia-smi") and "TRITON_INTERPRET" not in os.environ:
    os.environ["TRITON_INTERPRET"] = "1"
