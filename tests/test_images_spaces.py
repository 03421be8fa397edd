import numpy as np
import pytest

from mmsearch_gym.core.images import ImageLimitError, ImageRefError, ImageStore, as_rgb_uint8
from mmsearch_gym.core.spaces import FreeText, ImageSpace, observation_space


def test_ids_are_sequential_and_refs_are_normalised():
    store = ImageStore()
    a = store.add(np.zeros((4, 5, 3), np.uint8))
    b = store.add(np.ones((2, 2), np.uint8))  # gray becomes RGB
    assert (a, b) == ("img_1", "img_2") and store.latest == "img_2" and len(store) == 2
    for ref in ("img_2", "IMG_2", "image 2", "<img_2>", 2):
        assert store.resolve(ref) == "img_2"
    assert store.get("img_2").shape == (2, 2, 3)
    assert not store.get(1).flags.writeable  # tools cannot corrupt stored images


@pytest.mark.parametrize("ref", ["img_3", "img_0", "picture", 7, None, True, 1.5, ["img_1"]])
def test_unknown_refs_list_the_valid_ids(ref):
    store = ImageStore()
    store.add(np.zeros((3, 3, 3), np.uint8))
    with pytest.raises(ImageRefError, match="valid ids are: img_1"):
        store.resolve(ref)
    assert ref not in store


def test_bounds_are_enforced():
    store = ImageStore(max_images=2, max_side=10, max_pixels=50)
    with pytest.raises(ImageLimitError, match="over the limits"):
        store.add(np.zeros((11, 2, 3), np.uint8))
    with pytest.raises(ImageLimitError, match="over the limits"):
        store.add(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ImageLimitError, match="zero area"):
        store.add(np.zeros((0, 4, 3), np.uint8))
    store.add(np.zeros((5, 5, 3), np.uint8))
    store.add(np.zeros((5, 5, 3), np.uint8))
    with pytest.raises(ImageLimitError, match="2 images"):
        store.add(np.zeros((5, 5, 3), np.uint8))
    with pytest.raises(ValueError, match="max_images"):
        ImageStore(max_images=0)


def test_float_and_rgba_images_are_converted():
    arr = as_rgb_uint8(np.full((2, 2, 4), 0.5, np.float32))
    assert arr.dtype == np.uint8 and arr.shape == (2, 2, 3) and arr[0, 0, 0] == 128
    with pytest.raises(ImageLimitError, match="NaN"):
        as_rgb_uint8(np.full((2, 2, 3), np.nan))
    with pytest.raises(ImageLimitError, match="shape"):
        as_rgb_uint8(np.zeros((2, 2, 2)))


def test_free_text_accepts_any_str_within_length():
    space = FreeText(max_length=10)
    assert space.contains("日本語😀<>{}") and space.contains("")
    assert not space.contains("x" * 11) and not space.contains(b"abc") and not space.contains(None)
    space.seed(0)
    first = [space.sample() for _ in range(5)]
    space.seed(0)
    assert [space.sample() for _ in range(5)] == first  # seeded sampling is reproducible
    assert all(space.contains(s) for s in first)
    with pytest.raises(ValueError):
        FreeText(0)


def test_image_space_accepts_any_size_within_bounds():
    space = ImageSpace(max_side=100)
    assert space.contains(np.zeros((1, 100, 3), np.uint8)) and space.contains(np.zeros((37, 5, 3), np.uint8))
    assert not space.contains(np.zeros((101, 5, 3), np.uint8))
    assert not space.contains(np.zeros((5, 5, 3), np.float32))
    assert not space.contains(np.zeros((5, 5), np.uint8))
    assert space.contains(space.sample())


def test_observation_space_holds_text_and_image_tuples():
    space = observation_space(max_side=64)
    obs = {"text": "hello ✓", "images": (np.zeros((64, 10, 3), np.uint8),)}
    assert space.contains(obs)
    assert not space.contains({"text": "x", "images": (np.zeros((65, 10, 3), np.uint8),)})
