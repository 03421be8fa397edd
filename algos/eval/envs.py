"""The envs a run plays: made from a suite entry, with its prompts applied and its task chosen per episode."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from algos.eval.suite import EnvSpec, SuiteError


class EvalEnv(gym.Wrapper):
    """An entry's env: the system prompt and the prompt template replace the env's own at reset,
    and ``next_options`` (e.g. ``{"index": 3}`` for a dataset task) go to the next reset.

    ``system_prompt`` may hold ``{env_system}`` (the env's own system prompt: its tools and
    format); ``template`` must hold ``{prompt}`` (the env's task prompt).
    """

    def __init__(self, env: gym.Env, system_prompt: str | None = None, template: str | None = None):
        super().__init__(env)
        self.system_prompt, self.template = system_prompt, template
        self.next_options: dict[str, Any] | None = None
        self.opening: list[dict[str, Any]] = []  # the first two messages as the policy saw them

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        opts = {**(options or {}), **(self.next_options or {})}
        obs, info = self.env.reset(seed=seed, options=opts or None)
        messages = [dict(m) for m in info["messages"]]
        if self.system_prompt is not None and messages and messages[0]["role"] == "system":
            messages[0]["content"] = self.system_prompt.replace("{env_system}", messages[0]["content"])
        if self.template is not None and len(messages) > 1:
            text = self.template.replace("{prompt}", obs["text"])
            messages[1]["content"] = text
            obs = {**obs, "text": text}
        info = {**info, "messages": messages}
        self.opening = [dict(m, images=list(m["images"])) for m in messages[:2]]
        return obs, info


def make_env(spec: EnvSpec) -> EvalEnv:
    """``gym.make`` of the entry with its kwargs; an env that is not a ToolEnv is refused."""
    try:
        env = gym.make(spec.env, **spec.kwargs)
    except (TypeError, ValueError, FileNotFoundError) as err:
        raise SuiteError(f"{spec.name}: cannot make {spec.env} with {spec.kwargs}: {err}") from None
    if not hasattr(env.unwrapped, "episode_record"):
        env.close()
        raise SuiteError(f"{spec.env} has no episode_record(): eval plays tool envs (text actions)")
    return EvalEnv(env, spec.system_prompt, spec.prompt_template)


def episode_images(env: gym.Env, encoded: dict[int, bytes] | None = None) -> dict[str, np.ndarray | bytes]:
    """Every image of the env's current episode, by id: its PNG bytes when ``encoded`` (keyed by
    ``id(array)``) already holds them, else the array."""
    store = env.unwrapped.images  # type: ignore[attr-defined]
    encoded = encoded or {}
    out: dict[str, np.ndarray | bytes] = {}
    for i in store.ids:
        arr = store.get(i)
        out[i] = encoded.get(id(arr), arr)
    return out


class PngCache:
    """PNG bytes of an episode's images, encoded once for the server and reused for the files."""

    def __init__(self) -> None:
        self.encoded: dict[int, bytes] = {}
        self._keep: list[np.ndarray] = []  # keeps ids unique while cached

    def data_url(self, image: np.ndarray) -> str:
        import base64

        from algos.eval.store import png_bytes

        data = self.encoded.get(id(image))
        if data is None:
            data = self.encoded[id(image)] = png_bytes(image)
            self._keep.append(image)
        return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def stored_record(env: EvalEnv, record: Any) -> dict[str, Any]:
    """The record as saved: its opening messages as the policy saw them (prompts applied)."""
    out = record.to_dict()
    for i, m in enumerate(env.opening):
        if i < len(out["messages"]):
            out["messages"][i] = dict(out["messages"][i], content=m["content"])
    return out
