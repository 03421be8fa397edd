"""Super-resolution: the classical default against bicubic, and the learned backends."""

import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from mmsearch_gym.core import ImageStore, StepError, ToolContext, ToolError
from mmsearch_gym.tools.superres import LearnedUpscaler
from mmsearch_gym.tools.vision import SuperResolutionTool, load_sr_model, super_resolution

SIZE = 252  # divisible by 2, 3 and 4


def render_text(lines):
    img = Image.new("RGB", (SIZE, SIZE), (255, 255, 255))
    draw, y = ImageDraw.Draw(img), 6
    for text, px, color in lines:
        draw.text((6, y), text, fill=color, font=ImageFont.load_default(size=px))
        y += int(px * 1.3)
    return np.asarray(img)


def render_shapes(seed):
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (SIZE, SIZE), (225, 228, 232))
    draw = ImageDraw.Draw(img)
    for i in range(12):
        color = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y = (int(v) for v in rng.integers(0, SIZE - 40, 2))
        w, h = (int(v) for v in rng.integers(12, 90, 2))
        if i % 3 == 0:
            draw.rectangle([x, y, x + w, y + h], fill=color)
        elif i % 3 == 1:
            draw.ellipse([x, y, x + w, y + h], fill=color)
        else:
            draw.line([x, y, x + w, y + h], fill=color, width=3)
    return np.asarray(img)


IMAGES = {
    "text_a": lambda: render_text(
        [("Harbor Museum", 34, (0, 0, 0)), ("opens at 9:30", 28, (30, 30, 120)), ("Quartz 1887", 40, (120, 20, 20)),
         ("velvet lantern", 24, (0, 80, 0)), ("ZEBRA-7 gate", 30, (0, 0, 0))]
    ),
    "text_b": lambda: render_text(
        [("Platform 4", 44, (10, 10, 10)), ("Express Valmora", 26, (0, 0, 90)), ("departs 17:45", 32, (0, 0, 0)),
         ("mind the gap", 22, (90, 0, 0)), ("EXIT", 48, (0, 90, 0))]
    ),
    "shapes_0": lambda: render_shapes(0),
    "shapes_1": lambda: render_shapes(1),
}


def downscale(hr, scale, kernel):
    size = (hr.shape[1] // scale, hr.shape[0] // scale)
    if kernel == "area":
        return cv2.resize(hr, size, interpolation=cv2.INTER_AREA)
    return np.asarray(Image.fromarray(hr).resize(size, Image.BICUBIC))  # antialiased bicubic


@pytest.mark.parametrize("kernel", ["area", "pil_bicubic"])
@pytest.mark.parametrize("scale", [4, 3, 2])
def test_classical_beats_bicubic_in_psnr_and_ssim(scale, kernel):
    ssim_gains = []
    for name, make in IMAGES.items():
        hr = make()
        lr = downscale(hr, scale, kernel)
        bicubic = cv2.resize(lr, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
        ours = super_resolution(lr, scale)
        assert ours.shape == hr.shape and ours.dtype == np.uint8
        psnr_gain = peak_signal_noise_ratio(hr, ours) - peak_signal_noise_ratio(hr, bicubic)
        ssim_gain = structural_similarity(hr, ours, channel_axis=2) - structural_similarity(hr, bicubic, channel_axis=2)
        # measured: +0.66…+4.8 dB and +0.007…+0.075 SSIM per image; the bounds leave room for library drift
        assert psnr_gain > 0.3 and ssim_gain > 0.003, (name, psnr_gain, ssim_gain)
        ssim_gains.append(ssim_gain)
    assert np.mean(ssim_gains) > 0.02


@pytest.mark.parametrize("blur", [1.5, 3.0])
def test_classical_beats_bicubic_on_photo_like_texture(blur):
    field = cv2.GaussianBlur(np.random.default_rng(3).normal(128, 60, (SIZE, SIZE, 3)).astype(np.float32), (0, 0), blur)
    hr = np.clip((field - 128) * blur + 128, 0, 255).astype(np.uint8)
    lr = downscale(hr, 4, "area")
    bicubic = cv2.resize(lr, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
    # measured +0.22 dB (blur 1.5) and +1.3 dB (blur 3): the edge-only clamp leaves smooth gradients alone
    assert peak_signal_noise_ratio(hr, super_resolution(lr, 4)) > peak_signal_noise_ratio(hr, bicubic)


def test_scale_is_checked_and_gray_input_is_accepted():
    gray = np.zeros((10, 12), np.uint8)
    assert super_resolution(gray, 3).shape == (30, 36, 3)
    for bad in (1, 5, 2.5, "2", True, float("nan")):
        with pytest.raises(ValueError, match="scale must be one of 2, 3, 4"):
            super_resolution(gray, bad)


# ---- learned backends: tiny nearest-neighbour "models" whose output is known exactly ----------------
def nearest(img, s):
    return img.repeat(s, axis=0).repeat(s, axis=1)


def onnx_nearest(path, channels, factor=2):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.array([], np.float32), "roi"),
             numpy_helper.from_array(np.array([1, 1, factor, factor], np.float32), "scales")]
    node = helper.make_node("Resize", ["x", "roi", "scales"], ["y"], mode="nearest")
    graph = helper.make_graph(
        [node], "nearest", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, channels, "H", "W"])], initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_onnx_model_runs_through_opencv_dnn(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    model = load_sr_model(onnx_nearest(tmp_path / "nearest.onnx", 3))
    assert model.scale == 2 and model.kind == "onnx"
    np.testing.assert_array_equal(model.upscale(img, 2), nearest(img, 2))
    # another scale: the model's ×2, then Lanczos to ×4
    assert model.upscale(img, 4).shape == (36, 52, 3)


def test_dnn_superres_preprocessing_edsr_and_y_channel(tmp_path):
    """The .pb algorithms' pre/post-processing, driven by nearest-neighbour nets of the right channel count."""
    import cv2 as _cv2

    gray = np.repeat(np.random.default_rng(1).integers(0, 256, (8, 11, 1), dtype=np.uint8), 3, axis=2)
    edsr = LearnedUpscaler(tmp_path / "EDSR_x2.pb", "edsr", _cv2.dnn.readNetFromONNX(str(onnx_nearest(tmp_path / "e.onnx", 3))))
    np.testing.assert_array_equal(edsr.upscale(gray, 2), nearest(gray, 2))  # mean removed then added back
    espcn = LearnedUpscaler(tmp_path / "ESPCN_x2.pb", "espcn", _cv2.dnn.readNetFromONNX(str(onnx_nearest(tmp_path / "y.onnx", 1))))
    out = espcn.upscale(gray, 2)  # Y through the net, chroma (flat for gray) resized
    assert np.abs(out.astype(int) - nearest(gray, 2)).max() <= 1


def export_torch(path, module, dynamic=True):
    torch = pytest.importorskip("torch")
    x = torch.rand(1, 3, 16, 16)
    shapes = ({2: torch.export.Dim("h", min=2, max=4096), 3: torch.export.Dim("w", min=2, max=4096)},) if dynamic else None
    torch.export.save(torch.export.export(module, (x,), dynamic_shapes=shapes), str(path))
    return path


def test_torch_export_model_and_tool_answer(tmp_path):
    torch = pytest.importorskip("torch")

    class Nearest3(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.interpolate(x, scale_factor=3, mode="nearest")

    path = export_torch(tmp_path / "nearest_x3.pt2", Nearest3())
    img = np.random.default_rng(2).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    store = ImageStore()
    store.add(img)
    tool = SuperResolutionTool(model_path=str(path))
    result = tool({"image": "img_1", "scale": 3}, ToolContext(images=store, rng=np.random.default_rng(0)))
    np.testing.assert_array_equal(store.get("img_2"), nearest(img, 3))
    assert "model nearest_x3.pt2" in result.text and "img_2 (15×21)" in result.text


def test_a_model_that_fails_at_run_time_is_a_tool_failed_step_error(tmp_path):
    torch = pytest.importorskip("torch")
    up = torch.nn.Upsample(scale_factor=2, mode="nearest")
    tool = SuperResolutionTool(model_path=str(export_torch(tmp_path / "static.pt2", up, dynamic=False)))
    store = ImageStore()
    store.add(np.zeros((20, 24, 3), np.uint8))  # not the 16×16 it was exported for
    with pytest.raises(ToolError) as err:
        tool({"scale": 2}, ToolContext(images=store, rng=np.random.default_rng(0)))
    assert err.value.kind == StepError.TOOL_FAILED and len(store) == 1


@pytest.mark.parametrize(
    "name, content, error, message",
    [
        ("missing/EDSR_x4.pb", None, FileNotFoundError, "does not exist"),
        ("EDSR_x4.pb", b"this is not a tensorflow graph", ValueError, "could not load .* as a edsr"),
        ("my_model.pb", b"\x00", ValueError, r"cannot tell the dnn_superres algorithm .*\(EDSR_x4.pb"),
        ("FSRCNN_x2.h5", b"\x00", ValueError, "unsupported super-resolution model file .*expected .pb"),
        ("broken.onnx", b"garbage", ValueError, "could not load .* as a onnx"),
        ("broken.pt2", b"garbage", ValueError, "could not load .* as a torch"),
    ],
)
def test_model_file_errors_are_clear(tmp_path, name, content, error, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error, match=message):
        SuperResolutionTool(model_path=str(path))


def test_a_model_that_does_not_upscale_is_refused_at_load(tmp_path):
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="not an upscaler"):
        load_sr_model(export_torch(tmp_path / "identity.pt2", torch.nn.Identity()))


def test_vision_import_does_not_import_torch():
    code = "import sys, mmsearch_gym.tools.vision; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
