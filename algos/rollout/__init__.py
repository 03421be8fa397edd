"""Policies and the multi-turn rollout engine.

    from algos.rollout import HFPolicy, RolloutEngine, SamplingParams
    policy = HFPolicy.from_pretrained("runs/tiny")                 # local directory only
    engine = RolloutEngine(policy, SamplingParams(max_new_tokens=128), max_episode_tokens=2048)
    result = engine.rollout(envs, seeds=[0, 1], group_size=4)      # len(envs) == 8
    result.batch    # algos.EpisodeBatch (token-exact), result.records: EpisodeRecords

Policies: :class:`HFPolicy` (transformers, text or image-text-to-text), :class:`VLLMPolicy`
(extra ``vllm``; ``make vllm`` on a CPU), :class:`HTTPPolicy` (OpenAI-compatible server), :class:`ScriptedTextPolicy`
(the envs' oracle / random agents).
"""

from algos.rollout.base import (
    Generation,
    PolicyError,
    SamplingParams,
    TextPolicy,
    TextRequest,
    TokenPolicy,
    TokenPrompt,
)
from algos.rollout.chat import ChatFormat, ChatTemplateError, Piece
from algos.rollout.engine import TOKEN_LIMIT, RolloutEngine, RolloutResult
from algos.rollout.hf import HFPolicy
from algos.rollout.http import HTTPPolicy
from algos.rollout.loading import LoadedModel, ModelPathError, check_model_dir, load_pretrained, load_tokenizer
from algos.rollout.pool import EnvPool
from algos.rollout.scripted import ScriptedTextPolicy
from algos.rollout.tokens import EpisodeTokens, collate
from algos.rollout.vllm import VLLMPolicy

__all__ = [
    "TOKEN_LIMIT",
    "ChatFormat",
    "ChatTemplateError",
    "EnvPool",
    "EpisodeTokens",
    "Generation",
    "HFPolicy",
    "HTTPPolicy",
    "LoadedModel",
    "ModelPathError",
    "Piece",
    "PolicyError",
    "RolloutEngine",
    "RolloutResult",
    "SamplingParams",
    "ScriptedTextPolicy",
    "TextPolicy",
    "TextRequest",
    "TokenPolicy",
    "TokenPrompt",
    "VLLMPolicy",
    "check_model_dir",
    "collate",
    "load_pretrained",
    "load_tokenizer",
]
