"""A real headless browser (Debian's chromium through Playwright) against a real ``tinct serve``.

Needs ``apt-get install chromium`` and ``pip install playwright``; no browser is ever downloaded
(``executable_path='/usr/bin/chromium'``). The screenshots are kept under pytest's tmp dir and
their paths printed.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import tinct.apps.service.tests.plugin  # noqa: F401 - test-sleep, served by the test server too
from tinct.apps.service.tests.server import Server, decode_png

PLUGIN = "tinct.apps.service.tests.plugin"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _photo(src, dest, size):
    from PIL import Image

    with Image.open(src) as im:
        im.convert("RGB").resize(size, Image.LANCZOS).save(dest, quality=92)
    from tinct.io import read_image

    return read_image(dest).pixels


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    with Server(root / "data", ["--workers", "1", "--plugin", PLUGIN]) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.skip(f"no browser at {CHROMIUM} (apt-get install chromium; none is ever downloaded)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def _result(page, server, previous=None):
    """Wait for the result image of a new job; return (job id, pixels as served)."""
    import httpx
    from playwright.sync_api import expect

    # Locator waits run in Playwright's utility world, so the page's strict CSP (no eval) stays on.
    not_previous = re.compile(rf"^(?!{re.escape(previous)}$).+" if previous else r".+")
    expect(page.locator("#result-img")).to_have_attribute("data-job-id", not_previous, timeout=60_000)
    expect(page.locator("#compare")).to_be_visible()
    status = page.locator("#status").inner_text()
    job_id = page.locator("#result-img").get_attribute("data-job-id")
    assert status == "done", status
    job = httpx.get(f"{server.url}/api/jobs/{job_id}").json()
    assert job["state"] == "done", job
    data = httpx.get(f"{server.url}/api/jobs/{job_id}/result").content
    return job_id, decode_png(data)


@pytest.fixture(scope="module")
def photos(shared, tmp_path_factory):
    """A small colour photo, its gray version and a colour reference, as files."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("photos")
    kodak = shared / "data" / "eval" / "kodak24"
    photo, reference, gray = folder / "photo.jpg", folder / "sunset.jpg", folder / "gray.png"
    target = _photo(kodak / "kodim23.jpg", photo, (192, 128))
    _photo(kodak / "kodim08.jpg", reference, (150, 100))
    gray_pixels = np.asarray(Image.fromarray(target).convert("L"))
    Image.fromarray(gray_pixels).save(gray)
    small = folder / "gray-small.png"  # the scribble solve is the slowest step: keep it small
    small_pixels = np.asarray(Image.fromarray(gray_pixels).resize((120, 80), Image.LANCZOS))
    Image.fromarray(small_pixels).save(small)
    return {"photo": photo, "target": target, "reference": reference, "gray": gray, "gray_pixels": gray_pixels,
            "gray_small": small, "gray_small_pixels": small_pixels}


@pytest.fixture
def console():
    """Console errors of the page; a test that expects HTTP 4xx answers sets ``http_errors_ok``."""
    return {"errors": [], "http_errors_ok": False}


@pytest.fixture
def page(browser, server, console):
    page = browser.new_page(viewport={"width": 1200, "height": 860})
    page.on("console", lambda m: console["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console["errors"].append(f"page error: {e}"))
    page.goto(server.url + "/")
    page.locator("#method option").first.wait_for(state="attached")
    yield page
    errors = [e for e in console["errors"]
              if not (console["http_errors_ok"] and e.startswith("Failed to load resource: the server responded"))]
    assert not errors, errors  # no script errors, no CSP violations
    page.close()


def _names(page):
    return [o.get_attribute("value") for o in page.locator("#method option").all()]


def _assert_colourful(pixels):
    assert pixels.ndim == 3
    spread = pixels.astype(int).max(axis=2) - pixels.astype(int).min(axis=2)
    assert spread.mean() > 3, "result is still gray"


def test_transfer_in_browser(page, server, photos, tmp_path):
    import httpx

    from tinct.registry import list_methods

    # The page lists exactly what the server's registry serves (colorize first, then transfer) ...
    served = httpx.get(f"{server.url}/api/methods").json()
    served = served["methods"] if isinstance(served, dict) else served
    by_kind = {k: [m["name"] for m in served if m["kind"] == k] for k in ("colorize", "transfer")}
    assert _names(page) == by_kind["colorize"] + by_kind["transfer"]
    # ... and that is every method registered in this process too (tests may register extra ones here).
    assert {m.name for m in list_methods()} >= set(by_kind["colorize"] + by_kind["transfer"]) >= {"reinhard", "auto"}
    page.set_input_files("#image-input", str(photos["photo"]))
    page.select_option("#method", "reinhard")
    assert page.locator("#reference-step").is_visible() and page.locator("#mask-step").is_visible()
    assert page.locator("#param-strength").input_value() == "1"  # the form comes from /api/methods
    assert page.locator("#run").is_disabled()  # the reference is still missing
    page.set_input_files("#reference-input", str(photos["reference"]))
    page.fill("#param-strength", "0.9")
    page.click("#run")
    job_id, result = _result(page, server)
    target = photos["target"]
    assert result.shape == target.shape
    assert np.abs(result.astype(int) - target.astype(int)).mean() > 5  # really recoloured
    assert httpx.get(f"{server.url}/api/jobs/{job_id}").json()["params"] == {"strength": 0.9}
    page.fill("#slider", "70")
    assert "70%" in page.locator("#divider").get_attribute("style")
    assert page.locator("#download").get_attribute("download") == "photo.reinhard.png"
    shot = tmp_path / "tinct-ui-transfer.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")


def test_colorize_in_browser(page, server, photos, tmp_path):
    page.set_input_files("#image-input", str(photos["gray"]))
    page.select_option("#method", "exemplar")  # colorize a gray photo from a colour reference
    page.set_input_files("#reference-input", str(photos["reference"]))
    page.click("#run")
    _, colour = _result(page, server)
    gray = photos["gray_pixels"]
    assert colour.shape == (*gray.shape, 3)
    _assert_colourful(colour)
    shot = tmp_path / "tinct-ui-colorize.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")


def test_scribble_in_browser(page, server, photos, tmp_path):
    names = _names(page)
    assert "scribble" in names, f"no scribble method registered; methods: {names}"
    page.set_input_files("#image-input", str(photos["gray_small"]))
    page.select_option("#method", "scribble")
    assert page.locator("#scribble-canvas").is_visible()
    assert page.locator("#run").is_disabled()  # no strokes yet
    for colour, (fy, x0, x1) in (("#d03020", (0.3, 0.15, 0.45)), ("#2060e0", (0.75, 0.55, 0.9))):
        page.fill("#color", colour)  # may scroll the page (scribble's form is long): measure the canvas after it
        page.locator("#scribble-canvas").scroll_into_view_if_needed()
        box = page.locator("#scribble-canvas").bounding_box()
        page.mouse.move(box["x"] + x0 * box["width"], box["y"] + fy * box["height"])
        page.mouse.down()
        for t in np.linspace(0, 1, 8):
            page.mouse.move(box["x"] + (x0 + t * (x1 - x0)) * box["width"], box["y"] + fy * box["height"])
        page.mouse.up()
    assert page.locator("#run").is_enabled()
    shot = tmp_path / "tinct-ui-scribble-canvas.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")
    page.click("#run")
    job_id, colour = _result(page, server)
    gray = photos["gray_small_pixels"]
    assert colour.shape == (*gray.shape, 3)
    _assert_colourful(colour)
    # the scribbles sent were the gray image with the strokes in their exact colours
    import httpx

    job = httpx.get(f"{server.url}/api/jobs/{job_id}").json()
    assert job["inputs"] == ["image", "scribbles"]
    from tinct.io import read_image

    marks = read_image(server.data_dir / "jobs" / job_id / "scribbles.upload").pixels
    marked = marks.astype(int).max(axis=2) - marks.astype(int).min(axis=2) > 0
    assert 30 < marked.sum() < marked.size // 4
    colours = {tuple(c) for c in marks[marked]}
    assert colours == {(0xD0, 0x30, 0x20), (0x20, 0x60, 0xE0)}, colours
    np.testing.assert_array_equal(marks[~marked][:, 0], gray[~marked])
    shot = tmp_path / "tinct-ui-scribble.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")


def test_bad_upload_shows_error(page, console, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"this is not an image at all" * 10)
    console["http_errors_ok"] = True  # the 400 answer is logged by the browser
    page.set_input_files("#image-input", str(bad))
    page.select_option("#method", "reinhard")
    ref = tmp_path / "ref.png"
    from PIL import Image

    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(ref)
    page.set_input_files("#reference-input", str(ref))
    page.click("#run")
    from playwright.sync_api import expect

    expect(page.locator("#status")).to_have_class(re.compile("error"), timeout=30_000)
    text = page.locator("#status").inner_text()
    assert text.startswith("image:") and "not an image" in text, text


def test_preview_reset_and_advanced(page, server, photos):
    """The chosen picture shows for every method; a finished run's "done" goes when the inputs change."""
    from playwright.sync_api import expect

    page.set_input_files("#image-input", str(photos["photo"]))
    page.select_option("#method", "reinhard")
    expect(page.locator("#preview-img")).to_be_visible()  # not a blank panel
    assert page.locator("#preview-img").evaluate("img => img.naturalWidth") == 192
    page.set_input_files("#reference-input", str(photos["reference"]))
    page.click("#run")
    _result(page, server)
    assert page.locator("#progress-bar").get_attribute("style") == "width: 100%;"
    page.select_option("#method", "mkl")
    assert page.locator("#status").inner_text() == ""
    assert page.locator("#progress-bar").get_attribute("style") == "width: 0%;"
    expect(page.locator("#compare")).to_be_hidden()
    expect(page.locator("#preview-img")).to_be_visible()
    # engineering parameters are folded under "Advanced", what changes the look stays in view
    page.select_option("#method", "auto")
    expect(page.locator("#param-temperature")).to_be_visible()
    expect(page.locator("#param-threads")).to_be_hidden()
    expect(page.locator("details.advanced summary")).to_have_text(re.compile(r"^Advanced \(\d+\)$"))
    assert page.locator("#param-input_size").get_attribute("max") == "1024"  # the server's cap
    page.click("details.advanced summary")
    expect(page.locator("#param-threads")).to_be_visible()


def test_cancel_button(page, server, photos):
    import httpx
    from playwright.sync_api import expect

    page.set_input_files("#image-input", str(photos["gray"]))
    page.select_option("#method", "test-sleep")
    page.fill("#param-seconds", "60")
    page.click("#run")
    expect(page.locator("#cancel")).to_be_visible(timeout=10_000)
    expect(page.locator("#status")).to_have_text("running...", timeout=30_000)
    page.click("#cancel")
    expect(page.locator("#status")).to_have_text("cancelled", timeout=5_000)
    expect(page.locator("#cancel")).to_be_hidden()
    assert page.locator("#run").is_enabled()
    jobs = [j for j in httpx.get(f"{server.url}/api/health").json()["jobs"].items() if j[0] == "cancelled"]
    assert jobs == [("cancelled", 1)]


@pytest.fixture(scope="module")
def token_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-token")
    with Server(root / "data", ["--workers", "1"], env={"TINCT_TOKEN": "browser-test-token-123"}) as srv:
        yield srv


def test_token_prompt_clears(browser, token_server, console):
    """In token mode the page asks for the token; once a valid one is entered the message goes."""
    from playwright.sync_api import expect

    console["http_errors_ok"] = True  # the first /api/methods answers 401
    page = browser.new_page(viewport={"width": 1200, "height": 860})
    page.on("pageerror", lambda e: console["errors"].append(f"page error: {e}"))
    try:
        page.goto(token_server.url + "/")
        expect(page.locator("#token-box")).to_be_visible()
        expect(page.locator("#status")).to_have_text(re.compile("needs an API token"))
        page.fill("#token", "wrong-token")
        page.locator("#token").dispatch_event("change")
        expect(page.locator("#status")).to_have_text(re.compile("not valid"))
        page.fill("#token", "browser-test-token-123")
        page.locator("#token").dispatch_event("change")
        expect(page.locator("#status")).to_have_text("ready")
        assert "error" not in (page.locator("#status").get_attribute("class") or "")
        page.locator("#method option").first.wait_for(state="attached")
    finally:
        page.close()
    assert not [e for e in console["errors"] if e.startswith("page error")]


# ---------------------------------------------------------------------------------------------- colour pins
def _preview_pixel(page, x, y):
    """RGB of the shown preview at pixel (x, y) (the preview has the image's size below 512 px)."""
    return np.array(page.locator("#pins-img").evaluate(
        """(img, [x, y]) => {
             const c = document.createElement("canvas");
             c.width = img.naturalWidth; c.height = img.naturalHeight;
             const ctx = c.getContext("2d");
             ctx.drawImage(img, 0, 0);
             return Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3));
           }""", [x, y]))


def _wait_preview(page, after: int, pins: int, regions: int = 0, timeout: float = 60.0) -> int:
    """Wait for a preview newer than ``after`` made with ``pins`` pins and no request pending; its number."""
    import time

    deadline = time.monotonic() + timeout
    img, canvas = page.locator("#pins-img"), page.locator("#pins-canvas")
    while time.monotonic() < deadline:
        seq = int(img.get_attribute("data-preview-seq") or 0)
        if (seq > after and img.get_attribute("data-preview-pins") == str(pins)
                and canvas.get_attribute("data-regions") == str(regions)
                and "busy" not in (canvas.get_attribute("class") or "")):
            page.wait_for_timeout(400)  # a debounced request may still be due
            if int(img.get_attribute("data-preview-seq")) == seq and "busy" not in (canvas.get_attribute("class") or ""):
                return seq
        page.wait_for_timeout(50)
    raise AssertionError(f"no new preview with {pins} pins: {page.locator('#preview-status').inner_text()}")


def _lab_ab(rgb):
    from tinct.color import rgb2lab

    return rgb2lab(np.asarray(rgb, np.float32).reshape(1, 1, 3) / 255.0)[0, 0, 1:]


def _ab_distance(rgb, colour):
    want = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    return float(np.linalg.norm(_lab_ab(rgb) - _lab_ab(want)))


def test_colour_pins_in_browser(page, server, photos, tmp_path):
    """Drop a pin: the preview's colour at that point moves to the pin's; drag, undo, swatches, a region, Run."""
    import httpx
    from playwright.sync_api import expect

    page.set_input_files("#image-input", str(photos["gray"]))
    page.select_option("#method", "auto")
    expect(page.locator("#pins-step")).to_be_visible()
    expect(page.locator("#pins-wrap")).to_be_visible()
    seq = _wait_preview(page, 0, pins=0)  # the automatic result, before any pin
    h, w = photos["gray_pixels"].shape
    box = page.locator("#pins-canvas").bounding_box()

    def at(x, y):
        return box["x"] + (x + 0.5) * box["width"] / w, box["y"] + (y + 0.5) * box["height"] / h

    green, navy = "#20c040", "#1f2a7a"
    p, q = (60, 64), (150, 90)
    before = _preview_pixel(page, *p)
    page.fill("#pin-color", green)
    page.mouse.click(*at(*p))
    seq = _wait_preview(page, seq, pins=1)
    after = _preview_pixel(page, *p)
    d0, d1 = _ab_distance(before, green), _ab_distance(after, green)
    assert d1 < d0 - 20 and d1 < 30, (before, after, d0, d1)  # the preview's colour went to the pin's
    shot = tmp_path / "tinct-ui-pin.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")

    # suggested swatches for the pin, from /api/suggest; picking one recolours the pin
    expect(page.locator("#swatches .swatch")).to_have_count(8, timeout=30_000)
    swatch = page.locator("#swatches .swatch").nth(1)
    chosen = swatch.get_attribute("data-color")
    swatch.click()
    assert page.locator("#pin-color").input_value() == chosen
    seq = _wait_preview(page, seq, pins=1)
    page.fill("#pin-color", green)  # and back: the picker recolours the selected pin
    seq = _wait_preview(page, seq, pins=1)

    # drag the pin to q: the colour follows it; undo puts it back
    before_q = _preview_pixel(page, *q)
    page.mouse.move(*at(*p))
    page.mouse.down()
    for t in np.linspace(0, 1, 6):
        page.mouse.move(*at(p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    page.mouse.up()
    seq = _wait_preview(page, seq, pins=1)
    assert _ab_distance(_preview_pixel(page, *q), green) < _ab_distance(before_q, green) - 20
    page.click("#pin-undo")
    seq = _wait_preview(page, seq, pins=1)
    assert _ab_distance(_preview_pixel(page, *p), green) < 30

    # paint a region and pick its colour
    page.check("#tool-region")
    page.fill("#pin-color", navy)
    y0 = 20
    page.mouse.move(*at(110, y0))
    page.mouse.down()
    for x in np.linspace(110, 180, 10):
        page.mouse.move(*at(x, y0))
    page.mouse.up()
    seq = _wait_preview(page, seq, pins=1, regions=1)
    assert _ab_distance(_preview_pixel(page, 145, y0), navy) < 20
    expect(page.locator("#region-list li")).to_have_count(1)

    # Run: the full-resolution job carries the pins and the region
    page.click("#run")
    job_id, result = _result(page, server)
    job = httpx.get(f"{server.url}/api/jobs/{job_id}").json()
    assert job["method"] == "auto" and len(job["hints"]) == 1, job
    pin = job["hints"][0]
    assert pin["color"] == green and abs(pin["x"] - (p[0] + 0.5)) <= 0.6 and abs(pin["y"] - (p[1] + 0.5)) <= 0.6
    assert job["regions"] == [{"mask": 0, "color": navy, "mask_url": f"/api/jobs/{job_id}/region_mask/0"}]
    painted = decode_png(httpx.get(f"{server.url}/api/jobs/{job_id}/region_mask/0").content)
    painted = painted if painted.ndim == 2 else painted[..., 0]
    assert painted[y0, 145] > 127 and painted[y0 + 30, 145] < 128  # the stroke, white on black
    assert _ab_distance(result[p[1], p[0]], green) < 30
    assert _ab_distance(result[y0, 145], navy) < 20
    shot = tmp_path / "tinct-ui-pins-result.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")

    # back to editing: select the pin and delete it with the keyboard
    page.click("#edit")
    expect(page.locator("#pins-wrap")).to_be_visible()
    page.check("#tool-pin")
    page.locator("#pins-canvas").scroll_into_view_if_needed()
    box = page.locator("#pins-canvas").bounding_box()  # the page scrolled to the result
    page.mouse.click(*at(*p))
    assert page.locator("#pin-delete").is_enabled()
    assert page.locator("#pins-canvas").get_attribute("data-pins") == "1"  # selected, not a second pin
    page.keyboard.press("Delete")
    assert page.locator("#pins-canvas").get_attribute("data-pins") == "0"
    _wait_preview(page, seq, pins=0, regions=1)
    # the eyedropper: a colour photo to pick from; a click there recolours the selected pin
    page.set_input_files("#palette-input", str(photos["reference"]))
    expect(page.locator("#palette-canvas")).to_be_visible()
    page.mouse.click(*at(*q))  # a new pin, selected
    seq = _wait_preview(page, 0, pins=1, regions=1)
    palette = page.locator("#palette-canvas")
    pbox = palette.bounding_box()
    palette.click(position={"x": pbox["width"] * 0.3, "y": pbox["height"] * 0.4})
    picked = page.locator("#pin-color").input_value()
    px, py = (int(v) for v in palette.get_attribute("data-picked-at").split(","))
    assert abs(px - pbox["width"] * 0.3) <= 1 and abs(py - pbox["height"] * 0.4) <= 1  # (the palette is 150 x 100)
    rgb = palette.evaluate("(c, [x, y]) => Array.from(c.getContext('2d').getImageData(x, y, 1, 1).data.slice(0, 3))",
                           [px, py])
    assert picked == "#" + bytes(rgb).hex(), (picked, rgb)
    _wait_preview(page, seq, pins=1, regions=1)

    # a reload reopens the last job (#job=ID): its image, pins, region and result, ready to go on steering
    assert page.url.endswith(f"#job={job_id}"), page.url
    page.reload()
    expect(page.locator("#result-img")).to_have_attribute("data-job-id", job_id, timeout=60_000)
    assert page.locator("#pins-canvas").get_attribute("data-pins") == "1"
    assert page.locator("#pins-canvas").get_attribute("data-regions") == "1"
    expect(page.locator("#region-list li")).to_have_count(1)
    page.click("#edit")
    page.click("#run")
    again_id, again = _result(page, server, previous=job_id)
    again_job = httpx.get(f"{server.url}/api/jobs/{again_id}").json()
    assert again_job["hints"] == job["hints"] and again_job["regions"][0]["color"] == navy, again_job
    repainted = decode_png(httpx.get(f"{server.url}/api/jobs/{again_id}/region_mask/0").content)
    repainted = repainted if repainted.ndim == 2 else repainted[..., 0]
    assert np.array_equal(repainted > 127, painted > 127)  # the reopened region is the painted one
    assert _ab_distance(again[y0, 145], navy) < 20
