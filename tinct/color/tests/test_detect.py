"""Input-colour detection on real photographs: gray scans, the same scans toned, hand-coloured, colour photos."""

from __future__ import annotations

import numpy as np
import pytest

from tinct.color.detect import input_colour
from tinct.errors import ParameterError


def _read(path) -> np.ndarray:
    from tinct.io import read_image

    return read_image(path).pixels


def _jpeg(rgb8: np.ndarray, quality: int) -> np.ndarray:
    import cv2

    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb8[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]


def _tone(gray8: np.ndarray, dark, light) -> np.ndarray:
    """A toned print: each gray level mapped onto the line from the shadow colour to the highlight colour."""
    g = gray8.astype(np.float32)[..., None] / 255.0
    d, li = np.float32(dark), np.float32(light)
    return (np.clip(d + (li - d) * g, 0, 1) * 255 + 0.5).astype(np.uint8)


def _sepia(gray8: np.ndarray) -> np.ndarray:
    g = gray8.astype(np.float32) / 255.0
    return (np.clip(np.stack([g * 1.351, g * 1.203, g * 0.937], -1), 0, 1) * 255 + 0.5).astype(np.uint8)


TONES = {
    "sepia": _sepia,
    "cyanotype": lambda g: _tone(g, (0.02, 0.12, 0.30), (0.90, 0.95, 1.00)),
    "selenium": lambda g: _tone(g, (0.20, 0.10, 0.16), (0.97, 0.96, 0.94)),
}


@pytest.fixture(scope="module")
def grays(shared) -> list[np.ndarray]:
    """Real gray photographs (8-bit, one channel) from the historical set."""
    folder = shared / "data" / "eval" / "historical"
    out = []
    for path in sorted(folder.iterdir())[:4]:
        px = _read(path)
        out.append(px if px.ndim == 2 else px[..., 0])
    return out


@pytest.fixture(scope="module")
def colour_photos(shared) -> list[np.ndarray]:
    return [_read(p) for p in sorted((shared / "data" / "eval" / "kodak24").iterdir())]


def test_gray_photos_are_gray_in_every_layout(grays):
    for g in grays:
        assert input_colour(g) == "gray"
        rgb = np.repeat(g[..., None], 3, axis=2)
        assert input_colour(rgb) == "gray"
        assert input_colour(_jpeg(rgb, 40)) == "gray"  # JPEG's chroma noise is not colour
        assert input_colour(g[..., None]) == "gray"
        assert input_colour(np.stack([g, np.full_like(g, 255)], axis=2)) == "gray"  # gray + alpha
        assert input_colour(rgb.astype(np.uint16) * 257) == "gray"
        assert input_colour(rgb.astype(np.float32) / 255) == "gray"


@pytest.mark.parametrize("tone", sorted(TONES))
@pytest.mark.parametrize("quality", [None, 85, 30])
def test_toned_prints_are_tinted(grays, tone, quality):
    for g in grays:
        toned = TONES[tone](g)
        if quality is not None:
            toned = _jpeg(toned, quality)
        assert input_colour(toned) == "tinted", (tone, quality)


def test_hand_coloured_prints_are_colour(grays):
    """Transparent dyes over a sepia print: a blue sky band, red and green patches, on the toned picture."""
    for g in grays:
        base = _sepia(g).astype(np.float32) / 255.0
        h, w = g.shape
        dye = np.ones_like(base)
        dye[: h // 4] = (0.55, 0.75, 1.0)  # sky
        dye[h // 2: h // 2 + h // 6, w // 5: w // 2] = (1.0, 0.45, 0.45)  # a red dress
        dye[-h // 5:] = (0.6, 1.0, 0.55)  # grass
        coloured = (np.clip(base * dye, 0, 1) * 255 + 0.5).astype(np.uint8)
        assert input_colour(coloured) == "colour"
        assert input_colour(_jpeg(coloured, 60)) == "colour"


def test_colour_photos_are_colour_also_when_one_hue_dominates(colour_photos):
    """All of Kodak's 24 photos, among them a red door and a girl in a red hat that are mostly one hue."""
    assert [input_colour(p) for p in colour_photos] == ["colour"] * len(colour_photos)


def test_sixteen_bit_float_and_alpha_agree(colour_photos, grays):
    photo = colour_photos[0]
    toned = TONES["cyanotype"](grays[0])
    for img, kind in ((photo, "colour"), (toned, "tinted")):
        assert input_colour(img.astype(np.uint16) * 257) == kind
        assert input_colour(img.astype(np.float64) / 255.0) == kind
        alpha = np.full(img.shape[:2] + (1,), 255, np.uint8)
        assert input_colour(np.concatenate([img, alpha], axis=2)) == kind
    # wild colour under full transparency does not count
    g = np.repeat(grays[0][..., None], 3, axis=2)
    rgba = np.concatenate([g, np.full(g.shape[:2] + (1,), 255, np.uint8)], axis=2)
    rgba[: g.shape[0] // 2, :, :3] = (255, 0, 200)
    rgba[: g.shape[0] // 2, :, 3] = 0
    assert input_colour(rgba) == "gray"


def test_twelve_megapixels_are_subsampled(grays):
    """A 12 MP array is classified from a subsample (no 12 MP float temporaries)."""
    toned = TONES["sepia"](grays[0])
    big = np.tile(toned, (int(np.ceil(3000 / toned.shape[0])), int(np.ceil(4000 / toned.shape[1])), 1))[:3000, :4000]
    assert big.shape == (3000, 4000, 3)
    assert input_colour(big) == "tinted"


def test_edge_cases():
    assert input_colour(np.zeros((1, 1, 3), np.uint8)) == "gray"
    assert input_colour(np.full((4, 4, 3), 255, np.uint8)) == "gray"
    assert input_colour(np.zeros((8, 8, 4), np.uint8)) == "gray"  # all transparent
    flat = np.zeros((16, 16, 3), np.uint8)
    flat[..., 0] = 200
    flat[..., 1:] = 60
    assert input_colour(flat) == "tinted"  # one colour is one hue
    with pytest.raises(ParameterError, match="^pixels"):
        input_colour(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ParameterError, match="^pixels"):
        input_colour(np.zeros((4, 4, 3), np.int32))
    with pytest.raises(ParameterError, match="^pixels"):
        input_colour(np.full((4, 4, 3), np.nan, np.float32))
