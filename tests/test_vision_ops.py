"""Pure vision functions: crop, sharpen, perspective correction (super-resolution and OCR have their own files)."""

import math

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from mmsearch_gym.tools.vision import (
    NoQuadrilateralError, crop, crop_box, find_quadrilateral, perspective_correct, rectified_size, sharpen,
    warp_quadrilateral,
)

IMG = np.random.default_rng(0).integers(0, 256, (100, 200, 3), dtype=np.uint8)  # H=100, W=200


# ---- crop ---------------------------------------------------------------------------------------
def test_crop_is_the_exact_pixel_slice():
    out = crop(IMG, x=10, y=20, width=30, height=40)
    np.testing.assert_array_equal(out, IMG[20:60, 10:40])
    out[:] = 0
    assert IMG[20:60, 10:40].any()  # a copy, the input is untouched


def test_normalised_and_absolute_boxes_agree():
    absolute = [20, 20, 100, 75]
    normalised = [0.1, 0.2, 0.5, 0.75]  # × (200, 100, 200, 100)
    for padding in (None, 0.0, 0.25):
        np.testing.assert_array_equal(
            crop(IMG, bbox_2d=normalised, padding=padding), crop(IMG, bbox_2d=absolute, padding=padding)
        )
    # the far edge may be 1.0 in normalised form (not all values are whole numbers)
    assert crop_box(IMG.shape, bbox_2d=[0.5, 0.5, 1.0, 1.0], padding=0) == (100, 50, 200, 100)
    # all whole numbers is absolute, even when they are 0 and 1
    assert crop_box(IMG.shape, bbox_2d=[0, 0, 1, 1], padding=0) == (0, 0, 1, 1)


def test_bbox_padding_is_ten_percent_by_default_and_xywh_is_unpadded():
    # box 40×20 → 4 px and 2 px on each side
    assert crop_box(IMG.shape, bbox_2d=[50, 40, 90, 60]) == (46, 38, 94, 62)
    assert crop_box(IMG.shape, bbox_2d=[90, 60, 50, 40], padding=0) == (50, 40, 90, 60)  # corners in any order
    assert crop_box(IMG.shape, x=50, y=40, width=40, height=20) == (50, 40, 90, 60)
    assert crop_box(IMG.shape, x=50, y=40, width=40, height=20, padding=0.5) == (30, 30, 110, 70)


def test_fractional_edges_round_outwards_and_boxes_are_clipped():
    assert crop_box(IMG.shape, x=10.5, y=3.2, width=5, height=2) == (10, 3, 16, 6)  # 15.5 → 16, 5.2 → 6
    assert crop_box(IMG.shape, x=-10, y=-10, width=30, height=30) == (0, 0, 20, 20)
    assert crop_box(IMG.shape, x=190, y=90, width=1e300, height=1e300) == (190, 90, 200, 100)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"x": 1, "y": 1, "width": 0, "height": 5}, "width and height must be positive"),
        ({"x": 1, "y": 1, "width": -3, "height": 5}, "width and height must be positive"),
        ({"bbox_2d": [5, 5, 5, 9]}, "zero area"),
        ({"x": 200, "y": 0, "width": 10, "height": 10}, r"outside the image \(200×100\)"),
        ({"bbox_2d": [-50, -50, -10, -10], "padding": 0}, "outside the image"),
        ({"x": 1e308, "y": 0, "width": 1e308, "height": 5}, "far too large|outside"),
        ({"x": 1, "y": 1}, "missing width, height"),
        ({}, "missing x, y, width, height"),
        ({"x": 1, "y": 1, "width": 5, "height": 5, "bbox_2d": [1, 1, 5, 5]}, "not both"),
        ({"bbox_2d": [1, 2, 3]}, "four numbers"),
        ({"bbox_2d": "1,2,3,4"}, "four numbers"),
        ({"x": float("nan"), "y": 1, "width": 5, "height": 5}, "finite"),
        ({"bbox_2d": [1, 2, 3, None]}, "must be a number"),
        ({"x": 10**400, "y": 1, "width": 5, "height": 5}, "far too large"),
        ({"bbox_2d": [1, 1, 5, 5], "padding": 2}, "padding must be between 0 and 1"),
    ],
)
def test_bad_crops_raise_value_errors_that_say_why(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        crop(IMG, **kwargs)


@pytest.mark.parametrize("value", ["3", True, [1], b"7"])
def test_non_numbers_are_type_errors(value):
    with pytest.raises(TypeError, match="x must be a number"):
        crop_box(IMG.shape, x=value, y=1, width=5, height=5)


# ---- sharpen ------------------------------------------------------------------------------------
def laplacian_variance(img):
    return cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()


def test_sharpen_raises_the_laplacian_variance_of_a_blurred_render():
    canvas = Image.new("RGB", (240, 80), "white")
    ImageDraw.Draw(canvas).text((8, 12), "Sharp 42", fill="black", font=ImageFont.load_default(size=44))
    blurred = cv2.GaussianBlur(np.asarray(canvas), (0, 0), 1.5)
    variances = [laplacian_variance(sharpen(blurred, amount)) for amount in (0.5, 1.5, 3.0)]
    assert laplacian_variance(blurred) < variances[0] < variances[1] < variances[2]
    assert variances[1] > 2 * laplacian_variance(blurred)
    np.testing.assert_array_equal(sharpen(blurred, 0.0), blurred)


def test_sharpen_matches_a_hand_written_unsharp_mask_on_a_step():
    row = np.array([100] * 10 + [150] * 10, np.uint8)
    img = np.repeat(np.repeat(row[None, :, None], 5, axis=0), 3, axis=2)
    taps = np.exp(-np.arange(-3, 4) ** 2 / 2.0)  # OpenCV's 7-tap kernel for sigma 1 on uint8
    taps /= taps.sum()
    padded = np.pad(row.astype(float), 3, mode="reflect")  # OpenCV's default border is reflect-101
    blurred = np.convolve(padded, taps, mode="valid")
    expected = np.clip(np.rint(row + 1.5 * (row - blurred)), 0, 255)
    out = sharpen(img, 1.5)
    assert np.abs(out[2, :, 0].astype(float) - expected).max() <= 1
    assert out[2, 9, 0] < row[9] and out[2, 10, 0] > row[10]  # undershoot and overshoot at the edge
    np.testing.assert_array_equal(sharpen(np.full((9, 9, 3), 77, np.uint8), 2.0), 77)  # flat stays flat


@pytest.mark.parametrize("amount, sigma", [(-1, 1.0), (11, 1.0), (float("nan"), 1.0), (1.0, 0.0), ("2", 1.0)])
def test_sharpen_rejects_bad_amounts(amount, sigma):
    with pytest.raises((ValueError, TypeError), match="amount|sigma"):
        sharpen(IMG, amount, sigma)


# ---- perspective ----------------------------------------------------------------------------------
def render_document(lines, size=36):
    font = ImageFont.load_default(size=size)
    width = max(int(font.getlength(line)) for line in lines) + 48
    doc = Image.new("RGB", (width, len(lines) * int(size * 1.5) + 48), (250, 248, 240))
    draw = ImageDraw.Draw(doc)
    for i, line in enumerate(lines):
        draw.text((24, 24 + i * int(size * 1.5)), line, fill=(20, 20, 30), font=font)
    return np.asarray(doc)


def photograph(doc, corners, canvas_size, seed=0):
    """Warp ``doc`` onto a noisy background so that its corners land on ``corners``."""
    h, w = doc.shape[:2]
    matrix = cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), np.float32(corners))
    noise = np.random.default_rng(seed).integers(0, 25, (canvas_size[1], canvas_size[0], 1))
    background = (np.array([70, 90, 110]) + noise).astype(np.uint8)
    return cv2.warpPerspective(doc, matrix, canvas_size, dst=background, borderMode=cv2.BORDER_TRANSPARENT)


DOC = render_document(["Platform 4 North", "Express to Valmora"])


@pytest.mark.parametrize("scale", [1, 4])  # 4: a large photo, searched on a downscaled copy
def test_corners_of_a_known_homography_are_recovered(scale):
    h, w = DOC.shape[:2]
    corners = np.float32([[60, 50], [w + 110, 80], [w + 90, h + 150], [40, h + 110]])
    doc = cv2.resize(DOC, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)
    photo = photograph(doc, corners * scale, (int((w + 180) * scale), int((h + 200) * scale)))
    found = find_quadrilateral(photo)
    assert found is not None and np.abs(found - corners * scale).max() <= 2.5 * scale


def test_rectified_document_matches_the_original():
    h, w = DOC.shape[:2]
    corners = [[70, 40], [w + 100, 90], [w + 60, h + 160], [30, h + 100]]
    photo = photograph(DOC, corners, (w + 180, h + 220))
    flat = perspective_correct(photo)

    def smoothed_gray(img):  # σ 2 px: a 1–2 px registration error must not count, a wrong warp must
        small = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(float), (0, 0), 2).ravel()

    # measured 0.97 (OpenCV 5.0) and 0.95 (4.10) rectified, −0.39 uncorrected
    assert np.corrcoef(smoothed_gray(DOC), smoothed_gray(flat))[0, 1] > 0.9
    assert np.corrcoef(smoothed_gray(DOC), smoothed_gray(photo))[0, 1] < 0.3


def test_corner_order_is_top_left_then_clockwise_for_a_rotated_quad():
    img = np.full((400, 400, 3), 40, np.uint8)
    centre, half = np.array([200.0, 200.0]), np.array([[-120, -70], [120, -70], [120, 70], [-120, 70]], float)
    a = math.radians(25)
    rotated = half @ np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]]) + centre
    cv2.fillPoly(img, [np.rint(rotated).astype(np.int32)], (230, 230, 230))
    found = find_quadrilateral(img)
    assert found is not None and np.abs(found - rotated).max() <= 2.5
    assert np.argmin(found.sum(axis=1)) == 0
    tl, tr, br, bl = found
    assert tr[0] > tl[0] and br[1] > tr[1] and bl[0] < br[0]
    flat = warp_quadrilateral(img, found)
    assert abs(flat.shape[1] - 240) <= 4 and abs(flat.shape[0] - 140) <= 4
    assert flat.min() > 200  # only the page is left: the mixed pixels of its outline are trimmed
    untrimmed = warp_quadrilateral(img, found, margin=0)
    assert untrimmed.shape[:2] == (flat.shape[0] + 2, flat.shape[1] + 2)
    assert untrimmed[:, 0].min() < 200  # the outline column, half background
    np.testing.assert_array_equal(untrimmed[1:-1, 1:-1], flat)


def test_rectified_size_is_the_longer_of_opposite_sides():
    assert rectified_size(np.array([[0, 0], [100, 0], [90, 50], [10, 40]])) == (100, 51)  # right side √(10²+50²)


def _circle():
    img = np.full((300, 400, 3), 60, np.uint8)
    cv2.circle(img, (200, 150), 100, (250, 250, 250), -1)
    return img


@pytest.mark.parametrize(
    "image",
    [
        np.full((120, 160, 3), 255, np.uint8),  # blank
        np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8),  # noise
        _circle(),  # a big convex blob that is not a quadrilateral
        cv2.rectangle(np.full((300, 400, 3), 60, np.uint8), (180, 130), (220, 160), (250, 250, 250), -1),  # too small
    ],
    ids=["blank", "noise", "circle", "small"],
)
def test_no_quadrilateral_is_reported(image):
    assert find_quadrilateral(image) is None
    with pytest.raises(NoQuadrilateralError, match="no quadrilateral"):
        perspective_correct(image)
