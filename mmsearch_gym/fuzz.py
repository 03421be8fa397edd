"""A hostile agent for any env: the seeded turns an RL policy finds when it hunts for crashes.

:func:`fuzz_env` plays episodes of one env with a mix of plausible tool calls (real image ids,
coordinates inside the image, urls seen in the chat) and attacks, and reports every exception
that left ``step`` or ``reset`` (a *crash*) and every broken promise of the contract (an
observation outside the space, a non-finite reward, an unknown step error, a record that does
not serialise). The attacks (:data:`ATTACKS`) are the shapes a security audit found: image ids
of thousands of digits, nesting hundreds deep, giant strings and turns, lone surrogates, wrong
types, NaN/inf, negative and huge coordinates, unknown tools, half-written tags, bursts of
image-making calls, non-string actions and answer sprays. Envs whose action space is not
text (``MazeGrid-v0``) get in-space and out-of-space actions; only ``gym.error.InvalidAction``
may answer the latter.

    >>> report = fuzz_env(gym.make("mmsearch_gym/Maze-v0"), n_actions=200, seed=0)
    >>> report.crashes   # [] when nothing escaped
"""

from __future__ import annotations

import json
import math
import random
import re
import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from .core.failures import StepError
from .core.spaces import FreeText

ATTACKS = (
    "plausible",
    "huge_image_id",
    "deep_nesting",
    "giant_string",
    "lone_surrogate",
    "wrong_types",
    "non_finite",
    "bad_coordinates",
    "unknown_tool",
    "half_tags",
    "image_burst",
    "non_string",
    "huge_turn",
    "answer",
    "bad_json",
)
_KINDS = {e.value for e in StepError}
_WORDS = ("river", "tower", "museum", "founded", "born", "capital", "city", "species", "mayor", "painter", "1867",
          "the", "of", "emblem", "photo")  # fmt: skip
_URL = re.compile(r"https?://[^\s<>\"')\]]+")


@dataclass
class Crash:
    """An exception that left the env (or a broken contract, ``kind="contract"``)."""

    attack: str
    action: str  # the turn, cut to 300 characters
    error: str  # the exception and the last frames of its traceback
    kind: str = "exception"


@dataclass
class FuzzReport:
    """What one :func:`fuzz_env` run tried and found."""

    env_id: str
    actions: int = 0
    episodes: int = 0
    crashes: list[Crash] = field(default_factory=list)
    attacks: Counter = field(default_factory=Counter)
    step_errors: Counter = field(default_factory=Counter)


class HostileAgent:
    """Turns for a tool-calling env (see the module docstring); ``act(env, obs_text)`` gives one and its attack."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.urls: list[str] = []
        self._raws: dict[str, str] = {}

    # ---- plausible pieces -----------------------------------------------------------------
    def _words(self, n: int = 3) -> str:
        return " ".join(self.rng.choice(_WORDS) for _ in range(n))

    def _value(self, name: str, schema: dict[str, Any], env: Any, tool: Any) -> Any:
        r, kind = self.rng, schema.get("type")
        ids = env.images.ids
        h, w = (env.images.get(ids[-1]).shape[:2]) if ids else (64, 64)
        if "enum" in schema:
            return r.choice(schema["enum"])
        if name in getattr(tool, "image_args", ()):
            return r.choice(ids) if ids and r.random() < 0.9 else f"img_{r.randint(0, 60)}"
        if kind == "object":
            props = schema.get("properties", {})
            return {
                k: self._value(k, v, env, tool)
                for k, v in props.items()
                if k in schema.get("required", ()) or r.random() < 0.5
            }
        if kind == "array":
            items = schema.get("items", {})
            n = schema.get("minItems", 1) if items.get("type") == "number" else r.randint(1, 3)
            if items.get("type") in ("number", "integer"):
                return [r.randint(0, w - 1) if i % 2 == 0 else r.randint(0, h - 1) for i in range(n)]
            return [self._value(name, items, env, tool) for _ in range(n)]
        if kind in ("integer", "number"):
            lo, hi = schema.get("minimum", 0), schema.get("maximum", max(w, h) - 1)
            return r.randint(int(lo), int(max(lo, min(hi, 4096))))
        if kind == "boolean":
            return r.random() < 0.5
        if name == "url" and self.urls:
            return r.choice(self.urls)
        return self._words()

    def _arguments(self, env: Any, tool: Any) -> dict[str, Any]:
        return self._value("arguments", tool.parameters, env, tool)

    # ---- attacks on a value ------------------------------------------------------------------
    def _digits(self, n: int) -> str:
        return str(self.rng.randint(1, 9)) + "".join(self.rng.choice("0123456789") for _ in range(n - 1))

    def _junk(self, n: int) -> str:
        """``n`` random characters (varied, so no repetition guard catches them first)."""
        return self.rng.randbytes(n // 2 + 1).hex()[:n]

    def _raw(self, text: str) -> str:
        """A placeholder that :meth:`_turn` replaces with ``text`` as raw JSON (for what json.dumps cannot write)."""
        key = f"@@raw{len(self._raws)}@@"
        self._raws[key] = text
        return key

    def _nested(self, depth: int) -> str:
        """Lists and objects ``depth`` deep, a varied word at each level (so no repetition guard catches
        them first), as raw JSON text: ``json.dumps`` itself cannot write such depths."""
        opens, closes = [], []
        for _ in range(depth):
            word = "".join(self.rng.choice("abcdefghijklmnop") for _ in range(3))
            is_list = self.rng.random() < 0.8
            opens.append(f'["{word}", ' if is_list else f'{{"{word}": ')
            closes.append("]" if is_list else "}")
        return self._raw("".join(opens) + "0" + "".join(reversed(closes)))

    def _hostile_value(self, attack: str) -> Any:
        r = self.rng
        if attack == "huge_image_id":
            return r.choice(
                [f"img_{self._digits(r.choice([12, 5000, 9000]))}", f"image {self._digits(4400)}", 10**400, -1, 0]
            )
        if attack == "deep_nesting":
            return self._nested(r.choice([33, 100, 600, 980, 2000]))
        if attack == "giant_string":
            return self._junk(r.choice([3000, 15000]))
        if attack == "lone_surrogate":
            return r.choice(["\ud800", "img_\udc001", "caf\udfff é", "\ud83d"]) + self._words(1)
        if attack == "wrong_types":
            return r.choice([None, True, "12", [], {}, [[1, 2]], {"x": 1}, 3.5, "img_1"])
        if attack == "non_finite":
            return r.choice([math.nan, math.inf, -math.inf, [math.nan, 1], [1, math.inf, 2, 3]])
        if attack == "bad_coordinates":
            v = r.choice([-1, -(10**9), 10**30, 1e308, -1e308, 2**63, 0.5, -0.0, 10**400])
            return r.choice([v, [v, v], [0, 0, v, v], [v, 0, 0, v]])
        return None

    def _mutate(self, args: Any, attack: str) -> Any:
        """Replace one leaf (or the arguments themselves) with a hostile value."""
        if not isinstance(args, dict) or not args or self.rng.random() < 0.15:
            return (
                self._hostile_value(attack)
                if self.rng.random() < 0.3
                else {**(args or {}), "image": self._hostile_value(attack)}
            )
        paths: list[tuple[Any, Any]] = []
        stack: list[Any] = [args]
        while stack:
            node = stack.pop()
            keys = list(node) if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else []
            for k in keys:
                paths.append((node, k))
                stack.append(node[k])
        parent, key = self.rng.choice(paths)
        parent[key] = self._hostile_value(attack)
        return args

    # ---- whole turns --------------------------------------------------------------------------
    def _turn(self, name: Any, arguments: Any) -> str:
        think = self._words(self.rng.randint(0, 6))
        if self.rng.random() < 0.1:
            text = f"<think>{think}</think>\nAction: Path Tracer\n```json\n{json.dumps(arguments)}\n```"
        else:
            body = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=self.rng.random() < 0.3)
            text = f"<think>{think}</think><tool_call>{body}</tool_call>"
        for key, raw in self._raws.items():
            text = text.replace(f'"{key}"', raw)
        self._raws.clear()
        return text

    def act(self, env: Any, obs_text: str) -> tuple[Any, str]:
        r = self.rng
        self.urls = (_URL.findall(obs_text) + self.urls)[:20]
        tools = list(env.tools.values())
        attack = r.choice(ATTACKS + ("plausible",) * 4)
        tool = r.choice(tools) if tools else None
        if tool is None or attack == "answer":
            return self._answer(env), "answer"
        if attack == "non_string":
            return r.choice(
                [None, b"<answer>x</answer>", 5, 3.5, ["<answer>"], {"name": tool.name}, np.array(["a"]), _Hostile()]
            ), attack
        if attack == "huge_turn":
            return f"<think>{self._junk(r.choice([20_000, 2_000_000]))}</think><answer>x</answer>", attack
        if attack == "unknown_tool":
            name = r.choice(["", "python", tool.name.upper(), tool.name + " ", "画笔", 123, None, ["crop"], "x" * 5000])
            return self._turn(name, self._arguments(env, tool)), attack
        if attack == "image_burst":  # the biggest image-making calls, over and over
            makers = [t for t in tools if "image" in t.parameters.get("properties", {})] or tools
            tool = r.choice(makers)
            args = self._arguments(env, tool)
            if "scale" in tool.parameters.get("properties", {}):
                args["scale"] = max(tool.parameters["properties"]["scale"].get("enum", [4]))
            return self._turn(tool.name, args), attack
        turn = self._turn(tool.name, self._arguments(env, tool))
        if attack in (
            "huge_image_id",
            "deep_nesting",
            "giant_string",
            "lone_surrogate",
            "wrong_types",
            "non_finite",
            "bad_coordinates",
        ):
            turn = self._turn(tool.name, self._mutate(self._arguments(env, tool), attack))
            if attack == "huge_image_id" and r.random() < 0.3:  # an int literal Python refuses to read
                turn = turn.replace('"arguments": {', f'"arguments": {{"top_k": {self._digits(4400)}, ', 1)
        elif attack == "half_tags":
            cut = r.randint(0, len(turn))
            turn = r.choice(
                [
                    turn[:cut],
                    turn[cut:],
                    turn.replace("</tool_call>", ""),
                    turn.replace("<think>", "</think>"),
                    turn + "<tool_call>",
                    "<answer>" + turn,
                    turn.replace("}", "", 1),
                    "<think></think><answer></answer>",
                ]
            )
        elif attack == "bad_json":
            turn = r.choice(
                [
                    turn.replace('"', "'"),
                    turn.replace(":", "", 1),
                    turn.replace("{", "[", 1),
                    turn.replace('"arguments": ', '"arguments": "{', 1),
                    turn.replace("<tool_call>", "<tool_call>```json\n", 1),
                ]
            )
        return turn, attack

    def _answer(self, env: Any) -> str:
        r = self.rng
        answer = r.choice(
            [
                self._words(2),
                "",
                " ",
                "\ud800",
                "x" * 20000,
                "img_" + self._digits(5000),
                " or ".join(self._words(2) for _ in range(40)),
                ", ".join(self._digits(r.randint(1, 6)) for _ in range(300)),
                "<answer>nested</answer>",
                "NaN",
                str(10**300),
            ]
        )
        if r.random() < 0.3 and hasattr(env, "random_answer"):
            answer = env.random_answer(np.random.default_rng(r.randrange(2**32)))
        return f"<think>{self._words(2)}</think><answer>{answer}</answer>"


class _Hostile:
    """An action whose ``repr`` and ``str`` raise."""

    def __repr__(self) -> str:
        raise RuntimeError("hostile repr")

    __str__ = __repr__


def _tail(err: BaseException) -> str:
    frames = traceback.format_exception(type(err), err, err.__traceback__)
    return "".join(frames[-3:])[-1500:]


def _preview(action: Any) -> str:
    try:
        text = action if isinstance(action, str) else repr(action)
    except Exception:
        text = f"<{type(action).__name__}>"
    return text[:300]


def _check(env: gym.Env, obs: Any, reward: Any, info: dict[str, Any]) -> str | None:
    """The contract on one step's answer; a message when it is broken."""
    if not env.observation_space.contains(obs):
        return "observation outside the observation space"
    if not isinstance(reward, float) or not math.isfinite(reward):
        return f"reward {reward!r} is not a finite float"
    err = info.get("step_error", None)
    if err is not None and err not in _KINDS:
        return f"unknown step_error {err!r}"
    return None


def fuzz_env(env: gym.Env, n_actions: int = 200, seed: int = 0, max_episode_steps: int = 12) -> FuzzReport:
    """Play ``n_actions`` hostile turns on ``env`` in episodes of at most ``max_episode_steps``; see the module
    docstring."""
    rng = random.Random(seed)
    base = env.unwrapped
    report = FuzzReport(getattr(base, "env_id", None) or (env.spec.id if env.spec else type(base).__name__))
    text_env = isinstance(env.action_space, FreeText)
    agent = HostileAgent(rng)
    while report.actions < n_actions:
        try:
            obs, _ = env.reset(seed=rng.randrange(2**31))
        except Exception as err:
            report.crashes.append(Crash("reset", "", _tail(err)))
            return report
        report.episodes += 1
        text = obs.get("text", "") if isinstance(obs, dict) else ""
        for _ in range(max_episode_steps):
            if report.actions >= n_actions:
                break
            if text_env:
                action, attack = agent.act(base, text)
            else:
                attack = rng.choice(["in_space", "in_space", "out_of_space"])
                action = (
                    env.action_space.sample()
                    if attack == "in_space"
                    else rng.choice([-1, 10**30, "0", None, 1.5, np.array([1]), math.nan])
                )
            report.actions += 1
            report.attacks[attack] += 1
            try:
                obs, reward, terminated, truncated, info = env.step(action)
            except gym.error.InvalidAction:
                if attack == "out_of_space":
                    continue
                report.crashes.append(Crash(attack, _preview(action), "InvalidAction for an in-space action"))
                break
            except Exception as err:
                report.crashes.append(Crash(attack, _preview(action), _tail(err)))
                break
            report.step_errors[info.get("step_error")] += 1
            problem = _check(env, obs, reward, info)
            if problem is None and (terminated or truncated) and hasattr(base, "episode_record"):
                try:
                    json.loads(base.episode_record().to_json())
                except Exception as err:
                    problem = f"the episode record does not serialise: {_tail(err)}"
            if problem:
                report.crashes.append(Crash(attack, _preview(action), problem, kind="contract"))
            text = obs.get("text", "") if isinstance(obs, dict) else ""
            if terminated or truncated:
                break
    return report
