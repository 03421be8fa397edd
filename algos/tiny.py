"""Tiny models built locally, for tests and CPU demos: no download, ever.

    from algos import tiny
    tok = tiny.build_tokenizer()                        # byte-level BPE trained on env texts
    model = tiny.build_text_model(tok)                  # Qwen2ForCausalLM (or arch="gpt2"), a few layers
    model, processor = tiny.build_vlm(tok)              # Qwen2VLForConditionalGeneration + processor
    tiny.save_tiny_model("runs/tiny", kind="text")      # a directory HFPolicy / `train --model` load
    tiny.save_tiny_model("runs/tiny-vllm", **tiny.VLLM_SIZES)   # head_dim 64: vLLM's CPU attention takes it

The tokenizer is a byte-level BPE (any string round-trips) trained in about a second on
texts the Maze env produces (prompts, oracle and random turns, tool replies), with the
ChatML special tokens of the Qwen family and a Qwen2-VL-style chat template. Digits and
maze-drawing characters (``+ - |``) stay separate pre-tokens so that numbers are tokenised
consistently, and every ASCII maze line of sides 2-3 is one token of its own, so that a
tiny model reads a small maze as a handful of row symbols at fixed offsets.
``python -m algos.tiny DIR --kind text|vlm [--vllm]`` writes one.

The default sizes (hidden 64, 4 heads) give head_dim 16, which vLLM's CPU attention refuses
(it takes 32, 64, 80, …); :data:`VLLM_SIZES` (hidden 128, 2 heads: head_dim 64) is what the
vLLM tests and benchmarks use.
"""

from __future__ import annotations

import argparse
import copy
import functools
import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# Qwen2-VL's template, trimmed: images before the text of a message, ChatML turns.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Sizes of a tiny model vLLM's CPU backend runs: head_dim = hidden / heads = 64.
VLLM_SIZES: dict[str, int] = {"hidden": 128, "heads": 2}

# Pre-tokens: single drawing characters, digit runs and words, each with the space before it,
# then any other whitespace alone (listed last: first, it would split every space off its word).
_PRETOKEN = r"[+|\-]| ?\d+| ?[^\s\d+|\-]+|\s"


def maze_corpus(episodes: int = 160, seed: int = 0) -> Iterator[str]:
    """Texts from Maze-v0 episodes (all sizes and question types; oracle and random turns)."""
    import gymnasium as gym

    import mmsearch_gym  # noqa: F401  (registers the envs)

    env = gym.make(
        "mmsearch_gym/Maze-v0", min_size=2, max_size=9, text_maze=True, question_types=("moves", "choice", "count")
    )
    base: Any = env.unwrapped
    for ep in range(episodes):
        _, info = env.reset(seed=seed + ep)
        for m in info["messages"]:
            yield m["content"]
        done = False
        while not done:
            action = base.oracle_action() if ep % 2 == 0 else base.random_action()
            yield action
            obs, _, terminated, truncated, _ = env.step(action)
            yield obs["text"]
            done = terminated or truncated
    env.close()


def build_tokenizer(texts: Iterable[str] | None = None, vocab_size: int = 1024, maze_rows: int = 3) -> Any:
    """A ``PreTrainedTokenizerFast`` (byte-level BPE) trained on ``texts`` (default: :func:`maze_corpus`),
    plus one token per ASCII maze line for sides up to ``maze_rows`` (0: none)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 300:
        raise ValueError(f"vocab_size must be >= 300 (256 bytes + special tokens), got {vocab_size}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_PRETOKEN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
        max_token_length=24,
    )
    tok.train_from_iterator(texts if texts is not None else maze_corpus(), trainer)
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(SPECIAL_TOKENS[1:]),
        clean_up_tokenization_spaces=False,
    )
    hf.chat_template = CHAT_TEMPLATE
    if maze_rows:
        hf.add_tokens(maze_row_tokens(maze_rows))
    return hf


def maze_row_tokens(max_side: int) -> list[str]:
    """Every line ``render_text`` can draw for mazes of side 2 … ``max_side``, one token each.

    A tiny model then reads a maze as a few row symbols at fixed offsets instead of parsing
    characters; the longest matching row wins, so a 3-wide row never splits into 2-wide ones.
    """
    rows: list[str] = []
    for n in range(2, max_side + 1):
        for marks in itertools.product(" SG", repeat=n):
            for walls in itertools.product(" |", repeat=n - 1):
                rows.append("|" + "".join(f" {m} {w}" for m, w in zip(marks, (*walls, "|"))))
        for opens in itertools.product(("   ", "---"), repeat=n):
            rows.append("+" + "".join(f"{o}+" for o in opens))
    return sorted(set(rows))


@functools.lru_cache(maxsize=4)
def _cached_tokenizer(vocab_size: int, episodes: int) -> Any:
    return build_tokenizer(maze_corpus(episodes), vocab_size)


def default_tokenizer(vocab_size: int = 1024, episodes: int = 160) -> Any:
    """:func:`build_tokenizer` on the Maze corpus, trained once per process (a fresh copy each call)."""
    return copy.deepcopy(_cached_tokenizer(vocab_size, episodes))


def _text_kwargs(tokenizer: Any, hidden: int, layers: int, heads: int, max_positions: int) -> dict[str, Any]:
    if hidden % heads:
        raise ValueError(f"hidden ({hidden}) must be a multiple of heads ({heads})")
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden,
        "intermediate_size": 2 * hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": max(1, heads // 2),
        "max_position_embeddings": max_positions,
        "bos_token_id": None,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "attention_dropout": 0.0,
    }


def build_text_model(
    tokenizer: Any,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    max_positions: int = 4096,
    seed: int = 0,
    arch: str = "qwen2",
) -> Any:
    """A randomly initialised causal LM sized for ``tokenizer`` (tied embeddings).

    ``arch``: ``qwen2`` (``Qwen2ForCausalLM``: rotary positions, grouped-query attention) or
    ``gpt2`` (``GPT2LMHeadModel``: learned absolute positions, which make "what sits at
    position p" of a fixed-layout prompt, such as an ASCII maze, easy to read for a tiny model).
    """
    import torch
    from transformers import GenerationConfig, GPT2Config, GPT2LMHeadModel, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    if arch == "qwen2":
        config = Qwen2Config(**_text_kwargs(tokenizer, hidden, layers, heads, max_positions), tie_word_embeddings=True)
        model = Qwen2ForCausalLM(config)
    elif arch == "gpt2":
        config = GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=max_positions,
            n_embd=hidden,
            n_layer=layers,
            n_head=heads,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            bos_token_id=None,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            tie_word_embeddings=True,
        )
        model = GPT2LMHeadModel(config)
    else:
        raise ValueError(f"arch must be 'qwen2' or 'gpt2', got {arch!r}")
    model.eval()
    model.generation_config = GenerationConfig(eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return model


def build_processor(tokenizer: Any, max_pixels: int = 112 * 112) -> Any:
    """A Qwen2-VL processor (PIL image backend, images only: no torchvision needed) around ``tokenizer``."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from algos.rollout.loading import image_only_processor

    images = Qwen2VLImageProcessorPil(min_pixels=28 * 28, max_pixels=max_pixels)
    return image_only_processor(images, tokenizer, CHAT_TEMPLATE)


def build_vlm(
    tokenizer: Any,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    vision_dim: int = 32,
    vision_depth: int = 1,
    max_pixels: int = 112 * 112,
    seed: int = 0,
) -> tuple[Any, Any]:
    """A randomly initialised ``Qwen2VLForConditionalGeneration`` and its processor."""
    import torch
    from transformers import GenerationConfig, Qwen2VLConfig, Qwen2VLForConditionalGeneration

    ids = {
        name: tokenizer.convert_tokens_to_ids(tok)
        for name, tok in (
            ("image_token_id", "<|image_pad|>"),
            ("video_token_id", "<|video_pad|>"),
            ("vision_start_token_id", "<|vision_start|>"),
            ("vision_end_token_id", "<|vision_end|>"),
        )
    }
    head_dim = hidden // heads
    text = _text_kwargs(tokenizer, hidden, layers, heads, 4096)
    # mrope splits head_dim/2 rotary frequencies over (time, height, width)
    third = head_dim // 2 // 4
    text["rope_parameters"] = {
        "rope_type": "default",
        "rope_theta": 10000.0,
        "mrope_section": [head_dim // 2 - 2 * third, third, third],
    }
    vision = {
        "depth": vision_depth,
        "embed_dim": vision_dim,
        "hidden_size": hidden,
        "num_heads": 2,
        "mlp_ratio": 2,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    }
    config = Qwen2VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True, **ids)
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return model, build_processor(tokenizer, max_pixels=max_pixels)


def save_tiny_model(path: str | Path, kind: str = "text", tokenizer: Any = None, **sizes: Any) -> Path:
    """Build a tiny ``text`` or ``vlm`` model and save it, with its tokenizer (and processor), to ``path``.

    ``AutoTokenizer.from_pretrained(path)`` gives the same ids as :func:`~algos.rollout.load_tokenizer`
    (see :func:`~algos.rollout.loading.save_tokenizer`), so verl, TRL and vLLM load it right.
    """
    from algos.rollout.loading import save_tokenizer

    if kind not in ("text", "vlm"):
        raise ValueError(f"kind must be 'text' or 'vlm', got {kind!r}")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = tokenizer if tokenizer is not None else default_tokenizer()
    processor = None
    if kind == "text":
        model = build_text_model(tokenizer, **sizes)
    else:
        model, processor = build_vlm(tokenizer, **sizes)
    save_tokenizer(path, tokenizer, processor)  # AutoTokenizer / AutoProcessor load what was saved
    model.save_pretrained(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m algos.tiny", description="Write a tiny random model to a directory."
    )
    parser.add_argument("path")
    parser.add_argument("--kind", choices=("text", "vlm"), default="text")
    parser.add_argument("--hidden", type=int, help="default 64 (128 with --vllm)")
    parser.add_argument("--heads", type=int, help="default 4 (2 with --vllm)")
    parser.add_argument("--vllm", action="store_true", help="sizes vLLM's CPU attention takes (head_dim 64)")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=1024)
    parser.add_argument("--arch", choices=("qwen2", "gpt2"), default="qwen2", help="text models only")
    args = parser.parse_args(argv)
    tok = default_tokenizer(vocab_size=args.vocab)
    preset = VLLM_SIZES if args.vllm else {"hidden": 64, "heads": 4}
    sizes = {"hidden": args.hidden or preset["hidden"], "heads": args.heads or preset["heads"], "layers": args.layers}
    if args.kind == "text":
        sizes["arch"] = args.arch
    out = save_tiny_model(args.path, args.kind, tokenizer=tok, **sizes)
    print(f"wrote a tiny {args.kind} model to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
