"""Load a causal LM or an image-text-to-text model from a local directory (never downloaded).

Errors say what is missing and what to pass instead: a path that does not exist, a
directory without ``config.json``, weights or tokenizer files, a tokenizer without a chat
template. Vision-language models are recognised by a ``vision_config`` in their config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")
_HINT = "pass a local model directory (save_pretrained output); build a tiny one with `python -m algos.tiny DIR`"


class ModelPathError(FileNotFoundError):
    """The model directory does not exist or lacks files."""


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    processor: Any  # None for text-only models
    path: Path
    is_vlm: bool


def check_model_dir(path: str | Path) -> dict[str, Any]:
    """Validate a model directory and return its ``config.json``."""
    p = Path(path)
    if not p.exists():
        raise ModelPathError(f"model path {str(p)!r} does not exist; {_HINT}")
    if not p.is_dir():
        raise ModelPathError(f"model path {str(p)!r} is a file, not a directory; {_HINT}")
    present = sorted(f.name for f in p.iterdir())
    shown = ", ".join(present[:12]) + (" …" if len(present) > 12 else "") or "nothing"
    if not (p / "config.json").is_file():
        raise ModelPathError(f"{str(p)!r} has no config.json (found: {shown}); {_HINT}")
    if not any((p / f).is_file() for f in WEIGHT_FILES):
        raise ModelPathError(f"{str(p)!r} has no weights (expected one of {', '.join(WEIGHT_FILES)}; found: {shown})")
    if not any((p / f).is_file() for f in TOKENIZER_FILES):
        raise ModelPathError(
            f"{str(p)!r} has no tokenizer files (expected one of {', '.join(TOKENIZER_FILES)}; found: {shown})"
        )
    try:
        return json.loads((p / "config.json").read_text())
    except (OSError, ValueError) as err:
        raise ModelPathError(f"{str(p / 'config.json')!r} is not valid JSON: {err}") from None


def load_pretrained(path: str | Path, device: str = "cpu", dtype: Any = None) -> LoadedModel:
    """Model, tokenizer and (for VLMs) processor from ``path``, with ``local_files_only``."""
    import transformers

    config = check_model_dir(path)
    is_vlm = "vision_config" in config
    extra = {} if dtype is None else {"dtype": dtype}
    tokenizer = load_tokenizer(path)
    processor = load_processor(path, tokenizer) if is_vlm else None
    auto = transformers.AutoModelForImageTextToText if is_vlm else transformers.AutoModelForCausalLM
    model = auto.from_pretrained(path, local_files_only=True, **extra).to(device)
    if not getattr(processor or tokenizer, "chat_template", None):
        raise ModelPathError(
            f"{str(path)!r}: the tokenizer has no chat template (chat_template.jinja or tokenizer_config.json)"
        )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(model, tokenizer, processor, Path(path), is_vlm)


def load_tokenizer(path: str | Path) -> Any:
    """The tokenizer of ``path``, of the class its ``tokenizer_config.json`` names.

    A tokenizer saved as a plain ``tokenizers`` file (``PreTrainedTokenizerFast`` /
    ``TokenizersBackend``, as the tiny models are) is loaded as saved: ``AutoTokenizer`` would
    pick the model family's class from ``config.json`` (e.g. ``Qwen2Tokenizer``), which
    replaces the pre-tokenizer and normaliser and so changes the ids.
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    cfg_file = Path(path) / "tokenizer_config.json"
    try:
        name = json.loads(cfg_file.read_text()).get("tokenizer_class") if cfg_file.is_file() else None
    except ValueError:
        name = None
    if name in ("TokenizersBackend", "PreTrainedTokenizerFast") and (Path(path) / "tokenizer.json").is_file():
        return PreTrainedTokenizerFast.from_pretrained(path, local_files_only=True)
    return AutoTokenizer.from_pretrained(path, local_files_only=True)


# A one-class module saved beside a tokenizer that is a plain ``tokenizers`` file; see save_tokenizer.
_TOKENIZER_MODULE = "tokenization_mmsearch_gym"
_TOKENIZER_MODULE_SOURCE = (
    '"""The tokenizer of this folder, as saved: a plain ``tokenizers`` file (written by mmsearch-gym)."""\n\n'
    "from transformers import TokenizersBackend\n\n\n"
    "class SavedTokenizer(TokenizersBackend):\n"
    '    """Loads ``tokenizer.json`` unchanged (no model-family pre-tokenizer or normaliser)."""\n'
)


def save_tokenizer(path: str | Path, tokenizer: Any, processor: Any = None) -> Path:
    """Save ``tokenizer`` (and ``processor``) so that ``AutoTokenizer`` / ``AutoProcessor`` load them as saved.

    A tokenizer that is a plain ``tokenizers`` file (the tiny models') saved by transformers names
    ``TokenizersBackend``; ``AutoTokenizer`` ignores that for some model types (``qwen2``) and
    builds the family's tokenizer (``Qwen2Tokenizer``) instead, whose own pre-tokenizer changes
    the ids. An ``auto_map`` to a one-line ``TokenizersBackend`` subclass saved in the folder
    makes every loader agree: without ``trust_remote_code`` transformers then falls back to the
    named ``TokenizersBackend``, with it it loads the subclass. The image-only Qwen2-VL processor
    is saved as ``Qwen2VLProcessor`` with a video processor config, so ``AutoProcessor`` builds
    the stock processor where torchvision is installed (without it, :func:`load_processor`
    falls back to the image-only one).
    """
    path = Path(path)
    (processor if processor is not None else tokenizer).save_pretrained(path)
    cfg_file = path / "tokenizer_config.json"
    cfg = json.loads(cfg_file.read_text())
    if cfg.get("tokenizer_class") in ("TokenizersBackend", "PreTrainedTokenizerFast") and "auto_map" not in cfg:
        cfg["tokenizer_class"] = "TokenizersBackend"
        cfg["auto_map"] = {"AutoTokenizer": [None, f"{_TOKENIZER_MODULE}.SavedTokenizer"]}
        cfg_file.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")
        (path / f"{_TOKENIZER_MODULE}.py").write_text(_TOKENIZER_MODULE_SOURCE)
    proc_file = path / "processor_config.json"
    if processor is not None and proc_file.is_file():
        proc = json.loads(proc_file.read_text())
        if proc.get("processor_class") == "ImageOnlyQwen2VLProcessor":
            proc["processor_class"] = "Qwen2VLProcessor"
            proc_file.write_text(json.dumps(proc, indent=2) + "\n")
            image = proc.get("image_processor", {})
            video = {
                "video_processor_type": "Qwen2VLVideoProcessor",
                **{k: image[k] for k in ("patch_size", "temporal_patch_size", "merge_size") if k in image},
            }
            (path / "video_preprocessor_config.json").write_text(json.dumps(video, indent=2) + "\n")
    return path


def load_processor(path: str | Path, tokenizer: Any) -> Any:
    """``AutoProcessor``; for Qwen2-VL-family models on machines without torchvision (whose video
    processor needs it), an image-only processor built from the image processor and tokenizer."""
    from transformers import AutoImageProcessor, AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(path, local_files_only=True)
    except (ImportError, AttributeError, ValueError, TypeError, OSError):
        processor = None
    if processor is not None and getattr(processor, "image_processor", None) is not None:
        processor.tokenizer = tokenizer  # one tokenizer for text and image pieces alike
        return processor
    image_processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
    template = getattr(tokenizer, "chat_template", None)
    jinja = Path(path) / "chat_template.jinja"
    if template is None and jinja.is_file():
        template = jinja.read_text()
    return image_only_processor(image_processor, tokenizer, template)


def image_only_processor(image_processor: Any, tokenizer: Any, chat_template: str | None) -> Any:
    """A Qwen2-VL processor without the video part (which needs torchvision)."""
    from transformers import Qwen2VLProcessor
    from transformers.processing_utils import ProcessorMixin

    class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
        """Qwen2-VL's processor for images only."""

        def __init__(
            self, image_processor: Any = None, tokenizer: Any = None, chat_template: str | None = None, **kwargs: Any
        ):
            self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
            self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
            self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
            self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
            ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    return ImageOnlyQwen2VLProcessor(image_processor, tokenizer, chat_template=chat_template)
