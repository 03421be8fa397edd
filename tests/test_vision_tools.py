"""The vision tools as env tools: registry, answers, limits, and bad input as step errors (never exceptions)."""

import json

import numpy as np
import pytest

from mmsearch_gym.core import ImageStore, Score, StepError, Task, ToolContext, ToolEnv, ToolError, available_tools, make_tool
from mmsearch_gym.tools.vision import (
    CropTool, OcrTool, PerspectiveCorrectTool, SharpenTool, SuperResolutionTool, sharpen, super_resolution,
)

NAMES = ["crop", "sharpen", "super_resolution", "perspective_correct", "ocr"]
IMG = np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)  # W=80, H=60


def ctx_with(*images, **store_kwargs):
    store = ImageStore(**store_kwargs)
    for img in images:
        store.add(img)
    return ToolContext(images=store, rng=np.random.default_rng(0))


def test_registered_under_the_paper_names_with_openai_schemas():
    assert set(NAMES) <= set(available_tools())
    for name in NAMES:
        tool = make_tool(name)
        schema = tool.schema()
        assert schema["type"] == "function" and schema["function"]["name"] == name
        assert schema["function"]["parameters"]["properties"]["image"]["type"] == "string"
    scale = make_tool("super_resolution").parameters["properties"]["scale"]
    assert scale["enum"] == [2, 3, 4] and scale["default"] == 4
    assert make_tool("sharpen").parameters["properties"]["amount"]["default"] == 1.5


def test_each_tool_stores_its_image_and_answers_with_id_and_size():
    ctx = ctx_with(IMG)
    crop = CropTool()({"image": "img_1", "x": 10, "y": 20, "width": 30, "height": 15}, ctx)
    assert crop.images == ["img_2"] and "Cropped img_1 to [10, 20, 40, 35]; the result is img_2 (30×15)." == crop.text
    np.testing.assert_array_equal(ctx.images.get("img_2"), IMG[20:35, 10:40])
    padded = CropTool()({"image": "img_1", "bbox_2d": [0.25, 0.25, 0.75, 0.75]}, ctx)  # 40×30 box, 10% = 4×3 px
    assert "[16, 12, 64, 48]" in padded.text and ctx.images.get("img_3").shape == (36, 48, 3)

    sharp = SharpenTool()({"image": "img_1", "amount": 2}, ctx)
    assert "Sharpened img_1 (amount 2); the result is img_4 (80×60)." == sharp.text
    np.testing.assert_array_equal(ctx.images.get("img_4"), sharpen(IMG, 2))

    upscaled = SuperResolutionTool()({"image": "img_2", "scale": 3}, ctx)
    assert "Upscaled img_2 ×3 (classical" in upscaled.text and "img_5 (90×45)" in upscaled.text
    np.testing.assert_array_equal(ctx.images.get("img_5"), super_resolution(IMG[20:35, 10:40], 3))
    assert SuperResolutionTool()({}, ctx).text.endswith("img_6 (360×180).")  # latest image, default scale 4


def test_perspective_tool_answers_with_corners():
    img = np.full((200, 300, 3), 50, np.uint8)
    img[40:160, 60:260] = 235
    ctx = ctx_with(img)
    result = PerspectiveCorrectTool()({"image": "img_1"}, ctx)
    corners = json.loads(result.text.split("corners ")[1].split(" (top-left")[0])
    assert np.abs(np.array(corners) - [[60, 40], [259, 40], [259, 159], [60, 159]]).max() <= 2
    assert result.images == ["img_2"] and ctx.images.get("img_2").min() > 200
    with pytest.raises(ToolError, match="no quadrilateral .* in img_1; nothing was changed") as err:
        PerspectiveCorrectTool()({}, ctx_with(np.full((50, 50, 3), 9, np.uint8)))
    assert err.value.kind == StepError.TOOL_FAILED


@pytest.mark.parametrize(
    "tool, args, kind, message",
    [
        (CropTool, {"image": "img_7", "x": 1, "y": 1, "width": 2, "height": 2}, StepError.BAD_IMAGE_REF, "valid ids are: img_1"),
        (CropTool, {"image": 3.5, "x": 1, "y": 1, "width": 2, "height": 2}, StepError.BAD_ARGUMENTS, "not of type 'string'"),
        (CropTool, {"x": 1, "y": 1, "width": 0, "height": 2}, StepError.BAD_ARGUMENTS, "must be positive"),
        (CropTool, {"x": 80, "y": 0, "width": 5, "height": 5}, StepError.BAD_ARGUMENTS, r"outside the image \(80×60\)"),
        (CropTool, {"bbox_2d": [5, 5, 5, 20]}, StepError.BAD_ARGUMENTS, "zero area"),
        (CropTool, {"bbox_2d": [1, 2, 3]}, StepError.BAD_ARGUMENTS, "too short"),
        (CropTool, {"x": float("nan"), "y": 1, "width": 2, "height": 2}, StepError.BAD_ARGUMENTS, "not a finite number"),
        (CropTool, {"x": -1e308, "y": 1, "width": 1e308, "height": 2}, StepError.BAD_ARGUMENTS, "outside"),
        (CropTool, {"x": "ten", "y": 1, "width": 2, "height": 2}, StepError.BAD_ARGUMENTS, "not of type 'number'"),
        (CropTool, {"x": 1, "y": 1}, StepError.BAD_ARGUMENTS, "missing width, height"),
        (CropTool, {"x": 1, "y": 1, "width": 2, "height": 2, "zoom": 2}, StepError.BAD_ARGUMENTS, "Additional properties"),
        (SharpenTool, {"amount": -1}, StepError.BAD_ARGUMENTS, "minimum of 0"),
        (SharpenTool, {"amount": 1e9}, StepError.BAD_ARGUMENTS, "maximum of 10"),
        (SharpenTool, {"amount": [1]}, StepError.BAD_ARGUMENTS, "not of type 'number'"),
        (SuperResolutionTool, {"scale": 8}, StepError.BAD_ARGUMENTS, r"is not one of \[2, 3, 4\]"),
        (SuperResolutionTool, {"scale": 2.5}, StepError.BAD_ARGUMENTS, "not of type 'integer'"),
        (SuperResolutionTool, {"scale": "4"}, StepError.BAD_ARGUMENTS, "not of type 'integer'"),
        (PerspectiveCorrectTool, {"image": ""}, StepError.BAD_IMAGE_REF, "Unknown image"),
        (OcrTool, {"lang": 7}, StepError.BAD_ARGUMENTS, "not of type 'string'"),
    ],
)
def test_bad_arguments_are_step_errors_of_the_right_kind(tool, args, kind, message):
    ctx = ctx_with(IMG)
    with pytest.raises(ToolError, match=message) as err:
        tool()(args, ctx)
    assert err.value.kind == kind and len(ctx.images) == 1


def test_no_image_yet_is_a_bad_image_ref():
    for name in NAMES:
        with pytest.raises(ToolError, match="no image yet") as err:
            make_tool(name)({"x": 0, "y": 0, "width": 1, "height": 1} if name == "crop" else {}, ctx_with())
        assert err.value.kind == StepError.BAD_IMAGE_REF


def test_pixel_limits_are_configurable_and_checked_before_work():
    ctx = ctx_with(IMG)  # 4800 pixels
    for name in NAMES:
        with pytest.raises(ToolError, match=r"80×60 = 4,800 pixels, over this tool's limit of 4,799; crop it first") as err:
            make_tool(name, max_input_pixels=4799)({"x": 0, "y": 0, "width": 1, "height": 1} if name == "crop" else {}, ctx)
        assert err.value.kind == StepError.BAD_ARGUMENTS
    with pytest.raises(ToolError, match=r"result would be 320×240, over the limit of 50,000 pixels") as err:
        SuperResolutionTool(max_output_pixels=50_000)({"scale": 4}, ctx)
    assert err.value.kind == StepError.BAD_ARGUMENTS
    assert SuperResolutionTool(max_output_pixels=50_000)({"scale": 2}, ctx).images == ["img_2"]  # 19,200 fits
    small_store = ctx_with(IMG, max_side=200)
    with pytest.raises(ToolError, match=r"longest side 200\); crop first or use a smaller scale"):
        SuperResolutionTool()({"scale": 3}, small_store)
    with pytest.raises(ValueError, match="max_output_pixels must be a positive integer"):
        SuperResolutionTool(max_output_pixels=0)
    with pytest.raises(ValueError, match="max_input_pixels must be a positive integer"):
        CropTool(max_input_pixels=2.5)
    with pytest.raises(ValueError, match="timeout_s must be a positive number"):
        OcrTool(timeout_s=0)
    with pytest.raises(ValueError, match="max_words must be an integer"):
        OcrTool(max_words=-1)


def test_a_full_image_store_is_a_tool_failed_step_error():
    ctx = ctx_with(IMG, IMG, max_images=2)
    with pytest.raises(ToolError, match="already holds 2 images") as err:
        SharpenTool()({}, ctx)
    assert err.value.kind == StepError.TOOL_FAILED


# ---- through the env: nothing escapes step ----------------------------------------------------------
class VisionEnv(ToolEnv):
    env_id = "test/Vision-v0"

    def __init__(self, ocr_cmd=None, **kwargs):
        tools = [CropTool(), SharpenTool(), SuperResolutionTool(), PerspectiveCorrectTool(),
                 OcrTool(tesseract_cmd=ocr_cmd, timeout_s=5)]
        super().__init__(tools, **kwargs)

    def _new_task(self, rng, options):
        return Task("t0", "Read the sign.", images=[IMG], answer="x")

    def _score(self, answer):
        return Score(float(answer == "x"), {"accuracy": float(answer == "x")})


def call(name, arguments):
    return f'<think>t</think><tool_call>{json.dumps({"name": name, "arguments": arguments})}</tool_call>'


def test_bad_calls_through_step_are_step_errors_and_good_ones_add_images():
    env = VisionEnv(ocr_cmd="/nonexistent/tesseract", max_turns=50, fatal_k=50)
    env.reset(seed=0)
    cases = [
        (call("crop", {"image": "img_9", "x": 0, "y": 0, "width": 5, "height": 5}), "bad_image_ref"),
        (call("crop", {"image": "img_1", "bbox_2d": [100, 100, 120, 120], "padding": 0}), "bad_arguments"),
        (call("super_resolution", {"scale": 0}), "bad_arguments"),
        (call("sharpen", {"amount": "lots"}), "bad_arguments"),
        (call("perspective_correct", {}), "tool_failed"),
        (call("ocr", {}), "tool_failed"),
        (call("crop", {"image": "img_1", "bbox_2d": [0.1, 0.1, 0.6, 0.6]}), None),
        (call("super_resolution", {"scale": 2}), None),
    ]
    for action, kind in cases:
        obs, _, terminated, truncated, info = env.step(action)
        assert info["step_error"] == kind, (action, obs["text"])
        assert not terminated and not truncated
    assert "install tesseract" in env.episode_record().turns[5].error_message
    assert env.images.ids == ["img_1", "img_2", "img_3"] and len(obs["images"]) == 1
    assert obs["images"][0].shape == (2 * 36, 2 * 48, 3) and "img_3 (96×72)" in obs["text"]


def test_random_agents_never_raise_out_of_step():
    env = VisionEnv(ocr_cmd="/nonexistent/tesseract", max_turns=12, fatal_k=4)
    rng = np.random.default_rng(1)
    kinds = set()
    for episode in range(6):
        env.reset(seed=episode)
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(env.random_action(rng))
            kinds.add(info["step_error"])
            done = terminated or truncated
    assert {"bad_arguments", None} <= kinds
