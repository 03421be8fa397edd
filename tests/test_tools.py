import numpy as np
import pytest

from mmsearch_gym.core import ImageStore, StepError, Tool, ToolContext, ToolError, ToolResult, available_tools, make_tool
from mmsearch_gym.tools.draw import (
    BOX_COLOR_NAMES, BOX_COLORS, END_COLOR, PATH_COLOR, START_COLOR, ObjectMapperTool, PathTracerTool, draw_boxes,
    draw_paths, drawing_of,
)


def ctx_with(*images):
    store = ImageStore()
    for img in images:
        store.add(img)
    return ToolContext(images=store, rng=np.random.default_rng(0))


WHITE = np.full((100, 200, 3), 255, np.uint8)


def test_path_is_a_black_line_with_red_start_and_blue_end():
    """VILASR's plot_movement: black line of width 4, red (255,0,0) start and blue (0,0,255) end dots of radius 4."""
    out = draw_paths(WHITE, [{"start_point_2d": [20, 50], "end_point_2d": [180, 50], "label": "not drawn"}])
    assert (PATH_COLOR, START_COLOR, END_COLOR) == ((0, 0, 0), (255, 0, 0), (0, 0, 255))
    assert tuple(out[50, 100]) == PATH_COLOR  # middle of the line
    assert (out[:, 100] == PATH_COLOR).all(axis=1).sum() == 4  # line width 4
    assert tuple(out[50, 20]) == START_COLOR and tuple(out[50, 180]) == END_COLOR
    assert (out[:, 180] == END_COLOR).all(axis=1).sum() == 9  # radius 4: rows 46..54
    assert tuple(WHITE[50, 100]) == (255, 255, 255)  # pure: input untouched
    assert (out[:40] == 255).all() and (out[60:] == 255).all()  # the path label is not drawn


def test_boxes_are_named_pil_colours_of_width_4_with_the_label_inside():
    out = draw_boxes(WHITE, [{"bbox_2d": [10, 10, 60, 60], "label": "a"}, {"bbox_2d": [150, 80, 100.9, 20], "label": "bb"}])
    assert BOX_COLOR_NAMES[:3] == ("red", "green", "blue") and BOX_COLORS[1] == (0, 128, 0)
    assert tuple(out[35, 10]) == (255, 0, 0) and tuple(out[35, 13]) == (255, 0, 0)
    assert tuple(out[35, 14]) == (255, 255, 255)  # inside the outline stays clear …
    assert tuple(out[50, 150]) == (0, 128, 0) and tuple(out[50, 100]) == (0, 128, 0)  # corners swapped, int() cut
    label = out[16:30, 16:30]  # … except the label, written at (x1 + 8, y1 + 6) in the box colour
    assert ((label[..., 0] == 255) & (label[..., 1] < 128)).sum() > 3


def test_tool_stores_new_image_and_answers_with_id_and_size():
    ctx = ctx_with(WHITE)
    result = PathTracerTool()({"paths": [{"start_point_2d": [0, 0], "end_point_2d": [200, 100], "label": "p"}]}, ctx)
    assert isinstance(result, ToolResult) and result.images == ["img_2"]
    assert "img_2 is img_1 with 0 boxes and 1 path drawn on it (200×100)" in result.text
    assert "The index of the given image is 2 (width: 200, height: 100)." in result.text
    assert tuple(ctx.images.get("img_2")[50, 100]) == PATH_COLOR


def test_items_are_kept_by_label_and_redrawn_on_the_original():
    """edit_image.merge_bbox_list: a redrawn label replaces its item in place; all items are
    drawn again on the original image, so a moved box leaves no trace where it was."""
    ctx = ctx_with(WHITE)
    tool = ObjectMapperTool()
    tool({"objects": [{"bbox_2d": [10, 10, 60, 60], "label": "cup"}, {"bbox_2d": [100, 10, 150, 60], "label": "pen"}]}, ctx)
    tool({"image": "img_2", "objects": [{"bbox_2d": [20, 40, 70, 90], "label": "cup"}]}, ctx)
    moved = ctx.images.get("img_3")
    assert tuple(moved[35, 10]) == (255, 255, 255)  # the old cup box is gone
    assert tuple(moved[60, 20]) == BOX_COLORS[0]  # the new cup box, still first: red
    assert tuple(moved[35, 100]) == BOX_COLORS[1]  # the pen box is kept, still green
    assert drawing_of(ctx.images, "img_3").original_id == "img_1"
    PathTracerTool()({"paths": [{"start_point_2d": [5, 95], "end_point_2d": [195, 95], "label": "edge"}],
                      "objects": [{"bbox_2d": [1, 1, 9, 9], "label": "dot"}], "image": "img_3"}, ctx)  # fmt: skip
    both = drawing_of(ctx.images, "img_4")
    assert [b["label"] for b in both.boxes] == ["cup", "pen", "dot"] and [p["label"] for p in both.paths] == ["edge"]
    fresh = ObjectMapperTool()({"objects": [{"bbox_2d": [1, 1, 9, 9], "label": "x", "index": 1}]}, ctx)
    assert "img_5 is img_1 with 1 box and 0 paths" in fresh.text  # index 1: img_1's own (empty) drawing


def test_items_name_their_image_by_index():
    ctx = ctx_with(WHITE, np.zeros((50, 60, 3), np.uint8))
    result = ObjectMapperTool()({"objects": [{"index": 2, "bbox_2d": [1, 1, 30, 30], "label": "a"},
                                             {"index": 1, "bbox_2d": [1, 1, 30, 30], "label": "b"}]}, ctx)  # fmt: skip
    assert result.images == ["img_3", "img_4"]
    assert ctx.images.get("img_3").shape == (50, 60, 3) and ctx.images.get("img_4").shape == (100, 200, 3)
    with pytest.raises(ToolError, match="valid ids are") as err:
        ObjectMapperTool()({"objects": [{"index": 9, "bbox_2d": [1, 1, 3, 3], "label": "a"}]}, ctx)
    assert err.value.kind == StepError.BAD_IMAGE_REF


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
        ({"paths": [{"start_point_2d": [1, 1], "label": "p"}]}, StepError.BAD_ARGUMENTS, "'end_point_2d' is a required"),
        ({"paths": [{"start_point_2d": [1, 1], "end_point_2d": [2, 2]}]}, StepError.BAD_ARGUMENTS, "'label' is a required"),
        ({"paths": [{"start_point_2d": ["a", 1], "end_point_2d": [1, 1], "label": "p"}]}, StepError.BAD_ARGUMENTS, "not of type 'number'"),
        ({"paths": [{"start_point_2d": [1, 1], "end_point_2d": [1, 1], "label": "p"}], "colour": "red"}, StepError.BAD_ARGUMENTS, "Additional properties"),
        ({"paths": [{"start_point_2d": [float("nan"), 1], "end_point_2d": [1, 1], "label": "p"}]}, StepError.BAD_ARGUMENTS, "not a finite number"),
        ({"paths": [{"start_point_2d": [1, 1], "end_point_2d": [201, 5], "label": "p"}]}, StepError.BAD_ARGUMENTS, r"outside img_1 \(200×100\)"),
        ({"paths": [{"start_point_2d": [-1, 1], "end_point_2d": [2, 5], "label": "p"}]}, StepError.BAD_ARGUMENTS, "0 ≤ x ≤ 200"),
        ({"paths": [{"start_point_2d": [1e300, 1], "end_point_2d": [2, 5], "label": "p"}]}, StepError.BAD_ARGUMENTS, "outside"),
        ({"image": "img_9", "paths": [{"start_point_2d": [1, 1], "end_point_2d": [2, 2], "label": "p"}]}, StepError.BAD_IMAGE_REF, "valid ids are: img_1"),
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
        ObjectMapperTool()({"objects": [{"bbox_2d": [5, 5, 5.5, 9], "label": "thin"}]}, ctx)
    tool = PathTracerTool(point_check=lambda x, y, c: "off grid" if x % 10 else None)
    with pytest.raises(ToolError, match=r"paths\[0\].start_point_2d: off grid"):
        tool({"paths": [{"start_point_2d": [5, 0], "end_point_2d": [10, 0], "label": "p"}]}, ctx)


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
