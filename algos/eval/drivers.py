"""How episodes are played: many at once, each saved the moment it ends.

- :class:`AsyncDriver` (text policies: an OpenAI-compatible server, scripted agents): one
  coroutine per episode slot, ``concurrency`` slots; a slot takes the next task as soon as
  its episode ends. Server calls are async (:class:`~algos.eval.async_http.AsyncChat`); env
  resets and steps, image encoding and scripted agents run in ``env_threads`` worker threads
  (1 by default: the envs' shared search indexes are then never used from two threads).
- :class:`BatchDriver` (token policies: HF, vLLM): the rollout engine over chunks of
  ``concurrency`` episodes, one batched ``generate`` per round, so the ids are exactly what
  the model sampled; a chunk's episodes are saved when the chunk ends.

Both call ``on_done(job, env, record, usage, elapsed_s, encoded)`` with the env still holding
the episode's images (``encoded``: PNG bytes already made for the server, by ``id`` of the array); the first error stops the run (episodes already saved stay saved).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from algos.eval.async_http import AsyncChat, ContextTooLong
from algos.eval.envs import EvalEnv, PngCache, make_env
from algos.eval.store import Job
from algos.eval.suite import EnvSpec
from algos.rollout.base import PolicyError, SamplingParams, TextRequest
from algos.rollout.engine import TOKEN_LIMIT
from algos.rollout.http import HTTPPolicy, openai_message
from mmsearch_gym.core.record import EpisodeRecord

OnDone = Callable[[Job, EvalEnv, EpisodeRecord, dict[str, int], float, dict[int, bytes]], None]


def _opening(env: EvalEnv, obs: dict[str, Any], info: dict[str, Any]) -> list[dict[str, Any]]:
    """The env's opening messages with their image ids replaced by the observation's arrays."""
    images, out, k = list(obs["images"]), [], 0
    for m in info["messages"]:
        n = len(m.get("images") or ())
        out.append({"role": m["role"], "content": m["content"], "images": images[k : k + n]})
        k += n
    return out


def token_limit_record(record: EpisodeRecord) -> EpisodeRecord:
    """An episode the model's context could not hold: ended like the rollout engine ends one."""
    record = copy.deepcopy(record)
    record.fatal, record.fatal_turn = True, len(record.turns)
    record.termination_reason, record.answer = TOKEN_LIMIT, None
    record.reward, record.success, record.reward_components = 0.0, False, {}
    return record


class AsyncDriver:
    """Plays text policies with ``concurrency`` episodes in flight."""

    def __init__(
        self,
        policy: Any,
        specs: dict[str, EnvSpec],
        sampling: SamplingParams,
        concurrency: int = 16,
        env_threads: int = 1,
    ):
        self.policy, self.specs, self.sampling = policy, specs, sampling
        self.concurrency, self.env_threads = max(1, int(concurrency)), max(1, int(env_threads))
        self.http = isinstance(policy, HTTPPolicy)
        self.send_images = getattr(policy, "send_images", True)

    def run(self, jobs: Sequence[Job], on_done: OnDone) -> None:
        asyncio.run(self._main(list(jobs), on_done))

    async def _main(self, jobs: list[Job], on_done: OnDone) -> None:
        queue = deque(jobs)
        chat = AsyncChat(self.policy, self.concurrency) if self.http else None
        pool = ThreadPoolExecutor(self.env_threads, thread_name_prefix="eval-env")
        io = ThreadPoolExecutor(4, thread_name_prefix="eval-io")  # saving images waits on the disk
        envs: list[EvalEnv] = []
        try:
            async with asyncio.TaskGroup() as group:
                for slot in range(min(self.concurrency, len(jobs))):
                    group.create_task(self._worker(slot, queue, chat, pool, io, envs, on_done))
        except BaseExceptionGroup as eg:
            raise _first(eg) from None
        finally:
            if chat is not None:
                await chat.aclose()
            for env in envs:
                env.close()
            pool.shutdown(wait=True, cancel_futures=True)
            io.shutdown(wait=True)

    async def _worker(
        self,
        slot: int,
        queue: deque[Job],
        chat: AsyncChat | None,
        pool: ThreadPoolExecutor,
        io: ThreadPoolExecutor,
        all_envs: list[EvalEnv],
        on_done: OnDone,
    ) -> None:
        loop = asyncio.get_running_loop()
        mine: dict[str, EvalEnv] = {}
        while queue:
            job = queue.popleft()
            env = mine.get(job.env)
            if env is None:
                env = mine[job.env] = await loop.run_in_executor(pool, make_env, self.specs[job.env])
                all_envs.append(env)
            start = time.perf_counter()
            if chat is not None:
                record, usage, encoded = await self._http_episode(job, env, chat, pool, slot)
            else:
                record, usage, encoded = await self._text_episode(job, env, pool)
            elapsed = time.perf_counter() - start
            await loop.run_in_executor(io, on_done, job, env, record, usage, elapsed, encoded)

    def _reset(self, env: EvalEnv, job: Job) -> tuple[dict[str, Any], dict[str, Any]]:
        env.next_options = {"index": job.index} if self.specs[job.env].by_index else None
        return env.reset(seed=job.seed)

    async def _http_episode(
        self, job: Job, env: EvalEnv, chat: AsyncChat, pool: ThreadPoolExecutor, slot: int
    ) -> tuple[EpisodeRecord, dict[str, int], dict[int, bytes]]:
        loop = asyncio.get_running_loop()

        pngs = PngCache()

        def reset() -> list[dict[str, Any]]:
            obs, info = self._reset(env, job)
            return [openai_message(m, pngs.data_url, self.send_images) for m in _opening(env, obs, info)]

        def step(text: str) -> tuple[bool, dict[str, Any]]:
            obs, _, terminated, truncated, info = env.step(text)
            role = info["messages"][-1]["role"] if info.get("messages") else "user"
            reply = {"role": role, "content": obs["text"], "images": list(obs["images"])}
            return terminated or truncated, openai_message(reply, pngs.data_url, self.send_images)

        wire = await loop.run_in_executor(pool, reset)
        usage = {"prompt_tokens": 0, "completion_tokens": 0}
        counted = False
        while True:
            try:
                turn = await chat.complete(wire, self.sampling, slot)
            except ContextTooLong:
                return token_limit_record(env.unwrapped.episode_record()), usage if counted else {}, pngs.encoded
            if turn.completion_tokens is not None:
                counted = True
                usage["prompt_tokens"] += turn.prompt_tokens or 0
                usage["completion_tokens"] += turn.completion_tokens
            wire.append({"role": "assistant", "content": turn.text})
            done, reply = await loop.run_in_executor(pool, step, turn.text)
            if done:
                return env.unwrapped.episode_record(), usage if counted else {}, pngs.encoded
            wire.append(reply)

    async def _text_episode(
        self, job: Job, env: EvalEnv, pool: ThreadPoolExecutor
    ) -> tuple[EpisodeRecord, dict[str, int], dict[int, bytes]]:
        """A text policy in this process (a scripted agent): its turns are computed in the env thread."""

        def play() -> EpisodeRecord:
            obs, info = self._reset(env, job)
            messages = _opening(env, obs, info)
            while True:
                text = self.policy.act([TextRequest(messages, env=env)], self.sampling)[0]
                if not isinstance(text, str):
                    raise PolicyError(f"the policy returned a {type(text).__name__} instead of a turn's text")
                messages.append({"role": "assistant", "content": text, "images": []})
                obs, _, terminated, truncated, info = env.step(text)
                if terminated or truncated:
                    return env.unwrapped.episode_record()
                messages.append(
                    {"role": info["messages"][-1]["role"], "content": obs["text"], "images": list(obs["images"])}
                )

        record = await asyncio.get_running_loop().run_in_executor(pool, play)
        return record, {}, {}


class BatchDriver:
    """Plays token policies (HF, vLLM) through the rollout engine, ``concurrency`` episodes per chunk."""

    def __init__(
        self,
        policy: Any,
        specs: dict[str, EnvSpec],
        sampling: SamplingParams,
        concurrency: int = 8,
        max_episode_tokens: int = 32768,
    ):
        from algos.rollout.engine import RolloutEngine

        self.specs, self.concurrency = specs, max(1, int(concurrency))
        self.engine = RolloutEngine(policy, sampling, max_episode_tokens=max_episode_tokens)

    def run(self, jobs: Sequence[Job], on_done: OnDone) -> None:
        by_env: dict[str, list[Job]] = {}
        for job in jobs:
            by_env.setdefault(job.env, []).append(job)
        for name, todo in by_env.items():
            spec = self.specs[name]
            envs = [make_env(spec) for _ in range(min(self.concurrency, len(todo)))]
            try:
                for at in range(0, len(todo), len(envs)):
                    chunk = todo[at : at + len(envs)]
                    slots = envs[: len(chunk)]
                    for env, job in zip(slots, chunk):
                        env.next_options = {"index": job.index} if spec.by_index else None
                    start = time.perf_counter()
                    result = self.engine.rollout(slots, seeds=[j.seed for j in chunk])
                    elapsed = (time.perf_counter() - start) / len(chunk)
                    for i, (env, job) in enumerate(zip(slots, chunk)):
                        usage = {}
                        if result.tokens is not None:
                            ep = result.tokens[i]
                            usage = {"completion_tokens": sum(b - a for a, b in ep.spans), "context_tokens": len(ep)}
                        on_done(job, env, result.records[i], usage, elapsed, {})
            finally:
                for env in envs:
                    env.close()


def _first(eg: BaseExceptionGroup) -> BaseException:
    """The error that stopped the run: a policy error first, else the first one raised."""
    flat: list[BaseException] = []

    def walk(e: BaseException) -> None:
        if isinstance(e, BaseExceptionGroup):
            for sub in e.exceptions:
                walk(sub)
        else:
            flat.append(e)

    walk(eg)
    for e in flat:
        if isinstance(e, PolicyError):
            return e
    return flat[0]
