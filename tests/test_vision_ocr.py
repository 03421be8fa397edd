"""OCR through tesseract, its failure modes (with stand-in binaries), and the end-to-end reading pipeline."""

import os
import shutil
import stat
import time

import cv2
import numpy as np
import pytest
import pytesseract
from PIL import Image, ImageDraw, ImageFont

from mmsearch_gym.core import ImageStore, StepError, ToolContext, ToolError
from mmsearch_gym.core.cache import ResultCache
from mmsearch_gym.tools.ocr import _parse_tsv
from mmsearch_gym.tools.vision import (
    INSTALL_HINT, OcrError, OcrTimeout, OcrTool, PerspectiveCorrectTool, SuperResolutionTool, TesseractNotFound, ocr,
)

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")


def ctx_with(*images):
    store = ImageStore()
    for img in images:
        store.add(img)
    return ToolContext(images=store, rng=np.random.default_rng(0))


def fake_tesseract(tmp_path, body, executable=True):
    """A stand-in for the tesseract binary: a shell script at the edge of the system."""
    path = tmp_path / "tesseract"
    path.write_text(f"#!/bin/sh\n{body}\n")
    if executable:
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


BLANK = np.full((40, 120, 3), 255, np.uint8)


# ---- reading words --------------------------------------------------------------------------------
WORDS = [("Harbor", 20, 20), ("Museum", 190, 20), ("opens", 20, 90), ("1887", 190, 90)]


def render_words():
    """Words at known places, and each word's ink box measured on its own canvas."""
    font = ImageFont.load_default(size=40)
    page = Image.new("RGB", (360, 150), "white")
    boxes = []
    for text, x, y in WORDS:
        ImageDraw.Draw(page).text((x, y), text, fill="black", font=font)
        alone = Image.new("L", page.size, 255)
        ImageDraw.Draw(alone).text((x, y), text, fill=0, font=font)
        ys, xs = np.nonzero(np.asarray(alone) < 128)
        boxes.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
    return np.asarray(page), boxes


def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@needs_tesseract
def test_ocr_returns_text_word_boxes_and_confidences():
    page, ink_boxes = render_words()
    result = ocr(page)
    assert [w.text for w in result.words] == [t for t, _, _ in WORDS]
    assert [line for line in result.text.splitlines() if line] == ["Harbor Museum", "opens 1887"]
    assert [w.line for w in result.words] == [0, 0, 1, 1]
    for word, ink in zip(result.words, ink_boxes):
        assert iou(word.bbox, ink) > 0.8, (word, ink)
        assert 50 < word.confidence <= 100
    assert ocr(BLANK).words == () and ocr(BLANK).text == ""


@needs_tesseract
def test_ocr_tool_answer_lists_words_with_boxes():
    page, _ = render_words()
    ctx = ctx_with(page)
    result = OcrTool(max_words=3)({"image": "img_1"}, ctx)
    assert result.images == [] and len(ctx.images) == 1  # OCR adds no image
    assert "4 words in 2 lines" in result.text and "Text:\nHarbor Museum\n" in result.text
    assert '["Harbor", [' in result.text and "(+1 more words)" in result.text
    assert "no text found" in OcrTool()({}, ctx_with(BLANK)).text


def test_tsv_parsing_by_hand():
    head = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    rows = [
        "1\t1\t0\t0\t0\t0\t0\t0\t300\t200\t-1\t",
        "5\t1\t1\t1\t1\t1\t10\t20\t30\t15\t96.5\tHello",
        "5\t1\t1\t1\t1\t2\t45\t20\t40\t15\t91\tworld",
        "5\t1\t1\t1\t2\t1\t10\t40\t20\t15\t88\tbye",
        "5\t1\t1\t1\t2\t2\t35\t40\t5\t15\t-1\t ",  # empty word: skipped
        "5\t1\t2\t1\t1\t1\t10\t90\t50\t15\t70\tnext",
    ]
    result = _parse_tsv("\n".join([head, *rows]))
    assert result.text == "Hello world\nbye\n\nnext"
    assert [(w.text, w.bbox, w.confidence, w.line) for w in result.words] == [
        ("Hello", (10, 20, 40, 35), 96.5, 0), ("world", (45, 20, 85, 35), 91.0, 0),
        ("bye", (10, 40, 30, 55), 88.0, 1), ("next", (10, 90, 60, 105), 70.0, 2),
    ]
    assert result.mean_confidence == pytest.approx((96.5 + 91 + 88 + 70) / 4)
    with pytest.raises(OcrError, match="not its TSV format"):
        _parse_tsv("Segmentation fault")


# ---- failure modes, each a step error of the right kind -------------------------------------------
def test_missing_binary_says_how_to_install():
    with pytest.raises(TesseractNotFound, match="apt-get install tesseract-ocr"):
        ocr(BLANK, tesseract_cmd="/nonexistent/bin/tesseract")
    with pytest.raises(ToolError, match="install tesseract: apt-get install tesseract-ocr") as err:
        OcrTool(tesseract_cmd="/nonexistent/bin/tesseract")({}, ctx_with(BLANK))
    assert err.value.kind == StepError.TOOL_FAILED and "apt-get install tesseract-ocr" in INSTALL_HINT


def test_hanging_binary_times_out(tmp_path):
    cmd = fake_tesseract(tmp_path, "exec sleep 30")
    start = time.perf_counter()
    with pytest.raises(OcrTimeout, match="longer than 0.5 s"):
        ocr(BLANK, tesseract_cmd=cmd, timeout_s=0.5)
    with pytest.raises(ToolError, match="stopped") as err:
        OcrTool(tesseract_cmd=cmd, timeout_s=0.5)({}, ctx_with(BLANK))
    assert err.value.kind == StepError.TIMEOUT
    assert time.perf_counter() - start < 8  # two calls of 0.5 s plus pytesseract's 1 s grace each


@pytest.mark.parametrize(
    "body, executable, message",
    [
        ("echo 'Error: Leptonica could not read the image' >&2; exit 3", True, "tesseract failed: .*Leptonica"),
        ("exit 0", True, "produced no output"),
        ("exit 0", False, "could not run tesseract"),
        ('echo "Segmentation fault" > "$2.tsv"', True, "not its TSV format"),
    ],
    ids=["exit-status", "no-output", "not-executable", "garbage-output"],
)
def test_failing_binary_is_a_tool_failed_step_error(tmp_path, body, executable, message):
    cmd = fake_tesseract(tmp_path, body, executable)
    with pytest.raises(ToolError, match=message) as err:
        OcrTool(tesseract_cmd=cmd)({}, ctx_with(BLANK))
    assert err.value.kind == StepError.TOOL_FAILED


def test_a_per_call_binary_does_not_leak_into_pytesseract():
    before = pytesseract.pytesseract.tesseract_cmd
    with pytest.raises(TesseractNotFound):
        ocr(BLANK, tesseract_cmd="/nonexistent/tesseract")
    assert pytesseract.pytesseract.tesseract_cmd == before


def test_tesseract_runs_single_threaded_unless_asked(tmp_path, monkeypatch):
    """The stand-in binary reports the OMP_THREAD_LIMIT it was started with as its one word."""
    head = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    cmd = fake_tesseract(
        tmp_path, f'printf "{head}\\n5\\t1\\t1\\t1\\t1\\t1\\t0\\t0\\t9\\t9\\t90\\t%s\\n" "${{OMP_THREAD_LIMIT:-unset}}" > "$2.tsv"'
    )
    monkeypatch.delenv("OMP_THREAD_LIMIT", raising=False)
    assert ocr(BLANK, tesseract_cmd=cmd).text == "1"
    assert ocr(BLANK, tesseract_cmd=cmd, threads=3).text == "3"
    assert ocr(BLANK, tesseract_cmd=cmd, threads=None).text == "unset"
    assert "OMP_THREAD_LIMIT" not in os.environ  # only the child's environment
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        ocr(BLANK, threads=0)


def test_page_segmentation_mode_defaults_to_one_block_and_the_agent_may_choose(tmp_path):
    """The stand-in binary reports the --psm it was given as its one word; results are cached per mode."""
    head = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    cmd = fake_tesseract(
        tmp_path,
        'psm=$(echo "$@" | sed -n "s/.*--psm \\([0-9]*\\).*/\\1/p")\n'
        f'printf "{head}\\n5\\t1\\t1\\t1\\t1\\t1\\t0\\t0\\t9\\t9\\t90\\tpsm%s\\n" "$psm" > "$2.tsv"',
    )
    assert ocr(BLANK, tesseract_cmd=cmd).text == "psm6"
    tool = OcrTool(tesseract_cmd=cmd, cache=ResultCache())
    ctx = ctx_with(BLANK)
    assert "Text:\npsm6\n" in tool({}, ctx).text
    assert "Text:\npsm3\n" in tool({"psm": 3}, ctx).text  # another mode is another cache entry
    assert "Text:\npsm11\n" in OcrTool(tesseract_cmd=cmd, psm=11, cache=False)({}, ctx).text
    with pytest.raises(ToolError) as err:
        tool({"psm": 7}, ctx)
    assert err.value.kind == StepError.BAD_ARGUMENTS
    with pytest.raises(ValueError, match="psm must be one of"):
        OcrTool(psm=0)


@pytest.mark.parametrize(
    "lang, message",
    [("xx_notalang", "no data for language 'xx_notalang'.*tesseract-ocr-xx-notalang"),
     ("eng; rm -rf /", "language codes like 'eng'"), ("", "language codes")],
)
def test_bad_language_is_bad_arguments(lang, message):
    if lang == "xx_notalang" and shutil.which("tesseract") is None:
        pytest.skip("tesseract is not installed")
    with pytest.raises(ToolError, match=message) as err:
        OcrTool()({"lang": lang}, ctx_with(BLANK))
    assert err.value.kind == StepError.BAD_ARGUMENTS


# ---- end to end: photographed, blurred, downscaled documents read back ------------------------------
DOCUMENTS = [
    ["HARBOR MUSEUM", "Opens daily at 9:30", "Tickets 12 EUR"],
    ["Platform 4 North", "Express to Valmora", "Departs 17:45"],
    ["Quartz Lantern Co.", "Founded in 1887", "Since then, bright."],
    ["Room 214, 2nd floor", "Dr. Vera Kowalski", "Ask at the desk!"],
    ["Gate B12 closes", "20 minutes before", "departure, sharp."],
    ["Soup of the day 4.50", "Fresh bread 2.00", "Open until 22:00"],
]
DOWNSCALE = 4


def photograph_document(lines, seed):
    """Render, warp by a known homography onto a noisy background, blur (σ 1.5), downscale ×4."""
    font = ImageFont.load_default(size=36)
    width = max(int(font.getlength(line)) for line in lines) + 48
    doc = Image.new("RGB", (width, len(lines) * 54 + 48), (250, 248, 240))
    for i, line in enumerate(lines):
        ImageDraw.Draw(doc).text((24, 24 + i * 54), line, fill=(20, 20, 30), font=font)
    doc = np.asarray(doc)
    h, w = doc.shape[:2]
    rng = np.random.default_rng(seed)
    corners = np.float32([[0.2 * w, 0.25 * h], [1.3 * w, 0.3 * h], [1.25 * w, 1.35 * h], [0.25 * w, 1.3 * h]])
    corners += rng.uniform(-0.08, 0.08, (4, 2)).astype(np.float32) * [w, h]
    matrix = cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), corners)
    size = (int(w * 1.5), int(h * 1.6))
    background = (np.array([70, 90, 110]) + rng.integers(0, 25, (size[1], size[0], 1))).astype(np.uint8)
    photo = cv2.warpPerspective(doc, matrix, size, dst=background, borderMode=cv2.BORDER_TRANSPARENT)
    photo = cv2.GaussianBlur(photo, (0, 0), 1.5)
    return cv2.resize(photo, (size[0] // DOWNSCALE, size[1] // DOWNSCALE), interpolation=cv2.INTER_AREA)


def edit_distance(a, b):
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def test_edit_distance_by_hand():
    assert edit_distance("kitten", "sitting") == 3 and edit_distance("", "abc") == 3 and edit_distance("ab", "ab") == 0


@needs_tesseract
def test_perspective_correct_then_super_resolution_then_ocr_reads_the_documents_back():
    tools = [PerspectiveCorrectTool(), SuperResolutionTool(), OcrTool()]
    errors = total = 0
    for seed, lines in enumerate(DOCUMENTS):
        ctx = ctx_with(photograph_document(lines, seed))
        assert ctx.images.get("img_1").shape[0] < 90  # text a few pixels high: unreadable as it is
        for tool, arguments in zip(tools, [{"image": "img_1"}, {"image": "img_2", "scale": DOWNSCALE}, {"image": "img_3"}]):
            result = tool(arguments, ctx)
        truth = " ".join(lines)
        read = " ".join(result.text.split("Text:\n", 1)[1].split("\nWords")[0].split())
        errors += edit_distance(truth, read)
        total += len(truth)
    assert 1 - errors / total >= 0.98
