"""GroundedGen judges: they write the JSON Gen-Searcher's judges write; :mod:`.grounded_gen` scores it.

- :class:`OfflineImageJudge` compares the generated picture with the ground truth by image
  measures (:mod:`.image_measures`), never by the generator's own parameters, and answers
  KnowGen's rubric ``{faithfulness, visual_correctness, text_accuracy, aesthetics,
  text_accuracy_na, rationale}`` on its 0 / 0.5 / 1 levels, plus FactIP's 0–10 fields and the
  raw measures. ``visual_correctness``: each subject of the ground truth is located in the
  picture (template search around where it belongs) and compared (half SSIM, half HSV-histogram
  intersection); the weakest subject counts. ``faithfulness``: layout and background
  agreement and, when text is required, text present in the banner. ``text_accuracy``: OCR
  (tesseract) of the banner against the required text; N/A when none is required.
  ``aesthetics``: sharpness and colourfulness, not worse than the ground truth's.
- :class:`OfflineTextJudge` answers ``{rationale, score}``: whether the prompt and the references
  would let a perfect generator draw the ground truth (right entity behind each reference,
  the visual attributes, the required text, the setting, ordinal links to the references).
- :class:`HTTPGenJudge` asks an OpenAI-compatible VLM with the release's two rubrics
  (:mod:`.grounded_gen_prompts`); it raises :class:`~.judge.JudgeError` on any failure so the
  env can fall back to the offline judges and say so.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image

from . import image_measures as M
from .grounded_gen import factip_overall, parse_judge_json
from .judge import JudgeError

Box = tuple[int, int, int, int]


def level(x: float, hi: float, lo: float) -> float:
    """KnowGen's three levels: 1 at ``hi`` or above, 0.5 at ``lo`` or above, else 0."""
    return 1.0 if x >= hi else 0.5 if x >= lo else 0.0


@dataclass
class ImageCase:
    """What the image judge sees: the generated picture, the ground truth and where its parts are."""

    generated: np.ndarray
    gt: np.ndarray
    boxes: Sequence[Box]  # each subject's place on the ground truth
    text: str | None = None  # text the picture must carry
    text_box: Box | None = None


class OfflineImageJudge:
    """KnowGen's rubric from image measures. Thresholds ``(hi, lo)`` per criterion map a measure to 1 / 0.5 / 0.

    Args:
        identity: subject similarity levels; layout: faithfulness levels; text: OCR match levels;
        aesthetics: quality-ratio levels; ocr_timeout_s: tesseract's time limit.
    """

    def __init__(self, identity: tuple[float, float] = (0.8, 0.62), layout: tuple[float, float] = (0.75, 0.55),
                 text: tuple[float, float] = (0.9, 0.6), aesthetics: tuple[float, float] = (0.9, 0.6),
                 ocr_timeout_s: float = 20.0):  # fmt: skip
        for name, (hi, lo) in (("identity", identity), ("layout", layout), ("text", text), ("aesthetics", aesthetics)):
            if not 0 <= lo <= hi <= 1:
                raise ValueError(f"{name} thresholds must be (hi, lo) with 0 <= lo <= hi <= 1, got {(hi, lo)!r}")
        self.identity, self.layout, self.text, self.aesthetics = identity, layout, text, aesthetics
        self.ocr_timeout_s = ocr_timeout_s

    def __call__(self, case: ImageCase) -> dict[str, Any]:
        gt = np.ascontiguousarray(case.gt[:, :, :3])
        gen = np.ascontiguousarray(case.generated[:, :, :3])
        if gen.shape[:2] != gt.shape[:2]:
            gen = cv2.resize(gen, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_AREA)
        subjects = []
        for box in case.boxes:
            patch = M.crop(gt, box)
            subjects.append(M.similarity(patch, M.crop(gen, M.locate(patch, gen, box))))
        identity = min(subjects) if subjects else M.similarity(gt, gen)
        layout = 0.5 * M.ssim(gt, gen, (32, 24)) + 0.5 * M.colour_similarity(gt, gen)
        background = M.colour_similarity(_blank(gt, case.boxes), _blank(gen, case.boxes))
        found, text_score = "", None
        if case.text:
            found = self._ocr(M.crop(gen, _grow(case.text_box or (0, 0, gen.shape[1], gen.shape[0]), gen, 8)))
            text_score = M.text_match(found, case.text)
        parts = [layout, background] + ([1.0 if len(M.normalize_text(found)) >= 3 else 0.0] if case.text else [])
        faithful = sum(parts) / len(parts)
        sharp = min(1.0, M.sharpness(gen) / max(M.sharpness(gt), 1e-6))
        colourful = min(1.0, M.colourfulness(gen) / max(M.colourfulness(gt), 1e-6))
        quality = float(np.sqrt(sharp * colourful))
        out: dict[str, Any] = {
            "rationale": _rationale(case, subjects, layout, background, found, text_score, quality),
            "faithfulness": level(faithful, *self.layout),
            "visual_correctness": level(identity, *self.identity),
            "text_accuracy": 0.5 if text_score is None else level(text_score, *self.text),
            "aesthetics": level(quality, *self.aesthetics),
            "text_accuracy_na": text_score is None,
        }
        factip = {"clarity": round(10 * sharp), "content_quality": round(10 * faithful),
                  "aesthetics": round(10 * quality), "text_relevance_ip": round(10 * identity)}  # fmt: skip
        factip["overall_score"] = round(factip_overall(factip))
        out["factip"] = factip
        out["measures"] = {"identity": round(identity, 4), "subjects": [round(s, 4) for s in subjects],
                           "layout": round(layout, 4), "background": round(background, 4),
                           "faithfulness": round(faithful, 4), "quality": round(quality, 4),
                           "text_match": None if text_score is None else round(text_score, 4), "ocr": found[:200]}  # fmt: skip
        return out

    def _ocr(self, image: np.ndarray) -> str:
        from ..tools.ocr import OcrError, ocr

        try:  # the banner is one line of text: page segmentation mode 7
            return ocr(image, timeout_s=self.ocr_timeout_s, psm=7).text
        except OcrError:
            return ""


def _blank(image: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
    out = image.copy()
    for x0, y0, x1, y1 in boxes:
        out[max(0, y0 - 6) : y1 + 6, max(0, x0 - 6) : x1 + 6] = 128
    return out


def _grow(box: Box, image: np.ndarray, pad: int) -> Box:
    x0, y0, x1, y1 = box
    return max(0, x0 - pad), max(0, y0 - pad), min(image.shape[1], x1 + pad), min(image.shape[0], y1 + pad)


def _rationale(case: ImageCase, subjects: list[float], layout: float, background: float, found: str,
               text_score: float | None, quality: float) -> str:  # fmt: skip
    n = len(case.boxes)
    lines = [f"Constraints: {n} subject(s) as in the ground truth" + (f"; readable text {case.text!r}" if case.text else "") + "."]
    lines.append("Subject similarity to the ground truth: " + ", ".join(f"{s:.2f}" for s in subjects) + ".")
    lines.append(f"Layout agreement {layout:.2f}; background agreement {background:.2f}.")
    if case.text:
        lines.append(f"OCR read {found[:80]!r}: match {text_score:.2f}.")
    else:
        lines.append("The prompt did not require readable text.")
    lines.append(f"Sharpness and colourfulness relative to the ground truth: {quality:.2f}.")
    return " ".join(lines)


@dataclass
class TextCase:
    """What the text judge sees: the answer's prompt and references, and what the task needs."""

    gen_prompt: str
    ref_entities: Sequence[str | None]  # the entity each cited reference shows (None: unknown)
    entities: Sequence[str]  # the task's entities
    names: Sequence[str]
    attributes: Sequence[str]  # visual attribute words the prompt should state
    setting: str | None = None
    text: str | None = None


class OfflineTextJudge:
    """``score`` = weighted share of the checks a complete answer passes (snapped by :func:`~.grounded_gen.text_reward`).

    Weights: ``references`` (each entity shown by a cited reference, and no reference of another
    entity), ``attributes`` (visual attribute words stated, times the share of the prompt's attribute
    words that are the task's: a prompt listing every colour earns nothing), ``text`` (the required text quoted
    verbatim), ``names`` (the entities named), ``ordinals`` (each reference tied by ordinal); a
    check that does not apply (no text required, no setting) gives its weight to ``attributes``.
    """

    def __init__(self, weights: dict[str, float] | None = None):
        self.weights = dict(weights or {"references": 0.4, "attributes": 0.25, "text": 0.15, "names": 0.1, "ordinals": 0.1})
        if set(self.weights) != {"references", "attributes", "text", "names", "ordinals"} or sum(self.weights.values()) <= 0:
            raise ValueError(f"weights must give references, attributes, text, names and ordinals, got {weights!r}")

    def __call__(self, case: TextCase) -> dict[str, Any]:
        prompt = M.normalize_text(case.gen_prompt)
        refs = list(case.ref_entities)
        covered = sum(any(r == e for r in refs) for e in case.entities) / max(len(case.entities), 1)
        precision = sum(r in case.entities for r in refs) / len(refs) if refs else 0.0
        wanted = list(case.attributes) + ([case.setting.removeprefix("a ")] if case.setting else [])
        attrs = sum(_says(prompt, w) for w in wanted) / len(wanted) if wanted else 1.0
        # attribute words the task does not have cost as much as missing ones: listing every colour earns nothing
        own = " ".join(M.normalize_text(x) for x in [*case.names, *wanted])
        stray = [w for w in _ATTRIBUTE_WORDS if _says(prompt, w) and not _says(own, w)]
        said = sum(_says(prompt, w) for w in case.attributes)
        attrs *= said / (said + len(stray)) if said + len(stray) else 1.0
        names = sum(_says(prompt, n) for n in case.names) / max(len(case.names), 1)
        ordinals = sum(_says(prompt, f"{o} reference image") for o in ("first", "second", "third", "fourth")[: len(refs)])
        ordinals = (ordinals / len(refs)) if refs else 0.0
        checks = {"references": covered * precision, "attributes": attrs, "names": names, "ordinals": ordinals}
        weights = dict(self.weights)
        if case.text:
            checks["text"] = 1.0 if f'"{case.text}"' in case.gen_prompt or f"“{case.text}”" in case.gen_prompt else (
                0.5 if _says(prompt, case.text) else 0.0)  # fmt: skip
        else:
            weights["attributes"] += weights.pop("text")
        score = sum(weights[k] * checks[k] for k in weights) / sum(weights.values())
        rationale = "Constraints: " + "; ".join(case.names) + ". " + " ".join(f"{k}: {v:.2f}." for k, v in checks.items())
        return {"rationale": rationale, "score": round(score, 3), "checks": {k: round(v, 3) for k, v in checks.items()}}


def _vocabulary() -> tuple[str, ...]:
    from ..world import vocab as V

    return tuple(dict.fromkeys([*V.COLOURS, *V.MATERIALS, *V.SHAPES, *V.CREATURES, *V.LANDMARK_KINDS]))


_ATTRIBUTE_WORDS = _vocabulary()


def _says(normalized_prompt: str, phrase: str) -> bool:
    p = M.normalize_text(phrase)
    return bool(p) and f" {p} " in f" {normalized_prompt} "


def data_url(image: np.ndarray, max_side: int = 4096) -> str:
    """An image as a ``data:image/png;base64`` url (longest side capped), for chat messages."""
    im = Image.fromarray(np.ascontiguousarray(image[:, :, :3]))
    if max(im.size) > max_side:
        im.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


class HTTPGenJudge:
    """Gen-Searcher's GPT-4.1 judges behind an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    Args: base_url, model, api_key_env (the variable holding the key), timeout_s, retries, backoff_s:
    as :class:`~.judge.HTTPJudge`.
    """

    def __init__(self, base_url: str, model: str, api_key_env: str | None = None, timeout_s: float = 120.0,
                 retries: int = 2, backoff_s: float = 1.0):  # fmt: skip
        from .judge import HTTPJudge

        self._http = HTTPJudge(base_url, model, api_key_env, timeout_s, retries, backoff_s)
        self.url, self.model = self._http.url, model

    def _ask(self, system: str, content: list[dict[str, Any]]) -> dict[str, Any]:
        from ..search.base import BackendError

        body = {"model": self.model, "temperature": 0.0, "max_tokens": 8192,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": content}]}  # fmt: skip
        try:
            data = self._http.client.post_json("", body)
            reply = data["choices"][0]["message"]["content"]
        except BackendError as err:
            raise JudgeError(self._http._scrub(str(err))) from None
        except (KeyError, IndexError, TypeError):
            raise JudgeError(f"the judge {self.model} at {self.url} sent a reply without choices[0].message.content") from None
        obj = parse_judge_json(reply)
        if obj is None:
            raise JudgeError(f"the judge {self.model} at {self.url} sent no JSON object: {str(reply)[:120]!r}")
        return obj

    def image(self, question: str, sample_id: str, generated: np.ndarray, gt: np.ndarray) -> dict[str, Any]:
        from .grounded_gen_prompts import IMAGE_SYSTEM_PROMPT, image_user_text

        content = [{"type": "text", "text": image_user_text(sample_id, question)},
                   {"type": "image_url", "image_url": {"url": data_url(generated)}},
                   {"type": "image_url", "image_url": {"url": data_url(gt)}}]  # fmt: skip
        return self._ask(IMAGE_SYSTEM_PROMPT, content)

    def text(self, question: str, sample_id: str, gt: np.ndarray, answer_text: str) -> dict[str, Any]:
        from .grounded_gen_prompts import TEXT_SYSTEM_PROMPT, text_user_text

        content = [{"type": "text", "text": text_user_text(sample_id, question, answer_text)},
                   {"type": "image_url", "image_url": {"url": data_url(gt)}}]  # fmt: skip
        return self._ask(TEXT_SYSTEM_PROMPT, content)

    def close(self) -> None:
        self._http.close()
