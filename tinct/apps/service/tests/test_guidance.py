"""Colour pins over HTTP: the ``hints``/``regions`` fields of ``POST /api/jobs``, ``/api/preview``, ``/api/suggest``.

Through FastAPI's TestClient (methods in threads), with the real ``auto`` network (tinctnet weights).
"""

from __future__ import annotations

import io
import json
import threading
import time

import numpy as np
import pytest

from tinct.apps.service.tests.server import decode_png, png_bytes

NAVY = "#1f2a7a"
RED = "#e01818"


@pytest.fixture(scope="module")
def gray(shared):
    """A gray photo (kodim23, parrots, 120 x 80) as PNG bytes and pixels."""
    from PIL import Image

    with Image.open(shared / "data" / "eval" / "kodak24" / "kodim23.jpg") as im:
        small = im.convert("L").resize((120, 80), Image.LANCZOS)
    pixels = np.asarray(small)
    return png_bytes(pixels), pixels


def _detail(r, status):
    assert r.status_code == status, (r.status_code, r.text)
    detail = r.json()["detail"]
    assert "\n" not in detail and len(detail) < 400, detail
    return detail


def _ab(rgb_pixels):
    from tinct.color import rgb2lab

    return rgb2lab(np.asarray(rgb_pixels, np.float32).reshape(-1, 1, 3) / 255.0).reshape(-1, 3)[:, 1:]


def _hex_ab(colour):
    return _ab([[int(colour[i : i + 2], 16) for i in (1, 3, 5)]])[0]


def _wait(client, job_id, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still running after {timeout} s")


def _submit(client, image, method="auto", **data):
    files = [("image", ("gray.png", image))]
    for i, mask in enumerate(data.pop("masks", [])):
        files.append(("region_mask", (f"mask{i}.png", png_bytes(mask) if isinstance(mask, np.ndarray) else mask)))
    form = {"method": method}
    form.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()})
    return client.post("/api/jobs", files=files, data=form)


def _preview(client, image, **data):
    files = [("image", ("gray.png", image))]
    for i, mask in enumerate(data.pop("masks", [])):
        files.append(("region_mask", (f"mask{i}.png", png_bytes(mask))))
    return client.post("/api/preview", files=files,
                       data={k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()})


# ---------------------------------------------------------------------------------------------- jobs
def test_job_with_pins_is_saved_and_steers_the_colour(client, gray):
    data, pixels = gray
    x, y = 30, 40
    plain = _submit(client, data)
    pins = [{"x": x, "y": y, "color": RED, "radius": 2}, {"x": 90, "y": 20, "color": NAVY}]
    pinned = _submit(client, data, hints=pins)
    assert plain.status_code == pinned.status_code == 201, pinned.text
    assert pinned.json()["hints"] == pins
    jobs = [_wait(client, r.json()["id"]) for r in (plain, pinned)]
    assert [j["state"] for j in jobs] == ["done", "done"], jobs
    got = client.get(f"/api/jobs/{jobs[1]['id']}").json()
    assert got["hints"] == pins  # saved with the job
    assert got["regions"] == [] and got["inputs"] == ["image"]
    results = [decode_png(client.get(f"/api/jobs/{j['id']}/result").content) for j in jobs]
    want = _hex_ab(RED)
    before, after = (np.linalg.norm(_ab(r[y, x]) - want) for r in results)
    assert after < 10 and after < before - 10, (before, after)  # the pin holds at its point
    # the image's own lightness (CIELAB L) is kept
    assert np.abs(_lightness(results[1]) - _lightness(pixels)).mean() < 1.0


def test_region_colour(client, gray):
    data, pixels = gray
    mask = np.zeros(pixels.shape, np.uint8)
    mask[10:50, 60:110] = 255
    r = _submit(client, data, regions=[{"mask": 0, "color": NAVY}], masks=[mask])
    assert r.status_code == 201, r.text
    job = _wait(client, r.json()["id"])
    assert job["state"] == "done", job
    url = f"/api/jobs/{job['id']}/region_mask/0"
    assert client.get(f"/api/jobs/{job['id']}").json()["regions"] == [{"mask": 0, "color": NAVY, "mask_url": url}]
    saved = client.get(url)
    assert saved.status_code == 200 and saved.headers["content-type"] == "image/png"
    np.testing.assert_array_equal(decode_png(saved.content), mask)
    for bad in ("1", "99", "-1", "x"):
        assert 400 <= client.get(f"/api/jobs/{job['id']}/region_mask/{bad}").status_code < 500
    # the page reopens a job from its own upload, byte for byte; roles it was not given are a 404
    got = client.get(f"/api/jobs/{job['id']}/inputs/image")
    assert got.status_code == 200 and got.headers["content-type"] == "image/png" and got.content == data
    for role in ("reference", "scribbles", "../image", "nonsense"):
        assert client.get(f"/api/jobs/{job['id']}/inputs/{role}").status_code == 404
    assert client.get("/api/jobs/" + "A" * 22 + "/region_mask/0").status_code == 404
    out = decode_png(client.get(f"/api/jobs/{job['id']}/result").content)
    inside = _ab(out[15:45, 65:105].reshape(-1, 3)).mean(axis=0)
    assert np.linalg.norm(inside - _hex_ab(NAVY)) < 15, inside


@pytest.mark.parametrize(("hints", "expected"), [
    ([{"x": 500, "y": 3, "color": RED}], "hints[0]: point (500, 3) lies outside the 120x80 image"),
    ([{"x": 1, "y": 1, "color": RED}, {"x": -1, "y": 2, "color": RED}], "hints[1]: point (-1, 2) lies outside"),
    ('[{"x": NaN, "y": 3, "color": "#ff0000"}]', "hints[0].x: must be a finite number, got nan"),
    ('[{"x": 2, "y": Infinity, "color": "#ff0000"}]', "hints[0].y: must be a finite number"),
    ([{"x": 1, "y": 1, "color": RED}] * 3 + [{"x": 1, "y": 1, "color": "#12345"}],
     "hints[3].color: expected a colour like #1f3a93, got '#12345'"),
    ([{"x": 1, "y": 1, "color": [300, 0, 0]}], "hints[0].color: expected three values in 0..255"),
    ([{"x": 1, "y": 1}], "hints[0]: needs x, y and color"),
    ([{"x": 1, "y": 1, "color": RED, "size": 3}], "hints[0]: unknown field 'size'"),
    ([{"x": 1, "y": 1, "color": RED, "radius": -2}], "hints[0].radius: must be in 0..10000"),
    ([{"x": True, "y": 1, "color": RED}], "hints[0].x: expected a number"),
    ({"x": 1, "y": 1, "color": RED}, "hints: expected a JSON list"),
    ("[{\"x\": 1,", "hints: not valid JSON"),
    ("[[[[[1]]]]]", "hints: nested deeper than 4 levels"),
    ([{"x": 1, "y": 1, "color": "#" + "a" * 300}], "hints[0].color: a string longer than 256 characters"),
    ('[{"x": 1' + "0" * 40 + ', "y": 1, "color": "#ff0000"}]', "hints: a number has more than 15 digits"),
    ([{"x": 1, "y": 1, "color": RED}] * 10_001, "hints: at most 10,000 hints, got 10,001"),
    ("[" + " " * 1_100_000 + "]", "form: a text field is longer than 1 MiB"),
])
def test_bad_hints(client, gray, hints, expected):
    detail = _detail(_submit(client, gray[0], hints=hints), 400)
    assert detail.startswith(expected), detail
    assert sum(client.get("/api/health").json()["jobs"].values()) == 0  # nothing was queued


def test_many_hints_and_empty_list(client, gray):
    data, _ = gray
    rng = np.random.default_rng(0)
    many = [{"x": int(x), "y": int(y), "color": "#" + bytes(rng.integers(0, 256, 3).tolist()).hex()}
            for x, y in zip(rng.integers(0, 120, 10_000), rng.integers(0, 80, 10_000))]
    t = time.perf_counter()
    r = _submit(client, data, hints=many)
    assert r.status_code == 201, r.text
    job = _wait(client, r.json()["id"], timeout=120)
    assert job["state"] == "done", job
    assert time.perf_counter() - t < 120  # bounded: one vectorised pass, not one network run per hint
    assert len(client.get(f"/api/jobs/{job['id']}").json()["hints"]) == 10_000
    r = _submit(client, data, hints=[])  # an empty list: the automatic result
    assert r.status_code == 201 and r.json()["hints"] == []


def test_guidance_refused_where_not_declared(client, gray):
    data, pixels = gray
    detail = _detail(_submit(client, data, method="eccv16", hints=[{"x": 1, "y": 1, "color": RED}]), 400)
    assert detail.startswith("hints: method 'eccv16' does not take hints (methods that do: ")
    assert "auto" in detail and "siggraph17" in detail
    mask = np.full(pixels.shape, 255, np.uint8)
    detail = _detail(_submit(client, data, method="eccv16", regions=[{"mask": 0, "color": NAVY}], masks=[mask]), 400)
    assert detail.startswith("regions: method 'eccv16' does not take regions")


def test_bad_regions(client, gray):
    data, pixels = gray
    full = np.full(pixels.shape, 255, np.uint8)
    cases = [
        ({"regions": [{"mask": 0, "color": NAVY}], "masks": [np.zeros(pixels.shape, np.uint8)]},
         "regions[0]: the mask is empty (no pixel is set)"),
        ({"regions": [{"mask": 0, "color": NAVY}], "masks": [np.full((10, 10), 255, np.uint8)]},
         "region_mask[0]: is 10x10 but the image is 120x80"),
        ({"regions": [{"mask": 1, "color": NAVY}], "masks": [full]},
         "regions[0].mask: no region_mask upload 1 (the request has 1)"),
        ({"regions": [{"mask": 0, "color": "navy"}], "masks": [full]}, "regions[0].color: expected a colour"),
        ({"regions": [{"mask": 0, "color": NAVY}], "masks": [full, full]}, "region_mask[1]: no region uses it"),
        ({"masks": [full]}, "region_mask: given without a regions field"),
        ({"regions": [{"mask": 0, "color": NAVY}]}, "regions[0].mask: no region_mask upload 0 (the request has 0)"),
        ({"regions": [{"mask": "0", "color": NAVY}], "masks": [full]}, "regions[0].mask: expected the index"),
        ({"regions": [{"mask": 0, "color": NAVY}], "masks": [b"not an image"]}, "region_mask[0]: not an image"),
        ({"regions": [{"mask": 0, "color": NAVY}] * 2, "masks": [full] * 17}, "region_mask: given more than 16"),
    ]
    for data_, expected in cases:
        detail = _detail(_submit(client, data, **data_), 400)
        assert detail.startswith(expected), (expected, detail)
    assert sum(client.get("/api/health").json()["jobs"].values()) == 0  # nothing was queued


# ---------------------------------------------------------------------------------------------- preview
def test_preview_size_and_pin(client, shared):
    from PIL import Image

    with Image.open(shared / "data" / "eval" / "kodak24" / "kodim23.jpg") as im:
        photo = im.convert("L").resize((800, 600), Image.LANCZOS)
    data = png_bytes(np.asarray(photo))
    auto = _preview(client, data)
    assert auto.status_code == 200 and auto.headers["content-type"] == "image/png", auto.text
    assert auto.headers["x-preview-size"] == "512x384" and auto.headers["x-image-size"] == "800x600"
    assert "method;dur=" in auto.headers["server-timing"]
    x, y = 400, 300  # in pixels of the full image
    pinned = _preview(client, data, hints=[{"x": x, "y": y, "color": "#20c040"}])
    a, b = decode_png(auto.content), decode_png(pinned.content)
    assert a.shape == b.shape == (384, 512, 3)
    px, py = round((x + 0.5) * 512 / 800 - 0.5), round((y + 0.5) * 384 / 600 - 0.5)
    want = _hex_ab("#20c040")
    before, after = (np.linalg.norm(_ab(p[py, px]) - want) for p in (a, b))
    assert after < before - 40 and after < 25, (before, after)  # (at the image's own L the pin may lie out of gamut)
    # the preview keeps the image's own lightness (at its size)
    small = np.asarray(photo.resize((512, 384), Image.BOX))
    assert np.abs(_lightness(b) - _lightness(small)).mean() < 1.5


def test_preview_small_image_keeps_its_size_and_regions(client, gray):
    data, pixels = gray
    mask = np.zeros(pixels.shape, np.uint8)
    mask[10:50, 60:110] = 255
    r = _preview(client, data, regions=[{"mask": 0, "color": NAVY}], masks=[mask])
    assert r.status_code == 200, r.text
    out = decode_png(r.content)
    assert out.shape == (*pixels.shape, 3)
    inside = _ab(out[15:45, 65:105].reshape(-1, 3)).mean(axis=0)
    assert np.linalg.norm(inside - _hex_ab(NAVY)) < 15


def test_bad_previews(make_client, gray):
    client = make_client(caps={"input_size": 256})
    data, pixels = gray
    for form, status, expected in [
        ({"hints": [{"x": 999, "y": 1, "color": RED}]}, 400, "hints[0]: point (999, 1) lies outside"),
        ({"hints": '[{"x": NaN, "y": 1, "color": "#fff"}]'}, 400, "hints[0].x: must be a finite number"),
        ({"hints": [{"x": 1, "y": 1, "color": RED}] * 10_001}, 400, "hints: at most 10,000 hints"),
        ({"method": "reinhard"}, 400, "method: 'reinhard' takes no colour hints"),
        ({"method": "nope"}, 400, "method:"),
        ({"params": {"input_size": 512}}, 400, "params: input_size: 512 is over this server's cap of 256"),
        ({"params": {"weights": "/etc/passwd"}}, 400, "params: weights: names a file on the server"),
        ({"regions": [{"mask": 0, "color": NAVY}], "masks": [np.zeros(pixels.shape, np.uint8)]}, 400,
         "regions[0]: the mask is empty"),
        ({"x": "3"}, 400, "form: unknown field 'x'"),
    ]:
        assert _detail(_preview(client, data, **form), status).startswith(expected), form
    detail = _detail(client.post("/api/preview", files={"image": ("a.png", b"GIF89a not really")}), 400)
    assert detail.startswith("image: not an image file")
    assert _detail(client.post("/api/preview", data={"method": "auto"}), 422) == "image: missing"
    assert _detail(client.post("/api/preview", content=b"{}", headers={"content-type": "application/json"}),
                   415).startswith("request: expected a multipart/form-data body")


# ---------------------------------------------------------------------------------------------- suggest
def test_suggest(client, gray):
    data, _ = gray
    r = client.post("/api/suggest", files={"image": ("g.png", data)}, data={"x": "30", "y": "40", "k": "5"})
    assert r.status_code == 200, r.text
    found = r.json()
    assert len(found) == 5
    probs = [s["probability"] for s in found]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    assert all(len(s["color"]) == 7 and s["color"].startswith("#") and len(s["ab"]) == 2 for s in found)
    # the same as the library says
    from tinct.colorize import suggest_colours

    assert found == suggest_colours(gray[1], 30, 40, k=5)
    # a pin already placed there changes the likely colours toward it
    pinned = client.post("/api/suggest", files={"image": ("g.png", data)},
                         data={"x": "30", "y": "40", "k": "3", "hints": json.dumps([{"x": 30, "y": 40,
                                                                                   "color": "#20c040"}])})
    assert pinned.status_code == 200, pinned.text
    assert np.linalg.norm(np.array(pinned.json()[0]["ab"]) - _hex_ab("#20c040")) < \
        np.linalg.norm(np.array(found[0]["ab"]) - _hex_ab("#20c040"))


def test_bad_suggest(client, gray):
    data, _ = gray
    for form, expected in [
        ({"x": "120", "y": "3"}, "x, y: point (120, 3) lies outside the 120x80 image"),
        ({"x": "nan", "y": "3"}, "x: must be a finite number"),
        ({"x": "one", "y": "3"}, "x: expected a number"),
        ({"x": "3", "y": "3", "k": "0"}, "k: expected an integer in 1..64"),
        ({"x": "3", "y": "3", "k": "2.5"}, "k: expected an integer in 1..64"),
        ({"x": "3", "y": "3", "method": "exemplar"}, "method: 'exemplar' takes no colour hints"),
        ({"x": "3", "y": "3", "hints": "[{\"x\": 3}]"}, "hints[0]: needs x, y and color"),
        ({"x": "3", "y": "3", "hints": json.dumps([{"x": 300, "y": 3, "color": RED}])}, "hints[0]: point (300, 3)"),
        ({"x": "3", "y": "3", "params": "{}"}, "form: unknown field 'params'"),
    ]:
        detail = _detail(client.post("/api/suggest", files={"image": ("g.png", data)}, data=form), 400)
        assert detail.startswith(expected), (form, detail)
    assert _detail(client.post("/api/suggest", files={"image": ("g.png", data)}, data={"x": "3"}), 422) == \
        "y: missing"


# ---------------------------------------------------------------------------------------------- limits
def test_token_and_rate_limit(make_client, gray):
    data, _ = gray
    client = make_client(rate_limit=6, tokens=("token-one-aaaa",))
    auth = {"Authorization": "Bearer token-one-aaaa"}
    assert _detail(client.post("/api/preview", files={"image": ("g.png", data)}), 401).startswith("authorization:")
    assert _detail(client.post("/api/suggest", files={"image": ("g.png", data)}, data={"x": "1", "y": "1"}),
                   401).startswith("authorization:")
    codes = [client.post("/api/suggest", files={"image": ("g.png", data)}, data={"x": "1", "y": "1", "k": "1"},
                         headers=auth).status_code for _ in range(11)]
    assert codes == [200] * 10 + [429]
    r = client.post("/api/preview", files={"image": ("g.png", data)}, headers=auth)
    assert _detail(r, 429).startswith("rate limit: more than 6 previews and suggestions a minute")
    # previews count apart from submissions: the client can still submit its job
    r = client.post("/api/jobs", files={"image": ("g.png", data)}, data={"method": "auto"}, headers=auth)
    assert r.status_code == 201, r.text


def test_body_and_pixel_limits(make_client, gray):
    client = make_client(max_pixels=5000, max_upload_mb=0.05)
    data, _ = gray
    r = client.post("/api/preview", files={"image": ("g.png", data)})
    assert _detail(r, 413).startswith("image: image is 120 x 80 = 9,600 pixels, over the limit of 5,000")
    big = io.BytesIO(b"x" * 60_000)
    r = client.post("/api/suggest", files={"image": ("g.png", big)}, data={"x": "1", "y": "1"})
    assert _detail(r, 413).startswith("upload: request body is larger than the limit")


def test_quick_pool_is_bounded(monkeypatch):
    """One request runs at a time, a few wait, the rest are refused at once: previews never pile up."""
    from tinct.apps.service.services import guidance, quick
    from tinct.apps.service.settings import Settings

    running, most = [0], [0]
    lock = threading.Lock()

    def slow(**kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.3)
        with lock:
            running[0] -= 1
        return "ok"

    monkeypatch.setattr(guidance, "suggest", slow)
    pool = quick.QuickPool(Settings(executor="thread"))
    outcomes = []

    def one():
        try:
            outcomes.append(pool.call("suggest", "suggest"))
        except quick.QuickError as exc:
            outcomes.append((exc.status, str(exc)))

    threads = [threading.Thread(target=one) for _ in range(quick.MAX_WAITING + 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1
    assert outcomes.count("ok") == quick.MAX_WAITING + 1
    refused = [o for o in outcomes if o != "ok"]
    assert len(refused) == 3 and all(o[0] == 503 and "requests are waiting already" in o[1] for o in refused)


def test_quick_process_outlives_the_thread_that_started_it(tmp_path):
    """The quick process is tied to the server's life, not to the request thread that needed it first
    (Linux sends PR_SET_PDEATHSIG when the forking *thread* ends; request threads end when idle)."""
    import os

    from tinct.apps.service.services import quick
    from tinct.apps.service.settings import Settings

    (tmp_path / "region_mask.0.upload").write_bytes(png_bytes(np.full((8, 8), 255, np.uint8)))
    (tmp_path / "region_mask.1.upload").write_bytes(png_bytes(np.zeros((8, 8), np.uint8)))
    pool = quick.QuickPool(Settings(data_dir=tmp_path / "data", executor="process", workers=1, job_memory_mb=0))
    args = {"folder": str(tmp_path), "max_pixels": 10_000}
    try:
        starter = threading.Thread(target=pool.call, args=("check_regions", "regions"),
                                   kwargs={**args, "regions": [{"mask": 0, "color": NAVY}]})
        starter.start()
        starter.join()
        pid = pool.pid
        assert pid is not None and pid != os.getpid()
        time.sleep(0.5)
        assert pool.call("check_regions", "regions", **args, regions=[{"mask": 0, "color": NAVY}]) is None
        assert pool.pid == pid  # the same process, alive after its starter thread ended
        with pytest.raises(quick.QuickError) as err:
            pool.call("check_regions", "regions", **args, regions=[{"mask": 0, "color": NAVY}, {"mask": 1,
                                                                                                  "color": RED}])
        assert err.value.status == 400 and str(err.value) == "regions[1]: the mask is empty (no pixel is set)"
    finally:
        pool.stop()
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_scribble_job_takes_hints(client, gray):
    """scribble declares hints too: they reach it from the same field, fixed like its strokes."""
    data, pixels = gray
    marks = np.repeat(pixels[..., None], 3, axis=2)
    marks[60:66, 10:40] = (200, 40, 30)  # one red stroke, far from the pin
    r = client.post("/api/jobs", files=[("image", ("gray.png", data)), ("scribbles", ("s.png", png_bytes(marks)))],
                    data={"method": "scribble", "hints": json.dumps([{"x": 100, "y": 15, "color": "#2050d0"}])})
    assert r.status_code == 201, r.text
    job = _wait(client, r.json()["id"])
    assert job["state"] == "done", job
    assert client.get(f"/api/jobs/{job['id']}").json()["hints"] == [{"x": 100, "y": 15, "color": "#2050d0"}]
    out = decode_png(client.get(f"/api/jobs/{job['id']}/result").content)
    assert np.linalg.norm(_ab(out[15, 100]) - _hex_ab("#2050d0")) < np.linalg.norm(_ab(out[15, 100]) - _hex_ab(
        "#c82818"))
    # regions are not among scribble's inputs
    mask = np.full(pixels.shape, 255, np.uint8)
    r = client.post("/api/jobs", files=[("image", ("gray.png", data)), ("scribbles", ("s.png", png_bytes(marks))),
                                        ("region_mask", ("m.png", png_bytes(mask)))],
                    data={"method": "scribble", "regions": json.dumps([{"mask": 0, "color": NAVY}])})
    assert _detail(r, 400).startswith("regions: method 'scribble' does not take regions")


@pytest.mark.parametrize("path", ["/api/preview", "/api/suggest"])
@pytest.mark.parametrize(("body", "ctype"), [
    (b"garbage", "multipart/form-data; boundary=abc"),
    (b"x", "multipart/form-data"),
    (b"--abc\r\nContent-Disposition: form-data\r\n\r\nm\r\n--abc--\r\n", "multipart/form-data; boundary=abc"),
    (b"--abc\r\nContent-Disposition: form-data; name=\"hints\"\r\n\r\n[\xff\xfe]\r\n--abc--\r\n",
     "multipart/form-data; boundary=abc"),
    (b'{"x": 1}', "application/json"),
    (b"", ""),
    (b"x=1&y=2&image=abc", "application/x-www-form-urlencoded"),
])
def test_broken_bodies_never_500(client, path, body, ctype):
    headers = {"content-type": ctype} if ctype else {}
    r = client.post(path, content=body, headers=headers)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert "\n" not in r.json()["detail"]


def test_odd_fields_never_500(client, gray):
    data, _ = gray
    image = {"image": ("g.png", data)}
    for path, form in [("/api/preview", {"hints": "\u00e9\u0000"}), ("/api/preview", {"regions": "[]"}),
                       ("/api/preview", {"regions": "[{}]"}), ("/api/preview", {"method": "\u0000"}),
                       ("/api/preview", {"params": "[1]"}), ("/api/preview", {"hints": "null"}),
                       ("/api/preview", {"hints": '[{"x": 1e400, "y": 1, "color": "#fff"}]'}),
                       ("/api/preview", {"hints": '[{"x": 1, "y": 1, "color": {"r": 1}}]'}),
                       ("/api/suggest", {"x": "1e999", "y": "1"}), ("/api/suggest", {"x": "1", "y": "1", "k": "1e9"}),
                       ("/api/suggest", {"x": "1", "y": "1", "method": "x" * 100})]:
        r = client.post(path, files=image, data=form)
        if form == {"regions": "[]"}:
            assert r.status_code == 200  # an empty list: no regions
            continue
        assert 400 <= r.status_code < 500, (path, form, r.status_code, r.text)


def _lightness(pixels) -> np.ndarray:
    """CIELAB L of uint8 gray (H, W) or RGB (H, W, 3) pixels."""
    from tinct.color import rgb2lab

    rgb = np.asarray(pixels, np.float32) / 255.0
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    return rgb2lab(rgb)[..., 0]
