"""Policy specs: one string names any policy, for ``eval`` and every command that plays one.

    make_policy("http://127.0.0.1:8000/v1", model="qwen2.5-vl-7b")  # OpenAI-compatible server
    make_policy("hf:runs/tiny")                                   # local transformers model directory
    make_policy("vllm:/models/qwen2.5-vl-7b")                     # vLLM's offline engine (extra ``vllm``)
    make_policy("oracle")                                         # scripted: oracle, random, single_search, …
    make_policy("scripted:no_vision")                             # any env's own agent (``scripted_action(name)``)

Every result works with :class:`algos.rollout.RolloutEngine`. An HTTP spec is checked up
front against ``GET /models``: an unreachable server or a model it does not serve is an
error that says what to do, before any episode starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import httpx

from algos.rollout.base import PolicyError
from mmsearch_gym.policies import POLICY_NAMES

PolicyKind = Literal["http", "hf", "vllm", "scripted"]
SPEC_HELP = (
    "a policy is one of: http://HOST:PORT/v1 (with --model NAME), hf:PATH (a local model directory), "
    f"vllm:PATH, a scripted name ({', '.join(POLICY_NAMES)}), or scripted:NAME for an env's own agent"
)


class PolicySpecError(ValueError):
    """A policy spec that names no policy, or a server that cannot serve it."""


@dataclass(frozen=True)
class PolicySpec:
    """A parsed spec: ``kind`` and its ``target`` (base URL, model directory or scripted name)."""

    kind: PolicyKind
    target: str

    def __str__(self) -> str:
        return self.target if self.kind in ("http", "scripted") else f"{self.kind}:{self.target}"


def parse_policy_spec(spec: str) -> PolicySpec:
    """Parse ``spec`` (see the module docstring); raises :class:`PolicySpecError` naming the valid forms."""
    if not isinstance(spec, str) or not spec.strip():
        raise PolicySpecError(f"empty policy spec; {SPEC_HELP}")
    spec = spec.strip()
    if spec.startswith(("http://", "https://")):
        url = httpx.URL(spec)
        if not url.host:
            raise PolicySpecError(f"policy URL {spec!r} has no host; e.g. http://127.0.0.1:8000/v1")
        return PolicySpec("http", spec.rstrip("/"))
    kind, sep, rest = spec.partition(":")
    if sep and kind in ("hf", "vllm", "scripted"):
        if not rest:
            raise PolicySpecError(f"{spec!r} names no {'agent' if kind == 'scripted' else 'model directory'}")
        return PolicySpec(kind, rest)  # type: ignore[arg-type]
    if spec in POLICY_NAMES:
        return PolicySpec("scripted", spec)
    raise PolicySpecError(f"unknown policy {spec!r}; {SPEC_HELP}")


def check_endpoint(base_url: str, model: str, api_key: str | None = None, timeout: float = 10.0) -> list[str]:
    """The model ids ``base_url`` serves (``GET {base_url}/models``); raises unless ``model`` is one of them.

    A server without a ``/models`` route (some proxies answer 404) is accepted: the first chat
    request will tell whether the model exists.
    """
    url = base_url.rstrip("/") + "/models"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        resp = httpx.get(url, headers=headers, timeout=timeout)
    except httpx.HTTPError as err:
        raise PolicySpecError(
            f"cannot reach the policy server at {base_url} ({type(err).__name__}: {err}); start it "
            "(e.g. `vllm serve MODEL --port 8000`) or fix the URL"
        ) from None
    if resp.status_code == 404:
        return []
    if resp.status_code in (401, 403):
        raise PolicySpecError(f"{url} answered HTTP {resp.status_code}: set the API key (--api-key-env VAR)")
    if resp.status_code != 200:
        raise PolicySpecError(f"{url} answered HTTP {resp.status_code}: {resp.text[:200]!r}")
    try:
        served = [str(m["id"]) for m in resp.json()["data"]]
    except (ValueError, KeyError, TypeError):
        raise PolicySpecError(f"{url} did not answer with a model list: {resp.text[:200]!r}") from None
    if model not in served:
        listing = ", ".join(served[:20]) or "none"
        raise PolicySpecError(f"the server at {base_url} does not serve model {model!r}; it serves: {listing}")
    return served


def make_policy(
    spec: str,
    *,
    model: str | None = None,
    api_key: str | None = None,
    timeout: float = 120.0,
    max_retries: int = 2,
    max_concurrency: int = 16,
    extra_body: dict[str, Any] | None = None,
    check: bool = True,
    device: str = "cpu",
    dtype: Any = None,
    seed: int = 0,
    llm_kwargs: dict[str, Any] | None = None,
    send_images: bool = True,
) -> Any:
    """The policy ``spec`` names: an ``HTTPPolicy``, ``HFPolicy``, ``VLLMPolicy`` or ``ScriptedTextPolicy``.

    Args:
        model: the served model's name (HTTP specs only, required there).
        api_key: bearer token for the server; read it from an environment variable, never a file.
        max_concurrency: HTTP requests in flight at once.
        check: ask the server which models it serves before returning (HTTP).
        device, dtype: where an ``hf:`` model is loaded.
        seed: the random agent's seed, vLLM's seed.
        llm_kwargs: passed to ``vllm.LLM`` (``gpu_memory_utilization``, ``max_model_len`` …).
        send_images: False for a text-only served model (HTTP): messages go without their images.
    """
    parsed = parse_policy_spec(spec)
    if parsed.kind != "http" and model is not None:
        raise PolicySpecError(f"--model names a served model; {str(parsed)!r} is not an HTTP policy")
    if parsed.kind == "http":
        from algos.rollout.http import HTTPPolicy

        if not model:
            raise PolicySpecError(f"an HTTP policy needs the served model's name: --model NAME (for {parsed.target})")
        if check:
            check_endpoint(parsed.target, model, api_key, timeout=min(timeout, 30.0))
        return HTTPPolicy(
            parsed.target,
            model,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            max_concurrency=max_concurrency,
            extra_body=extra_body,
            send_images=send_images,
        )
    if parsed.kind == "hf":
        from algos.rollout.hf import HFPolicy

        return HFPolicy.from_pretrained(parsed.target, device=device, dtype=dtype)
    if parsed.kind == "vllm":
        from algos.rollout.vllm import VLLMPolicy

        return VLLMPolicy(parsed.target, seed=seed, **(llm_kwargs or {}))
    from algos.rollout.scripted import ScriptedTextPolicy
    from mmsearch_gym.policies import EnvAgentPolicy

    if parsed.target in POLICY_NAMES:
        return ScriptedTextPolicy(parsed.target, seed=seed)
    return ScriptedTextPolicy(EnvAgentPolicy(parsed.target))


__all__ = [
    "SPEC_HELP",
    "PolicyError",
    "PolicySpec",
    "PolicySpecError",
    "check_endpoint",
    "make_policy",
    "parse_policy_spec",
]
