"""User colour guidance: point hints, regions and suggested colours, through the API, the pipeline and the CLI."""

import json

import numpy as np
import pytest

import tinct
from tinct.color import rgb2lab
from tinct.colorize.hints import apply_regions, parse_colour, parse_hints, parse_regions, rasterize
from tinct.data import example
from tinct.errors import ParameterError
from tinct.io import read_image, write_image


@pytest.fixture(scope="module")
def gray():
    return read_image(example("old_tom_morris.png")).pixels  # 206 x 270, uint8 gray


def _ab(rgb):
    return rgb2lab(np.asarray(rgb, np.float32).reshape(-1, 1, 3) / 255.0).reshape(-1, 3)[:, 1:]


def test_every_accepted_form_parses_to_the_same_array(tmp_path):
    want = np.array([[10, 20, 31, 58, 147, 0], [5, 6, 255, 0, 0, 3]], float)
    path = tmp_path / "h.json"
    path.write_text(json.dumps([{"x": 10, "y": 20, "color": "#1f3a93"}, {"x": 5, "y": 6, "colour": "#f00", "radius": 3}]))
    forms = [
        [(10, 20, "#1f3a93"), (5, 6, (255, 0, 0), 3)],
        [{"x": 10, "y": 20, "color": "#1F3A93"}, {"x": 5, "y": 6, "color": [255, 0, 0], "radius": 3}],
        want[:, :6],
        str(path),
    ]
    for form in forms:
        assert np.array_equal(parse_hints(form), want), form
    assert np.array_equal(parse_hints(want[:, :5])[:, 5], [0, 0])  # (N, 5): radius 0
    assert parse_hints([]).shape == (0, 6)


@pytest.mark.parametrize("hints, message", [
    ([(1, float("nan"), "#fff")], r"hints\[0\].y: must be a finite number"),
    ([(1, 2, "#fff"), (1, 2, "blue")], r"hints\[1\].color: expected a colour"),
    ([(1, 2, (255, 0, 300))], r"hints\[0\].color: expected three values in 0..255"),
    ([{"x": 1, "y": 2}], r"hints\[0\]: needs x, y and color"),
    ([{"x": 1, "y": 2, "color": "#fff", "size": 3}], r"unknown field 'size'"),
    ([(1, 2, "#fff", -1)], r"radius: must be in 0..10000"),
    ("nope.json", "hints: no such file"),
    (np.zeros((3, 4)), r"expected an \(N, 5\) or \(N, 6\) array"),
    (7, "expected a list of hints"),
])
def test_bad_hints_name_the_entry(hints, message):
    with pytest.raises(ParameterError, match=message):
        parse_hints(hints)


def test_rasterize_marks_the_point_and_its_radius_at_network_resolution():
    hints = parse_hints([(99, 49, "#ff0000"), (10, 10, "#0000ff", 8)])
    ab, mask = rasterize(hints, (100, 200), (50, 100))
    assert mask[0, 24, 49] == 1 and np.allclose(ab[:, 24, 49], _ab([255, 0, 0])[0], atol=0.01)
    assert mask[0].sum() > 10 and mask[0, 5, 5] == 1  # the disk of radius 8 px = 4 network px
    assert mask[0, 40, 80] == 0 and not ab[:, 40, 80].any()


def test_a_hint_pulls_the_colour_at_its_point_toward_it_and_keeps_l(gray):
    h, w = gray.shape
    target = "#1f3a93"
    base = tinct.colorize(gray)
    hinted = tinct.colorize(gray, hints=[(w // 2, h // 4, target, 2)])
    win = np.s_[h // 4 - 1 : h // 4 + 2, w // 2 - 1 : w // 2 + 2]
    want = _ab(parse_colour(target))[0]
    before = np.linalg.norm(_ab(base[win]).mean(0) - want)
    after = np.linalg.norm(_ab(hinted[win]).mean(0) - want)
    assert after < 0.5 * before and after < 20
    lightness = rgb2lab(gray.astype(np.float32)[..., None].repeat(3, 2) / 255)[..., 0]
    assert np.abs(rgb2lab(hinted / 255.0)[..., 0] - lightness).max() < 1.0


def test_empty_hints_are_the_automatic_result_and_many_hints_work(gray):
    h, w = gray.shape
    assert np.array_equal(tinct.colorize(gray, hints=[]), tinct.colorize(gray))
    rng = np.random.default_rng(0)
    many = np.column_stack([rng.integers(0, w, 10_000), rng.integers(0, h, 10_000), rng.integers(0, 256, (10_000, 3))])
    assert tinct.colorize(gray, hints=many).shape == (h, w, 3)


def test_hints_outside_the_image_are_refused(gray):
    with pytest.raises(ParameterError, match=r"hints\[0\]: point \(206, 3\) lies outside the 206x270 image"):
        tinct.colorize(gray, hints=[(206, 3, "#ff0000")])


def test_a_region_takes_the_colour_inside_and_leaves_the_rest(gray):
    h, w = gray.shape
    mask = np.zeros((h, w), bool)
    mask[150:, :70] = True
    base = tinct.colorize(gray)
    out = tinct.colorize(gray, regions=[(mask, "#000080")])
    inner = np.zeros_like(mask)
    inner[160:, :60] = True
    ab_in = _ab(out[inner])
    hue = np.degrees(np.arctan2(ab_in[:, 1], ab_in[:, 0]))
    navy = _ab([0, 0, 128])[0]
    assert abs(np.median(hue) - np.degrees(np.arctan2(navy[1], navy[0]))) < 5
    assert np.median(np.hypot(*ab_in.T)) > 30  # navy, not a mix with the model's guess
    far = np.zeros_like(mask)
    far[:100, 120:] = True
    assert np.array_equal(out[far], base[far])


def test_region_edges_follow_the_image_not_the_brush():
    lightness = np.full((40, 60), 30.0, np.float32)
    lightness[:, 30:] = 80.0  # an edge at column 30
    brush = np.zeros((40, 60), bool)
    brush[:, :33] = True  # the user's stroke overshoots it by 3 pixels
    ab = apply_regions(lightness, np.zeros((40, 60, 2), np.float32), [(brush, (200, 30, 30))], radius=4)
    chroma = np.hypot(ab[..., 0], ab[..., 1])
    assert chroma[:, 25].mean() > 40 and chroma[:, 32].mean() < 0.5 * chroma[:, 25].mean()


def test_bad_regions_are_one_line_errors(gray, tmp_path):
    with pytest.raises(ParameterError, match=r"regions\[0\]: the mask is empty"):
        parse_regions([(np.zeros((4, 4)), "#fff")])
    with pytest.raises(ParameterError, match="--region: expected MASK=#RRGGBB"):
        parse_regions(["mask.png"])
    with pytest.raises(ParameterError, match=r"regions\[0\]: mask size 10x10 does not match the image's 206x270"):
        tinct.colorize(gray, regions=[(np.ones((10, 10)), "#ff0000")])


def test_suggested_colours_are_the_most_likely_first(gray):
    h, w = gray.shape
    swatches = tinct.colorize.suggest_colours(gray, w // 2, h // 2, k=5)
    probs = [s["probability"] for s in swatches]
    assert len(swatches) == 5 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    assert all(s["color"].startswith("#") and len(s["color"]) == 7 for s in swatches)
    with pytest.raises(ParameterError, match="k: expected an integer in 1..64"):
        tinct.colorize.suggest_colours(gray, 1, 1, k=0)
    with pytest.raises(ParameterError, match="point"):
        tinct.colorize.suggest_colours(gray, w + 1, 1)


def test_cli_hints_file_hint_options_and_regions(gray, tmp_path, capsys):
    from tinct.apps.cli import main

    src = tmp_path / "g.png"
    write_image(src, gray)
    (tmp_path / "h.json").write_text(json.dumps([{"x": 100, "y": 60, "color": "#1f3a93"}]))
    mask = np.zeros(gray.shape, np.uint8)
    mask[150:, :70] = 255
    write_image(tmp_path / "m.png", mask)
    out = tmp_path / "o.png"
    code = main(["colorize", str(src), "--hints", str(tmp_path / "h.json"), "--hint", "20,30,#ffcc00",
                 "--region", f"{tmp_path / 'm.png'}=#000080", "-o", str(out)])
    assert code == 0 and out.is_file()
    for argv, message in [(["--hint", "500,3,#ff0000"], r"hints\[0\]: point \(500, 3\) lies outside"),
                          (["--hint", "1,2"], "--hint: expected X,Y,#RRGGBB"),
                          (["--hint", "1,2,#ff00"], "--hint: expected a colour"),
                          (["--hint", "1,2,#ff0000", "-m", "patchdb"], "hints: method 'patchdb' does not use it")]:
        capsys.readouterr()
        assert main(["colorize", str(src), "-o", str(tmp_path / "x.png"), *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and __import__("re").search(message, err), err


def test_one_hint_colours_its_surroundings_not_the_whole_picture(gray):
    from tinct.models.weights import find

    guided = str(find("tinctnet-v5"))
    h, w = gray.shape
    plain = tinct.colorize(gray, weights=guided)
    pinned = tinct.colorize(gray, weights=guided, hints=[(20, 20, "#20c040", 3)])  # top-left corner
    near = np.s_[10:31, 10:31]
    far = np.s_[h - 60 :, w - 60 :]  # the opposite corner, about 1.3 image widths away
    want = _ab(parse_colour("#20c040"))[0]
    assert np.linalg.norm(_ab(pinned[near]).mean(0) - want) < np.linalg.norm(_ab(plain[near]).mean(0) - want) - 15
    assert np.abs(_ab(pinned[far]) - _ab(plain[far])).mean() < 3.0


def test_a_first_pin_keeps_the_automatic_picture_beyond_its_reach(gray):
    # auto runs the guided model once there are hints; far from them the picture must stay what the user saw
    # before the first pin (the automatic model's), not turn into the guided model's own guess.
    from tinct.models.weights import default_entry, find

    assert default_entry().name != default_entry(guided=True).name  # else this test proves nothing
    h, w = gray.shape
    automatic = tinct.colorize(gray)
    pinned = tinct.colorize(gray, hints=[(20, 20, "#20c040", 3)])
    guided_plain = tinct.colorize(gray, weights=str(find(default_entry(guided=True).name)))
    far = np.s_[h - 60 :, w - 60 :]
    kept = np.abs(_ab(pinned[far]) - _ab(automatic[far])).mean()
    assert kept < 3.0 and kept < np.abs(_ab(guided_plain[far]) - _ab(automatic[far])).mean()
