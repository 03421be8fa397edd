"""kernels.fused_linear_logprobs: same numbers and gradients as lm_head + log-softmax, never the N x V logits."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from algos import kernels
from algos.kernels import reference
from algos.kernels.fused_linear import default_chunk_size

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture(params=["triton", "torch"])
def backend(request, monkeypatch):
    if request.param == "triton":
        pytest.importorskip("triton")
    monkeypatch.setenv(kernels.ENV_VAR, request.param)
    return request.param


def _inputs(n, h, v, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, h, generator=g).to(dtype).to(DEVICE)
    weight = (torch.randn(v, h, generator=g) / h**0.5 * 3).to(dtype).to(DEVICE)
    targets = torch.randint(0, v, (n,), generator=g)
    targets[0] = -100
    grads = torch.randn(2, n, generator=g).to(DEVICE)
    return hidden, weight, targets.to(DEVICE), grads[0], grads[1]


def _grads(fn, hidden, weight, targets, temperature, g_logp, g_entropy, **kw):
    h = hidden.detach().clone().requires_grad_()
    w = weight.detach().clone().requires_grad_()
    logp, entropy = fn(h, w, targets, temperature, **kw)
    (logp * g_logp.to(logp.dtype) + entropy * g_entropy.to(logp.dtype)).sum().backward()
    return logp, entropy, h.grad, w.grad


@pytest.mark.parametrize(
    "n, h, v, temperature, chunk_size",
    [
        (37, 24, 1009, 0.7, 8),  # prime V, last chunk of 5 rows
        (37, 24, 1009, 1.0, None),
        (4, 16, 151936, 1.0, 3),
    ],
)
def test_fp32_matches_fp64_reference(backend, n, h, v, temperature, chunk_size):
    inputs = _inputs(n, h, v, torch.float32, seed=n + v)
    logp, entropy, gh, gw = _grads(
        kernels.fused_linear_logprobs, *inputs[:3], temperature, *inputs[3:], chunk_size=chunk_size
    )
    double = [t.double() if t.is_floating_point() else t for t in inputs]
    t_logp, t_entropy, t_gh, t_gw = _grads(reference.fused_linear_logprobs, *double[:3], temperature, *double[3:])
    # the fp32 matmul's rounding of the logits (~1e-6 relative) is most of the kernel's error;
    # the torch path adds that of torch's fp32 log_softmax over V columns
    tol = 2e-5 if backend == "triton" else 2e-4
    torch.testing.assert_close(logp.double(), t_logp, rtol=0, atol=tol)
    torch.testing.assert_close(entropy.double(), t_entropy, rtol=0, atol=tol)
    # grad_hidden sums V products in fp32 (cuBLAS/MKL): its error scales with the largest entry
    for got, truth in ((gh, t_gh), (gw, t_gw)):
        assert (got.double() - truth).abs().max() <= 1e-4 * truth.abs().max()


def _chunked_lm_head(hidden, weight, targets, temperature, chunk):
    # the reference on logits from the same matmul calls as the fused path's (a bf16 GEMM's
    # rounding may depend on the number of rows), so that only the log-prob math differs
    logits = torch.cat([hidden[a : a + chunk] @ weight.t() for a in range(0, hidden.shape[0], chunk)])
    return reference.logprobs(logits, targets, temperature)


def test_bf16_matches_reference_on_the_same_bf16_logits(backend):
    inputs = _inputs(19, 32, 1009, torch.bfloat16, seed=1)
    logp, entropy, gh, gw = _grads(kernels.fused_linear_logprobs, *inputs[:3], 0.7, *inputs[3:], chunk_size=4)
    t_logp, t_entropy, t_gh, t_gw = _grads(
        lambda h, w, t, temp: _chunked_lm_head(h, w, t, temp, 4), *inputs[:3], 0.7, *inputs[3:]
    )
    assert gh.dtype == gw.dtype == torch.bfloat16
    torch.testing.assert_close(logp, t_logp, rtol=0, atol=1e-5)
    torch.testing.assert_close(entropy, t_entropy, rtol=0, atol=1e-5)
    # bf16 gradients: the logits' gradient is rounded to bf16 in both; grad_weight sums chunks in bf16
    for got, truth in ((gh, t_gh), (gw, t_gw)):
        assert (got.float() - truth.float()).abs().max() <= 2e-2 * truth.float().abs().max()


def test_frozen_weight_gets_no_gradient(backend):
    hidden, weight, targets, g_logp, _ = _inputs(9, 8, 301, torch.float32, seed=2)
    h = hidden.clone().requires_grad_()
    logp, _ = kernels.fused_linear_logprobs(h, weight, targets, chunk_size=4)
    (logp * g_logp).sum().backward()
    assert weight.grad is None and h.grad is not None
    ref_h = hidden.double().requires_grad_()
    (reference.fused_linear_logprobs(ref_h, weight.double(), targets)[0] * g_logp.double()).sum().backward()
    torch.testing.assert_close(h.grad.double(), ref_h.grad, rtol=1e-4, atol=1e-6)


class _LargestTensor(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel() * t.element_size())  # bytes
        return out


def test_never_materialises_the_logits(backend):
    n, h, v, chunk = 64, 8, 997, 16
    hidden, weight, targets, g_logp, g_entropy = _inputs(n, h, v, torch.float32, seed=3)
    h_, w_ = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    with _LargestTensor() as seen:
        logp, entropy = kernels.fused_linear_logprobs(h_, w_, targets, chunk_size=chunk)
        (logp * g_logp + entropy * g_entropy).sum().backward()
    assert seen.largest <= chunk * v * 4 < n * v * 4  # fp32 bytes


def test_default_chunk_size():
    assert default_chunk_size(16384, 151936, 4096) == 2048  # an eighth of N (Liger's rule: 512)
    assert default_chunk_size(8192, 32000, 1024, element_size=4) == 1024
    assert default_chunk_size(1 << 20, 151936, 4096) == 3533  # 1 GiB of bf16 logits at most
    assert default_chunk_size(4096, 151936, 1024) == 512
    assert default_chunk_size(3, 151936, 16) == 3
    assert default_chunk_size(10, 50, 64) == 10


def test_leading_dims_and_shape_errors(backend):
    hidden, weight, targets, _, _ = _inputs(6, 8, 50, torch.float32, seed=4)
    logp, entropy = kernels.fused_linear_logprobs(hidden.view(2, 3, 8), weight, targets.view(2, 3))
    assert logp.shape == entropy.shape == (2, 3)
    with pytest.raises(ValueError, match=r"weight \[V, H\]"):
        kernels.fused_linear_logprobs(hidden, weight.t(), targets)
