"""TRL adapter (``pip install 'mmsearch-gym[trl]'``): any env in ``GRPOTrainer``, and the zoo as its algorithm.

    from algos.integrations.trl import MMSearchGRPOTrainer, env_dataset
    trainer = MMSearchGRPOTrainer(
        model="runs/tiny", env_id="mmsearch_gym/Maze-v0", env_kwargs={"text_maze": True},
        algo=algos.make("fatal_grpo"), args=GRPOConfig(...), train_dataset=env_dataset("mmsearch_gym/Maze-v0", range(64)),
    )
    trainer.train()

- :func:`environment_factory` builds the class TRL instantiates per rollout: one env each, its
  tools as methods (typed, documented, so a plain ``GRPOTrainer`` can render them too),
  ``reset(seed=…)`` from the dataset row. A tool call steps the env with the model's turn
  (the text before the call, ``<think>`` included, plus the call), so the env scores format
  as it would anywhere; the reply comes back without the env's own ``<tool_response>`` wrapper
  when the chat template adds one (no double wrapping), with the new images for VLMs.
- :func:`env_dataset`: rows ``prompt`` (the env's opening chat), ``seed``, and ``images`` (the
  task images: TRL takes the first image from the dataset, not from ``reset``).
- :func:`env_reward`: the reward function: steps each episode's last turn (the answer), returns
  the env's reward and logs ``env/fatal_rate``, ``env/step_errors``, ``env/success`` … An
  episode that TRL ends without an answer is flagged like the env's unanswered endings.
- :class:`MMSearchGRPOTrainer`: ``GRPOTrainer`` that renders the env's JSON tool schemas whole
  (``get_json_schema`` would flatten nested ones), and with ``algo=algos.make(...)`` replaces
  TRL's advantages and loss by the zoo's: token-level advantages and loss mask from an
  :class:`~algos.EpisodeBatch` (turns = runs of policy tokens, ``fatal_turn`` from the env), the
  zoo's ``compute_loss`` (its clip and KL options; ``beta`` is set to the algorithm's ``kl_coef``).
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from algos.batch import EpisodeBatch
from algos.integrations.common import batch_fields, episode_fields, episode_metrics, turn_index_from_mask
from algos.integrations.ray import make_env

_JSON_TYPES = {"string": "str", "number": "float", "integer": "int", "boolean": "bool", "array": "list", "object": "dict"}
_WRAPPED = re.compile(r"^\s*<tool_response>(.*)</tool_response>\s*$", re.DOTALL)
UNANSWERED = "unanswered"


class EnvAdapter:
    """Base of the classes :func:`environment_factory` makes; one env per instance (per rollout)."""

    env_id: str = ""
    env_kwargs: dict[str, Any] = {}
    tool_schemas: list[dict[str, Any]] = []
    deliver_images: bool = True  # return tool images as content parts (VLMs)
    unwrap_replies: bool = True  # strip the env's <tool_response> wrapper (the chat template adds its own)

    def __init__(self) -> None:
        self.env = make_env(self.env_id, self.env_kwargs)
        self.chat: list[dict[str, Any]] | None = None  # the rollout's messages, lent by MMSearchGRPOTrainer
        self.done = False
        self.record: Any = None

    def reset(self, seed: int | None = None, **row: Any) -> None:
        """Reset on the row's ``seed``; the prompt already comes from the dataset row."""
        self.env.reset(seed=None if seed is None else int(seed))
        self.done, self.record, self.chat = False, None, None
        return None

    # -- turns -------------------------------------------------------------------------------
    def _turn_text(self) -> str:
        """The text the model wrote before its tool call (its think block), from the lent chat."""
        if not self.chat or self.chat[-1].get("role") != "assistant":
            return ""
        msg = self.chat[-1]
        content = msg.get("content") or ""
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        reasoning = msg.get("reasoning_content")
        return (f"<think>{reasoning}</think>" if reasoning else "") + content

    def _call_tool(self, name: str, arguments: dict[str, Any]) -> str | list[dict[str, Any]]:
        if self.done:
            return "The episode is over."
        call = json.dumps({"name": name, "arguments": {k: v for k, v in arguments.items() if v is not None}})
        obs, _, terminated, truncated, _ = self.env.step(f"{self._turn_text()}<tool_call>{call}</tool_call>")
        if terminated or truncated:
            self._end()
        text = obs["text"]
        match = _WRAPPED.match(text)
        if self.unwrap_replies and match:
            text = match.group(1)
        if self.deliver_images and len(obs["images"]):
            return [{"type": "image", "image": Image.fromarray(np.asarray(img))} for img in obs["images"]] + [
                {"type": "text", "text": text}
            ]
        return text

    def finish(self, final_turn: str | None) -> dict[str, Any]:
        """Step the episode's last turn (the answer) and return its fields; unanswered if it does not end it."""
        if not self.done and final_turn is not None:
            _, _, terminated, truncated, _ = self.env.step(final_turn)
            if terminated or truncated:
                self._end()
        if not self.done:
            record = self.env.unwrapped.episode_record()
            record.fatal, record.fatal_turn = True, len(record.turns)  # ended without an answer (OpenSearch-VL)
            record.termination_reason, record.answer = UNANSWERED, None
            record.reward, record.success = 0.0, False
            record.reward_components = {k: 0.0 for k in record.reward_components}
            self.record, self.done = record, True
        return episode_fields(self.record)

    def _end(self) -> None:
        self.done = True
        self.record = self.env.unwrapped.episode_record()


def _tool_method(schema: dict[str, Any]) -> Any:
    """A typed, documented method ``name(self, …)`` that steps the env with a call of tool ``name``."""
    fn = schema["function"]
    params = fn.get("parameters", {}).get("properties", {})
    required = set(fn.get("parameters", {}).get("required", ()))
    names = [p for p in params if p.isidentifier() and not keyword.iskeyword(p)]
    if len(names) != len(params):
        raise ValueError(f"tool {fn['name']!r} has argument names that are not Python identifiers: {list(params)}")
    args = [f"{p}: {_JSON_TYPES.get(params[p].get('type'), 'str')}" for p in names if p in required]
    args += [f"{p}: {_JSON_TYPES.get(params[p].get('type'), 'str')} | None = None" for p in names if p not in required]
    doc = [fn.get("description") or fn["name"], "", "Args:"]
    doc += [f"    {p}: {(params[p].get('description') or p).splitlines()[0]}" for p in names]
    source = (
        f"def {fn['name']}(self{''.join(', ' + a for a in args)}):\n"
        f"    {json.dumps(chr(10).join(doc))}\n"
        f"    return self._call_tool({fn['name']!r}, {{{', '.join(f'{p!r}: {p}' for p in names)}}})\n"
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<tool {fn['name']}>", "exec"), namespace)  # a generated signature, from our own schema
    method = namespace[fn["name"]]
    method.__doc__ = "\n".join(doc)
    return method


def environment_factory(env_id: str, env_kwargs: dict[str, Any] | None = None, images: bool = True) -> type[EnvAdapter]:
    """A class for ``GRPOTrainer(environment_factory=...)``: env ``env_id`` with its tools as methods."""
    env_kwargs = dict(env_kwargs or {})
    probe = make_env(env_id, env_kwargs)
    _, info = probe.reset(seed=0)
    schemas = [s for s in info["tools"] if s.get("type") == "function"]
    probe.close()
    attrs: dict[str, Any] = {
        "env_id": env_id,
        "env_kwargs": env_kwargs,
        "tool_schemas": schemas,
        "deliver_images": images,
        "__doc__": f"{env_id} for TRL's GRPOTrainer: tools {', '.join(s['function']['name'] for s in schemas)}.",
    }
    for schema in schemas:
        attrs[schema["function"]["name"]] = _tool_method(schema)
    name = re.sub(r"\W", "_", env_id.split("/")[-1])
    return type(f"{name}_TRLEnv", (EnvAdapter,), attrs)


def env_dataset(env_id: str, seeds: Iterable[int], env_kwargs: dict[str, Any] | None = None, images: bool = True) -> Any:
    """A ``datasets.Dataset`` of the env's tasks: ``prompt`` (opening chat), ``seed``, ``images``."""
    from datasets import Dataset

    env = make_env(env_id, env_kwargs)
    rows = []
    for seed in seeds:
        obs, info = env.reset(seed=int(seed))
        row: dict[str, Any] = {
            "prompt": [{"role": m["role"], "content": m["content"]} for m in info["messages"]],
            "seed": int(seed),
        }
        if images:
            row["images"] = [Image.fromarray(np.asarray(img)) for img in obs["images"]]
        rows.append(row)
    env.close()
    return Dataset.from_list(rows)


def _final_turn(messages: Sequence[dict[str, Any]]) -> str | None:
    """The last assistant turn as text, or None when it is a tool call TRL did not run (cut by a limit)."""
    last = next((m for m in reversed(messages) if m.get("role") == "assistant"), None)
    if last is None or last.get("tool_calls"):
        return None
    content = last.get("content") or ""
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    reasoning = last.get("reasoning_content")
    return (f"<think>{reasoning}</think>" if reasoning else "") + content


def env_reward(completions: Sequence[Any], environments: Sequence[EnvAdapter] | None = None,
               log_metric: Any = None, **_: Any) -> list[float]:  # fmt: skip
    """TRL reward function: finish every episode with its last turn, return the env's rewards."""
    if environments is None:
        raise ValueError("env_reward needs environment_factory=environment_factory(env_id) in GRPOTrainer")
    rows = []
    for completion, env in zip(completions, environments, strict=True):
        messages = completion if isinstance(completion, list) else [{"role": "assistant", "content": completion}]
        rows.append(env.finish(_final_turn(messages)))
    if log_metric is not None:
        for key, value in episode_metrics(rows).items():
            log_metric(key, value)
    return [r["reward"] for r in rows]


def _trainer_base() -> type:
    from trl import GRPOTrainer

    return GRPOTrainer


class MMSearchGRPOTrainer(_trainer_base()):  # type: ignore[misc]
    """``GRPOTrainer`` on an env of this package, optionally with a zoo algorithm (see the module docstring).

    Args:
        model, args, train_dataset, …: as ``GRPOTrainer``.
        env_id, env_kwargs: the env (or pass ``environment_factory`` made by :func:`environment_factory`).
        algo: ``algos.make(name, …)``; None keeps TRL's own advantages and loss.
        reward_funcs: default ``[env_reward]``.
    """

    def __init__(self, model: Any, *, env_id: str | None = None, env_kwargs: dict[str, Any] | None = None,
                 algo: Any = None, environment_factory: type[EnvAdapter] | None = None,
                 reward_funcs: Any = None, args: Any = None, **kwargs: Any):  # fmt: skip
        if environment_factory is None:
            if env_id is None:
                raise ValueError("pass env_id='mmsearch_gym/…' or environment_factory=environment_factory(env_id)")
            environment_factory = globals()["environment_factory"](env_id, env_kwargs)
        self.algo = algo
        if algo is not None and args is not None:
            args.beta = float(getattr(algo.config, "kl_coef", 0.0))  # TRL computes ref log-probs only when beta > 0
        super().__init__(model, reward_funcs=reward_funcs or [env_reward], args=args,
                         environment_factory=environment_factory, **kwargs)  # fmt: skip
        self.env_class = environment_factory
        self.env_class.deliver_images = bool(self._is_vlm) and self.env_class.deliver_images
        self.env_class.unwrap_replies = self._template_wraps_tool_replies()
        for name in self._env_tools:  # render the env's schemas whole; execution still uses the methods
            self._env_tools[name] = [s for s in environment_factory.tool_schemas] + [
                t for t in self._env_tools[name] if not hasattr(environment_factory, getattr(t, "__name__", ""))
            ]
        self.last_batch: EpisodeBatch | None = None  # the last generation batch, for inspection
        self.last_advantages: torch.Tensor | None = None
        self.last_inputs: dict[str, Any] | None = None

    def _template_wraps_tool_replies(self) -> bool:
        """Whether the chat template puts ``<tool_response>`` around a tool message by itself."""
        call = {"type": "function", "function": {"name": "probe", "arguments": {}}}
        chat = [{"role": "user", "content": "u"}, {"role": "assistant", "content": "", "tool_calls": [call]},
                {"role": "tool", "name": "probe", "content": "PROBE"}]  # fmt: skip
        tok = getattr(self.processing_class, "tokenizer", self.processing_class)
        text = tok.apply_chat_template(chat, tokenize=False, chat_template=self.chat_template)
        return "<tool_response>" in text.split("PROBE")[0]

    def _tool_call_loop(self, prompts, *args: Any, **kwargs: Any):
        for env, chat in zip(self.environments or [], prompts):
            env.chat = chat  # the tool methods read the assistant turn TRL appends here
        return super()._tool_call_loop(prompts, *args, **kwargs)

    def _generate_and_score_completions(self, inputs: Any) -> dict[str, Any]:
        out = super()._generate_and_score_completions(inputs)
        if self.algo is None:
            return out
        envs = self.environments
        rows = [env.finish(None) if not env.done else episode_fields(env.record) for env in envs]
        mask = out["completion_mask"].bool()
        if "tool_mask" in out:
            mask = mask & out["tool_mask"].bool()
        codes: dict[str, int] = {}
        batch = EpisodeBatch(
            input_ids=out["completion_ids"],
            response_mask=mask,
            group_ids=torch.tensor([codes.setdefault(r["task_id"], len(codes)) for r in rows], device=mask.device),
            rewards=torch.tensor([r["reward"] for r in rows], device=mask.device),
            turn_index=turn_index_from_mask(mask),
            **batch_fields(rows, mask.device),
        )
        advantages, loss_mask = self.algo.compute_advantages(batch, step=int(self.state.global_step))
        out["advantages"] = advantages
        out["algos_loss_mask"] = loss_mask.long()
        self.last_batch, self.last_advantages, self.last_inputs = batch, advantages, out
        return out

    def _compute_loss(self, model: Any, inputs: dict[str, Any]) -> torch.Tensor:
        if self.algo is None:
            return super()._compute_loss(model, inputs)
        prompt_ids, completion_ids = inputs["prompt_ids"], inputs["completion_ids"]
        input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
        attention_mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
        extra = {k: inputs.get(k) for k in ("pixel_values", "image_grid_thw", "num_images", "pixel_attention_mask",
                                             "spatial_shapes", "num_tiles", "image_sizes", "token_type_ids",
                                             "mm_token_type_ids", "image_position_ids")}  # fmt: skip
        logp, _, _ = self._get_per_token_logps_and_entropies(
            model, input_ids, attention_mask, completion_ids.size(1), **extra
        )
        loss_mask = inputs["algos_loss_mask"].bool()
        batch = EpisodeBatch(
            input_ids=completion_ids,
            response_mask=loss_mask,
            group_ids=torch.zeros(completion_ids.size(0), dtype=torch.long, device=completion_ids.device),
            rewards=torch.zeros(completion_ids.size(0), device=completion_ids.device),
            old_logp=inputs.get("old_per_token_logps"),
            ref_logp=inputs.get("ref_per_token_logps"),
        )
        loss, metrics = self.algo.compute_loss(logp, batch, inputs["advantages"].to(logp.dtype), loss_mask)
        mode = "train" if self.model.training else "eval"
        for key, value in metrics.items():
            self._metrics[mode][f"algo/{key}"].append(value)
        return loss / (self.current_gradient_accumulation_steps if mode == "train" else 1.0)
