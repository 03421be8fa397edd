"""The multi-turn rollout engine: G episodes per task, one batched generation per round.

    engine = RolloutEngine(HFPolicy(model, tokenizer), SamplingParams(max_new_tokens=128))
    result = engine.rollout(envs, seeds=[11, 12], group_size=8)   # 2 tasks x 8 episodes
    result.batch      # algos.EpisodeBatch: ids, response mask, turn index, fatal turn, rewards
    result.records    # the envs' EpisodeRecords

Each round, every episode still running contributes its context to one ``generate`` call;
each sampled turn is appended to its episode's ids unchanged, decoded into the action the
env steps on, closed by the template's turn suffix, and followed by the tokens of the env's
reply alone (see :mod:`algos.rollout.chat`). Text policies (HTTP, scripted) are asked for
text instead; with a chat format their turns are tokenised teacher-forced (SFT data).

Limits: ``max_new_tokens`` per turn (a turn cut there is sent to the env as it stands, so an
unclosed tag becomes the env's parse error and, repeated, its fatal signal) and
``max_episode_tokens`` per episode. An episode whose context leaves no room for another
token ends with ``termination_reason="token_limit"``, flagged like the env's own unanswered
endings (OpenSearch-VL): ``fatal=True``, ``fatal_turn`` = number of turns, reward 0.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from algos.batch import EpisodeBatch
from algos.rollout.base import PolicyError, SamplingParams, TextRequest, is_text_policy, is_token_policy
from algos.rollout.chat import ChatFormat
from algos.rollout.pool import EnvPool
from algos.rollout.tokens import EpisodeTokens, collate, rollout_logprobs
from mmsearch_gym.core.record import EpisodeRecord

TOKEN_LIMIT = "token_limit"


@dataclass
class RolloutResult:
    """What one rollout produced. ``tokens`` and ``batch`` are None for text policies without a chat format.

    ``rollout_logp`` [B, T]: the log-probs the policy reported for the tokens it sampled (vLLM
    does), aligned with ``batch.input_ids`` and 0 off the response; None when it reported none.
    """

    records: list[EpisodeRecord]
    group_ids: list[int]
    tokens: list[EpisodeTokens] | None
    batch: EpisodeBatch | None
    timings: dict[str, float] = field(default_factory=dict)
    finish_reasons: dict[str, int] = field(default_factory=dict)
    pad_id: int = 0
    rollout_logp: torch.Tensor | None = None

    def model_inputs(
        self, rows: Sequence[int] | None = None, device: torch.device | str = "cpu", width: int | None = None
    ) -> dict[str, Any]:
        """Model inputs of ``rows``: see :func:`model_inputs`; ``width`` defaults to the batch's T."""
        if self.tokens is None or self.batch is None:
            raise ValueError("this rollout has no tokens (a text policy without a chat format)")
        rows = list(range(len(self.tokens))) if rows is None else list(rows)
        return model_inputs([self.tokens[r] for r in rows], self.pad_id, device, width or self.batch.seq_len)


@dataclass
class _Episode:
    slot: int
    messages: list[dict[str, Any]]  # env format, images as arrays
    tokens: EpisodeTokens | None
    turn: int = 0
    record: EpisodeRecord | None = None
    limit: int = 0  # this episode's context limit in tokens


class RolloutEngine:
    """Runs groups of multi-turn episodes with a token or text policy.

    Args:
        policy: a token policy (``generate``) or a text policy (``act``).
        sampling: per-turn sampling and the per-turn token limit.
        chat: how the conversation is tokenised; defaults to ``policy.chat_format()`` for
            token policies; optional for text policies (give one to get SFT tensors).
        max_episode_tokens: the per-episode limit on context length (prompt + all turns).
        max_response_tokens: optional limit on the tokens after the prompt (turns and env
            replies), for trainers that hold prompt and response in fixed widths (verl).
    """

    def __init__(
        self,
        policy: Any,
        sampling: SamplingParams | None = None,
        chat: ChatFormat | None = None,
        max_episode_tokens: int = 8192,
        max_response_tokens: int | None = None,
    ):
        self.token_mode = is_token_policy(policy)
        if not self.token_mode and not is_text_policy(policy):
            raise TypeError(
                f"{type(policy).__name__} is not a policy: it needs generate(prompts, …) or act(requests, …)"
            )
        if chat is None and self.token_mode:
            if not hasattr(policy, "chat_format"):
                raise TypeError("a token policy needs a ChatFormat: pass chat=ChatFormat(tokenizer, processor)")
            chat = policy.chat_format()
        if max_episode_tokens < 2:
            raise ValueError(f"max_episode_tokens must be >= 2, got {max_episode_tokens}")
        self.policy = policy
        self.sampling = sampling or SamplingParams()
        self.chat = chat
        self.max_episode_tokens = int(max_episode_tokens)
        if max_response_tokens is not None and max_response_tokens < 1:
            raise ValueError(f"max_response_tokens must be >= 1 (or None), got {max_response_tokens}")
        self.max_response_tokens = max_response_tokens

    def rollout(
        self,
        envs: Sequence[gym.Env] | gym.vector.VectorEnv | EnvPool,
        seeds: Sequence[int],
        group_size: int = 1,
        options: dict[str, Any] | None = None,
        sampling: SamplingParams | None = None,
    ) -> RolloutResult:
        """Play ``group_size`` episodes of each task (task ``k`` = reset with ``seeds[k]``) to the end.

        ``envs`` must hold ``len(seeds) * group_size`` envs; slot ``i`` plays task ``i // group_size``.
        """
        pool = envs if isinstance(envs, EnvPool) else EnvPool(envs)
        if group_size < 1:
            raise ValueError(f"group_size must be >= 1, got {group_size}")
        if pool.n != len(seeds) * group_size:
            raise ValueError(
                f"{pool.n} envs for {len(seeds)} tasks x group_size {group_size}: need exactly {len(seeds) * group_size}"
            )
        params = sampling or self.sampling
        clock: dict[str, float] = defaultdict(float)
        finish: dict[str, int] = defaultdict(int)
        slot_seeds = [int(s) for s in seeds for _ in range(group_size)]
        with _timed(clock, "env"):
            starts = pool.reset(slot_seeds, options)
        episodes = []
        for i, (obs, info) in enumerate(starts):
            messages = _with_arrays(info["messages"], obs["images"])
            tokens = None
            if self.chat is not None:
                with _timed(clock, "tokenize"):
                    tokens = EpisodeTokens()
                    tokens.append(self.chat.prompt(messages, [m["images"] for m in messages]))
            episodes.append(_Episode(i, messages, tokens, limit=self._limit(tokens)))
        active = [ep for ep in episodes if not self._out_of_room(ep, pool)]
        while active:
            with _timed(clock, "generation"):
                turns = self._turns(active, pool, params)
            actions: dict[int, str] = {}
            with _timed(clock, "tokenize"):
                for ep, (text, ids, reason, logprobs) in zip(active, turns):
                    finish[reason] += 1
                    if ep.tokens is not None and self.chat is not None:
                        ep.tokens.append_turn(ids, ep.turn, logprobs)
                        ep.tokens.append(self.chat.close_turn(ids, reason == "stop"))
                    ep.messages.append({"role": "assistant", "content": text, "images": []})
                    actions[ep.slot] = text
            with _timed(clock, "env"):
                results, ended = pool.step(actions)
            still = []
            for ep in active:
                ep.turn += 1
                if ep.slot in ended:
                    ep.record = ended[ep.slot]
                    continue
                obs, _, _, _, info = results[ep.slot]
                role = info["messages"][-1]["role"] if info.get("messages") else "user"
                reply = {"role": role, "content": obs["text"], "images": list(obs["images"])}
                ep.messages.append(reply)
                if ep.tokens is not None and self.chat is not None:
                    with _timed(clock, "tokenize"):
                        ep.tokens.append(self.chat.message(reply, reply["images"]))
                if not self._out_of_room(ep, pool):
                    still.append(ep)
            active = still
        records = [ep.record for ep in episodes]
        assert all(r is not None for r in records)
        _fill_components(records)  # type: ignore[arg-type]
        group_ids = [i // group_size for i in range(pool.n)]
        result = RolloutResult(records, group_ids, None, None, dict(clock), dict(finish), self.pad_id)  # type: ignore[arg-type]
        if self.chat is not None:
            with _timed(clock, "tokenize"):
                result.tokens = [ep.tokens for ep in episodes]  # type: ignore[misc]
                cols = collate(result.tokens, result.pad_id)
                result.batch = EpisodeBatch.from_records(
                    result.records,
                    cols["input_ids"],
                    cols["response_mask"],
                    cols["turn_index"],
                    group_ids=torch.tensor(group_ids),
                    attention_mask=cols["attention_mask"],
                )
                result.rollout_logp = rollout_logprobs(result.tokens, result.batch.seq_len)
            result.timings = dict(clock)
        return result

    # ---- one round of turns ---------------------------------------------------------------
    def _turns(
        self, active: list[_Episode], pool: EnvPool, params: SamplingParams
    ) -> list[tuple[str, list[int], str, list[float] | None]]:
        """(action text, ids, finish reason, the ids' log-probs if reported) for each active episode."""
        if self.token_mode:
            assert self.chat is not None
            prompts = [ep.tokens.prompt(ep.limit - len(ep.tokens)) for ep in active]  # type: ignore[union-attr]
            gens = self.policy.generate(prompts, params, self.chat.stop_ids)
            if len(gens) != len(active):
                raise PolicyError(f"the policy returned {len(gens)} turns for {len(active)} prompts")
            return [
                (self.chat.action_text(g.ids, g.finish_reason == "stop"), list(g.ids), g.finish_reason, g.logprobs)
                for g in gens
            ]
        requests = [
            TextRequest(
                [dict(m, images=list(m["images"])) for m in ep.messages],
                env=pool.local_env(ep.slot),
                call=lambda name, *args, _slot=ep.slot: pool.call(_slot, name, *args),
            )
            for ep in active
        ]
        texts = self.policy.act(requests, params)
        if len(texts) != len(active):
            raise PolicyError(f"the policy returned {len(texts)} turns for {len(active)} requests")
        out = []
        for ep, text in zip(active, texts):
            if not isinstance(text, str):
                raise PolicyError(f"the policy returned a {type(text).__name__} instead of a turn's text")
            ids = self.chat.assistant(text) if self.chat is not None else []
            room = ep.limit - (len(ep.tokens) if ep.tokens is not None else 0)
            if self.chat is not None and len(ids) > min(params.max_new_tokens, room):
                ids = ids[: min(params.max_new_tokens, room)]  # the per-turn limit holds for teachers too
                text = self.chat.action_text(ids, stopped=False)
                out.append((text, ids, "length", None))
            else:
                out.append((text, ids, "stop", None))
        return out

    def _out_of_room(self, ep: _Episode, pool: EnvPool) -> bool:
        """End ``ep`` when its context leaves no room to generate; True if it ended."""
        if ep.tokens is None or len(ep.tokens) < ep.limit:
            return False
        record = pool.record(ep.slot)
        record.fatal, record.fatal_turn = True, len(record.turns)
        record.termination_reason, record.answer = TOKEN_LIMIT, None
        record.reward, record.success, record.reward_components = 0.0, False, {}
        ep.record = record
        return True

    def _limit(self, tokens: EpisodeTokens | None) -> int:
        """The context limit of an episode whose prompt is ``tokens``."""
        if tokens is None or self.max_response_tokens is None:
            return self.max_episode_tokens
        return min(self.max_episode_tokens, len(tokens) + self.max_response_tokens)

    @property
    def pad_id(self) -> int:
        """The id that pads token tensors (the tokenizer's pad token, else EOS)."""
        if self.chat is None:
            return 0
        tok = self.chat.tokenizer
        return int(tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)


def model_inputs(
    episodes: Sequence[EpisodeTokens], pad_id: int, device: torch.device | str = "cpu", width: int | None = None
) -> dict[str, Any]:
    """Right-padded ``input_ids`` and ``attention_mask`` [B, width] (default: the longest episode),
    per-token columns, and the episodes' image tensors concatenated in row order."""
    cols = collate(episodes, pad_id, width=width)
    out: dict[str, Any] = {k: v.to(device) for k, v in cols.items() if k not in ("response_mask", "turn_index")}
    out["attention_mask"] = out["attention_mask"].long()
    images = [e.merged_image_inputs() for e in episodes]
    for k in sorted({k for d in images for k in d}):
        out[k] = torch.cat([d[k] for d in images if k in d], dim=0).to(device)
    return out


def _with_arrays(messages: Sequence[dict[str, Any]], images: Sequence[np.ndarray]) -> list[dict[str, Any]]:
    """The env's opening messages with their image ids replaced by the observation's arrays, in order."""
    images = list(images)
    n_ids = sum(len(m.get("images") or ()) for m in messages)
    if n_ids != len(images):
        raise ValueError(f"the opening messages name {n_ids} images but the observation holds {len(images)}")
    out, k = [], 0
    for m in messages:
        n = len(m.get("images") or ())
        out.append({"role": m["role"], "content": m["content"], "images": images[k : k + n]})
        k += n
    return out


def _fill_components(records: Sequence[EpisodeRecord]) -> None:
    """Episodes ended by the token limit get the batch's reward components, at 0."""
    keys = sorted({k for r in records for k in r.reward_components})
    for r in records:
        if r.termination_reason == TOKEN_LIMIT:
            r.reward_components = {k: 0.0 for k in keys}


@contextmanager
def _timed(clock: dict[str, float], key: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        clock[key] += time.perf_counter() - start
