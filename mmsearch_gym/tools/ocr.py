"""OCR through tesseract (pytesseract): the text, and every word with its box and confidence.

One tesseract run per call, TSV output; the text is rebuilt from the words (one line per
tesseract line, a blank line between blocks). pytesseract's version check is skipped on
purpose: it has no timeout and exits the interpreter on a binary it does not recognise.
Tesseract runs single-threaded by default (``OMP_THREAD_LIMIT=1`` for its process only):
its OpenMP threads make it 2–4× slower on small images and on busy machines.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from itertools import groupby

import cv2
import numpy as np
import pytesseract
from PIL import Image

from ..core.images import as_rgb_uint8

PSM_MODES = (3, 4, 6, 11, 12)  # the page segmentation modes the ocr tool offers (no OSD-only or one-line modes)
# 6 (one uniform block of text) reads the small photographed cards that 3 (automatic layout)
# sometimes returns empty: benchmarks/ocr_psm.py, 99.7% against 99.0% of 300 DeepSearch cards
DEFAULT_PSM = 6
INSTALL_HINT = "install tesseract: apt-get install tesseract-ocr (or run `make system-deps`)"
_LANG = re.compile(r"^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$")
_MISSING_LANG = re.compile(r"Failed loading language '([^']+)'")
# pytesseract reads the binary's path and the environment from module globals; a lock keeps
# a per-call value from leaking into another thread's call.
_GLOBALS_LOCK = threading.Lock()


class OcrError(RuntimeError):
    """Tesseract could not be run or failed."""


class TesseractNotFound(OcrError):
    """The tesseract binary is not installed (or not where ``tesseract_cmd`` says)."""


class OcrTimeout(OcrError):
    """Tesseract ran past the timeout and was killed."""


@dataclass(frozen=True)
class OcrWord:
    text: str
    bbox: tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels, origin top-left
    confidence: float  # tesseract's 0–100
    line: int  # index of the text line the word is on


@dataclass(frozen=True)
class OcrResult:
    text: str
    words: tuple[OcrWord, ...]

    @property
    def mean_confidence(self) -> float:
        return float(np.mean([w.confidence for w in self.words])) if self.words else 0.0


def ocr(
    image: np.ndarray,
    lang: str = "eng",
    timeout_s: float = 30.0,
    tesseract_cmd: str | None = None,
    psm: int = DEFAULT_PSM,
    threads: int | None = 1,
) -> OcrResult:
    """Read the text in ``image`` with tesseract.

    Args:
        lang: tesseract language code(s), e.g. ``"eng"`` or ``"eng+deu"``.
        timeout_s: seconds before tesseract is killed (:class:`OcrTimeout`).
        tesseract_cmd: path of the tesseract binary (default: pytesseract's, normally ``tesseract`` on PATH).
        psm: tesseract page segmentation mode (:data:`DEFAULT_PSM` = 6: one uniform block of text;
            3: automatic page layout; 11: sparse text).
        threads: OpenMP threads of the tesseract process (``None``: tesseract's default, all cores).

    Raises ``ValueError`` for a malformed or uninstalled language, :class:`TesseractNotFound`
    (with :data:`INSTALL_HINT`), :class:`OcrTimeout`, or :class:`OcrError`.
    """
    if not isinstance(lang, str) or not _LANG.match(lang):
        raise ValueError(f"lang must be tesseract language codes like 'eng' or 'eng+deu', got {str(lang)[:40]!r}")
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not 0 < timeout_s < float("inf"):
        raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
    if isinstance(psm, bool) or not isinstance(psm, int) or not 0 <= psm <= 13:
        raise ValueError(f"psm must be a tesseract page segmentation mode 0–13, got {psm!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    gray = Image.fromarray(cv2.cvtColor(as_rgb_uint8(image), cv2.COLOR_RGB2GRAY))
    env = dict(os.environ, OMP_THREAD_LIMIT=str(threads)) if threads else None
    tsv = _run_tesseract(gray, lang, timeout_s, tesseract_cmd, env, f"--psm {psm} -c tessedit_create_tsv=1")
    return _parse_tsv(tsv)


def _run_tesseract(
    image: Image.Image, lang: str, timeout_s: float, cmd: str | None, env: dict[str, str] | None, config: str
) -> str:
    tess = pytesseract.pytesseract
    with _GLOBALS_LOCK:
        default_cmd, default_env = tess.tesseract_cmd, tess.environ
        used = cmd or default_cmd
        tess.tesseract_cmd, tess.environ = used, env if env is not None else default_env
        try:
            return tess.run_and_get_output(image, "tsv", lang, config, timeout=timeout_s)
        except tess.TesseractNotFoundError:
            raise TesseractNotFound(f"tesseract was not found at {used!r}; {INSTALL_HINT}") from None
        except tess.TesseractError as err:
            message = str(err.message or f"exit status {err.status}")
            if "Failed loading language" in message or "Error opening data file" in message:
                missing = _MISSING_LANG.search(message)
                code = missing.group(1) if missing else lang
                raise ValueError(
                    f"tesseract has no data for language {code!r}; install it with "
                    f"apt-get install tesseract-ocr-{code.lower().replace('_', '-')}"
                ) from None
            raise OcrError(f"tesseract failed: {message[:300]}") from None
        except RuntimeError as err:
            if "timeout" in str(err).lower():
                raise OcrTimeout(f"tesseract took longer than {timeout_s:g} s and was stopped") from None
            raise OcrError(f"tesseract failed: {err}") from None
        except FileNotFoundError:  # the binary ran but wrote no TSV file
            raise OcrError(f"tesseract at {used!r} produced no output") from None
        except OSError as err:  # e.g. the path exists but is not an executable
            raise OcrError(f"could not run tesseract at {used!r}: {err}; {INSTALL_HINT}") from None
        finally:
            tess.tesseract_cmd, tess.environ = default_cmd, default_env


def _parse_tsv(tsv: str) -> OcrResult:
    lines = tsv.splitlines()
    if not lines or not lines[0].startswith("level\t"):
        raise OcrError(f"tesseract output is not its TSV format: {tsv[:80]!r}")
    rows = [line.split("\t") for line in lines[1:]]
    words: list[OcrWord] = []
    blocks: list[int] = []  # tesseract block of each word
    line_index, last_key = -1, None
    for row in rows:
        if len(row) < 12 or row[0] != "5" or not row[11].strip():
            continue
        block, par, line, left, top, width, height = (int(v) for v in (row[2], row[3], row[4], *row[6:10]))
        if (block, par, line) != last_key:
            line_index, last_key = line_index + 1, (block, par, line)
        blocks.append(block)
        words.append(OcrWord(row[11].strip(), (left, top, left + width, top + height), max(float(row[10]), 0.0), line_index))
    paragraphs = []
    for _, in_block in groupby(zip(blocks, words), key=lambda bw: bw[0]):
        by_line = groupby((w for _, w in in_block), key=lambda w: w.line)
        paragraphs.append("\n".join(" ".join(w.text for w in line) for _, line in by_line))
    return OcrResult("\n\n".join(paragraphs), tuple(words))
