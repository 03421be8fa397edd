"""``mmsearch_gym``: a verl agent loop that plays one env episode per trajectory with our rollout engine.

verl's ``ToolAgentLoop`` creates and releases a tool per call, rejects ``ToolResponse(image=None)``
and drops tool metadata; this loop instead holds one env for the whole trajectory and runs the
package's own :class:`~algos.rollout.RolloutEngine` on it, with verl's generation server as the
policy. So the token layout is exactly the engine's (sampled ids kept as sampled, env replies
appended as the chat template's delta, images as processor placeholders), and what verl gets
per trajectory is translated from the engine's result:

- ``prompt_ids`` / ``response_ids`` / ``response_mask`` (1 on sampled tokens), ``response_logprobs``;
- ``multi_modal_data["images"]``: every image of the episode in order (task image, tool outputs);
- ``reward_score``: the env's reward; ``extra_fields``: ``fatal_turn``, ``turn_index`` (per
  response token), ``n_valid_tool_calls``, ``success``, reward components and the rest of
  :func:`~algos.integrations.common.episode_fields`, plus ``reward_extra_info`` for verl's metrics.

Configuration (a ``mmsearch_gym`` section at the top of the verl config)::

    mmsearch_gym:
      env_id: mmsearch_gym/DeepSearch-v0
      env_kwargs: {max_turns: 20}
      max_new_tokens: 1024          # per turn (default: rollout.response_length)
      env_backend: local            # or "ray": envs in shared EnvWorker actors
      ray_env_workers: 4

A dataset row chooses its episode with ``extra_info.mmsearch_gym = {env_id?, seed, env_kwargs?}``
(:mod:`~algos.integrations.verl.data` writes such parquet files); the env's reset, not the row's
prompt, is the conversation. Select the loop with ``actor_rollout_ref.rollout.agent.default_agent_loop=mmsearch_gym``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from PIL import Image
from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopMetrics, AgentLoopOutput, register

from algos.integrations.common import episode_fields
from algos.integrations.ray import make_env
from algos.rollout import ChatFormat, Generation, RolloutEngine, SamplingParams, TokenPrompt
from algos.rollout.pool import EnvPool

# Engine runs block on the server; each trajectory gets a thread so hundreds can wait at once.
_EXECUTOR = ThreadPoolExecutor(max_workers=512, thread_name_prefix="mmsearch-episode")


class ServerPolicy:
    """A :class:`~algos.rollout.TokenPolicy` over verl's async LLM server client, called from an engine thread."""

    def __init__(self, server: Any, loop: asyncio.AbstractEventLoop, request_id: str, sampling: dict[str, Any]):
        self.server, self.loop, self.request_id, self.sampling = server, loop, request_id, dict(sampling)
        self.logprobs: list[list[float]] = []

    def generate(
        self, prompts: Sequence[TokenPrompt], params: SamplingParams, stop_ids: frozenset[int]
    ) -> list[Generation]:
        out = []
        for prompt in prompts:
            sampling = dict(self.sampling, max_tokens=prompt.budget(params))
            sampling["stop_token_ids"] = sorted(set(sampling.get("stop_token_ids") or ()) | set(stop_ids))
            images = [Image.fromarray(np.asarray(img)) for img in prompt.images] or None
            call = self.server.generate(
                request_id=self.request_id, prompt_ids=list(prompt.ids), sampling_params=sampling, image_data=images
            )
            result = asyncio.run_coroutine_threadsafe(call, self.loop).result()
            ids = [int(t) for t in result.token_ids][: sampling["max_tokens"]]
            self.logprobs.append([float(x) for x in (result.log_probs or [])][: len(ids)])
            out.append(Generation(ids, "stop" if ids and ids[-1] in stop_ids else "length"))
        return out


class _LocalEnvs:
    """Reusable envs per (env id, kwargs) in this worker process; each held by one trajectory at a time."""

    def __init__(self) -> None:
        self.free: dict[str, list[Any]] = defaultdict(list)
        self.lock = threading.Lock()

    def acquire(self, env_id: str, env_kwargs: dict[str, Any]) -> tuple[str, Any]:
        key = json.dumps([env_id, env_kwargs], sort_keys=True, default=str)
        with self.lock:
            if self.free[key]:
                return key, self.free[key].pop()
        return key, make_env(env_id, env_kwargs)

    def release(self, key: str, env: Any) -> None:
        with self.lock:
            self.free[key].append(env)


_ENVS = _LocalEnvs()


def loop_settings(config: Any) -> dict[str, Any]:
    """The ``mmsearch_gym`` section of a verl config as a plain dict (empty when absent)."""
    section = config.get("mmsearch_gym", None) if hasattr(config, "get") else None
    if section is None:
        return {}
    try:
        from omegaconf import OmegaConf

        return dict(OmegaConf.to_container(section, resolve=True))  # type: ignore[arg-type]
    except (ImportError, ValueError):
        return dict(section)


def episode_spec(kwargs: dict[str, Any], settings: dict[str, Any]) -> tuple[str, int, dict[str, Any]]:
    """(env id, seed, env kwargs) of one trajectory from its dataset row and the loop's settings."""
    extra = kwargs.get("extra_info") or {}
    spec = extra.get("mmsearch_gym") or {}
    env_id = spec.get("env_id") or settings.get("env_id")
    if not env_id:
        raise ValueError(
            "no env for this trajectory: set mmsearch_gym.env_id in the verl config or extra_info.mmsearch_gym.env_id "
            "in the dataset (python -m algos.integrations.verl.data writes such rows)"
        )
    seed = spec.get("seed", extra.get("index", kwargs.get("index", 0)))
    row_kwargs = spec.get("env_kwargs") or {}
    if isinstance(row_kwargs, str):  # parquet rows carry them as JSON
        row_kwargs = json.loads(row_kwargs)
    env_kwargs = {**(settings.get("env_kwargs") or {}), **row_kwargs}
    return str(env_id), int(seed), env_kwargs


@register("mmsearch_gym")
class MMSearchAgentLoop(AgentLoopBase):
    """One env episode per trajectory, run by :class:`~algos.rollout.RolloutEngine` (see the module docstring)."""

    def __init__(self, *args: Any, tools: Any = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.settings = loop_settings(self.config)
        multimodal = getattr(self.processor, "image_processor", None) is not None
        self.chat = ChatFormat(self.tokenizer, self.processor if multimodal else None)
        self.prompt_length = int(self.rollout_config.prompt_length)
        self.response_length = int(self.rollout_config.response_length)

    def _pool(self, env_id: str, env_kwargs: dict[str, Any], request_id: str) -> tuple[EnvPool, Any]:
        if self.settings.get("env_backend", "local") == "ray":
            from algos.integrations.ray import SharedEnvSlot

            slot = SharedEnvSlot(env_id, env_kwargs, key=request_id, workers=int(self.settings.get("ray_env_workers", 1)))
            return slot, slot.close
        key, env = _ENVS.acquire(env_id, env_kwargs)
        return EnvPool([env]), lambda: _ENVS.release(key, env)

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        env_id, seed, env_kwargs = episode_spec(kwargs, self.settings)
        request_id = uuid.uuid4().hex
        policy = ServerPolicy(self.server_manager, self.loop, request_id, sampling_params)
        per_turn = int(self.settings.get("max_new_tokens") or self.response_length)
        engine = RolloutEngine(
            policy,
            SamplingParams(max_new_tokens=per_turn),
            chat=self.chat,
            max_episode_tokens=self.prompt_length + self.response_length,
            max_response_tokens=self.response_length,
        )
        pool, release = await self.loop.run_in_executor(_EXECUTOR, self._pool, env_id, env_kwargs, request_id)
        try:
            result = await self.loop.run_in_executor(_EXECUTOR, engine.rollout, pool, [seed])
        finally:
            await self.loop.run_in_executor(_EXECUTOR, release)
        return self.output(result, policy.logprobs, global_step=kwargs.get("global_steps"))

    def _images_in(self, ids: Sequence[int]) -> int:
        """Images whose placeholder run starts in ``ids`` (all of them for text models)."""
        image_id = getattr(self.processor, "image_token_id", None) if self.chat.multimodal else None
        if image_id is None:
            return len(ids) + 1
        return sum(1 for i, t in enumerate(ids) if t == image_id and (i == 0 or ids[i - 1] != image_id))

    def output(self, result: Any, logprobs: list[list[float]], global_step: Any = None) -> AgentLoopOutput:
        """The engine's one-episode result as verl's :class:`AgentLoopOutput`."""
        tokens, record = result.tokens[0], result.records[0]
        n_prompt = tokens.spans[0][0] if tokens.spans else len(tokens)
        if n_prompt > self.prompt_length:
            raise ValueError(
                f"the env's opening prompt is {n_prompt} tokens, over rollout.prompt_length={self.prompt_length}; "
                "raise data.max_prompt_length or shrink the images (processor max_pixels)"
            )
        # An env reply may overrun response_length; cut it (mask 0) and the images it brought.
        response = slice(n_prompt, min(len(tokens), n_prompt + self.response_length))
        response_logprobs = None
        if any(logprobs):
            flat = [0.0] * len(tokens)
            for (start, end), lp in zip(tokens.spans, logprobs):
                flat[start : start + len(lp)] = lp[: end - start]
            response_logprobs = flat[response]
        fields = episode_fields(record)
        fields["turn_index"] = tokens.turn_index[response]
        fields["global_step"] = int(global_step) if global_step is not None else 0
        fields["reward_extra_info"] = {
            **fields["reward_components"],
            "success": float(fields["success"]),
            "fatal": float(fields["fatal"]),
            "step_errors": float(fields["n_step_errors"]),
        }
        images = [Image.fromarray(np.asarray(img)) for img in tokens.images][: self._images_in(tokens.ids[: response.stop])]
        return AgentLoopOutput(
            prompt_ids=tokens.ids[:n_prompt],
            response_ids=tokens.ids[response],
            response_mask=[int(m) for m in tokens.response_mask[response]],
            response_logprobs=response_logprobs,
            multi_modal_data={"images": images} if images and self.chat.multimodal else {},
            reward_score=float(record.reward),
            num_turns=1 + 2 * len(record.turns),
            metrics=AgentLoopMetrics(
                generate_sequences=result.timings.get("generation", 0.0), tool_calls=result.timings.get("env", 0.0)
            ),
            extra_fields=fields,
        )
