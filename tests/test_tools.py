import numpy as np
import pytest

from mmsearch_gym.core import ImageStore, StepError, Tool, ToolContext, ToolError, ToolResult, available_tools, make_tool
from mmsearch_gym.tools.draw import (
    BOX_COLORS, END_COLOR, PATH_COLOR, START_COLOR, ObjectMapperTool, PathTracerTool, draw_boxes, draw_paths,
)


def ctx_with(*images):
    store = ImageStore()
    for img in images:
        store.add(img)
    return ToolContext(images=store, rng=np.random.default_rng(0))


WHITE = np.full((100, 200, 3), 255, np.uint8)


def test_path_is_a_black_line_with_red_start_and_blue_end():
    out = draw_paths(WHITE, [{"start_point_2d": [20, 50], "end_point_2d": [180, 50]}])
    assert tuple(out[50, 100]) == PATH_COLOR  # middle of the line
    assert (out[:, 100] == PATH_COLOR).all(axis=1).sum() == 4  # line width 4
    assert tuple(out[50, 20]) == START_COLOR and tuple(out[50, 180]) == END_COLOR
    assert tuple(WHITE[50, 100]) == (255, 255, 255)  # pure: input untouched


def test_boxes_are_coloured_rectangles_of_width_4():
    out = draw_boxes(WHITE, [{"bbox_2d": [10, 10, 60, 60]}, {"bbox_2d": [100, 20, 150, 80], "label": "b"}])
    assert tuple(out[35, 10]) == BOX_COLORS[0] and tuple(out[35, 13]) == BOX_COLORS[0]
    assert tuple(out[35, 14]) == (255, 255, 255)  # inside stays clear
    assert tuple(out[50, 150]) == BOX_COLORS[1]


def test_tool_stores_new_image_and_answers_with_id_and_size():
    ctx = ctx_with(WHITE)
    result = PathTracerTool()({"paths": [{"start_point_2d": [0, 0], "end_point_2d": [199, 99]}]}, ctx)
    assert isinstance(result, ToolResult) and result.images == ["img_2"]
    assert "img_2 (200×100)" in result.text and "img_1" in result.text
    assert tuple(ctx.images.get("img_2")[50, 100]) == PATH_COLOR


def test_schema_export_is_openai_style():
    schema = ObjectMapperTool().schema()
    assert schema["type"] == "function" and schema["function"]["name"] == "object_mapper"
    assert schema["function"]["parameters"]["required"] == ["objects"]
    assert {"path_tracer", "object_mapper"} <= set(available_tools())
    assert isinstance(make_tool("path_tracer"), PathTracerTool)
    with pytest.raises(KeyError, match="registered tools: .*path_tracer"):
        make_tool("teleport")


@pytest.mark.parametrize(
    "args, kind, message",
    [
        ({"paths": "nope"}, StepError.BAD_ARGUMENTS, "not of type 'array'"),
        ({"paths": []}, StepError.BAD_ARGUMENTS, "should be non-empty"),
        ({"paths": [{"start_point_2d": [1, 1]}]}, StepError.BAD_ARGUMENTS, "'end_point_2d' is a required"),
        ({"paths": [{"start_point_2d": ["a", 1], "end_point_2d": [1, 1]}]}, StepError.BAD_ARGUMENTS, "not of type 'number'"),
        ({"paths": [{"start_point_2d": [1, 1], "end_point_2d": [1, 1]}], "colour": "red"}, StepError.BAD_ARGUMENTS, "Additional properties"),
        ({"paths": [{"start_point_2d": [float("nan"), 1], "end_point_2d": [1, 1]}]}, StepError.BAD_ARGUMENTS, "not a finite number"),
        ({"paths": [{"start_point_2d": [1, 1], "end_point_2d": [200, 5]}]}, StepError.BAD_ARGUMENTS, r"outside img_1 \(200×100\)"),
        ({"paths": [{"start_point_2d": [-1, 1], "end_point_2d": [2, 5]}]}, StepError.BAD_ARGUMENTS, "0 ≤ x ≤ 199"),
        ({"paths": [{"start_point_2d": [1e300, 1], "end_point_2d": [2, 5]}]}, StepError.BAD_ARGUMENTS, "outside"),
        ({"image": "img_9", "paths": [{"start_point_2d": [1, 1], "end_point_2d": [2, 2]}]}, StepError.BAD_IMAGE_REF, "valid ids are: img_1"),
    ],
)
def test_bad_arguments_are_tool_errors_with_reasons(args, kind, message):
    ctx = ctx_with(WHITE)
    with pytest.raises(ToolError, match=message) as err:
        PathTracerTool()(args, ctx)
    assert err.value.kind == kind
    assert len(ctx.images) == 1  # nothing stored on failure


def test_zero_area_box_and_point_check_hook():
    ctx = ctx_with(WHITE)
    with pytest.raises(ToolError, match="zero area"):
        ObjectMapperTool()({"objects": [{"bbox_2d": [5, 5, 5, 9]}]}, ctx)
    tool = PathTracerTool(point_check=lambda x, y, c: "off grid" if x % 10 else None)
    with pytest.raises(ToolError, match=r"paths\[0\].start_point_2d: off grid"):
        tool({"paths": [{"start_point_2d": [5, 0], "end_point_2d": [10, 0]}]}, ctx)


def test_unexpected_exceptions_become_tool_failed():
    class Broken(Tool):
        name = "broken"
        description = "always fails"
        parameters = {"type": "object", "properties": {}}

        def run(self, arguments, ctx):
            raise RuntimeError("disk on fire")

    with pytest.raises(ToolError, match="broken failed: RuntimeError: disk on fire") as err:
        Broken()({}, ctx_with())
    assert err.value.kind == StepError.TOOL_FAILED
    with pytest.raises(ToolError, match="arguments must be an object"):
        Broken()([1], ctx_with())
