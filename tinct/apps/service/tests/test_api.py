"""API tests through FastAPI's TestClient (httpx), methods run in worker threads."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from tinct.apps.service.tests.server import decode_png, png_bytes
from tinct.errors import ParameterError
from tinct.io.tests.badfiles import EXPECTED, FAILING, make_bad_files


def _images(seed=0, shape=(40, 60)):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    base = np.stack([xx * 4, yy * 5, (xx + yy) * 2], axis=-1) % 256
    img = np.clip(base + rng.integers(0, 40, (*shape, 3)), 0, 255).astype(np.uint8)
    ref = rng.integers(0, 255, (30, 34, 3)).astype(np.uint8)
    ref[..., 0] = np.maximum(ref[..., 0], 180)  # a reddish reference
    return img, ref


def wait(client, job_id, timeout=20.0, headers=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}", headers=headers).json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s")


def submit(client, image, method="reinhard", reference=None, params=None, headers=None, **files):
    upload = {"image": ("photo.png", png_bytes(image) if isinstance(image, np.ndarray) else image)}
    if reference is not None:
        upload["reference"] = ("ref.png", png_bytes(reference))
    for role, arr in files.items():
        upload[role] = (f"{role}.png", png_bytes(arr) if isinstance(arr, np.ndarray) else arr)
    data = {"method": method}
    if params is not None:
        data["params"] = params if isinstance(params, str) else json.dumps(params)
    return client.post("/api/jobs", files=upload, data=data, headers=headers)


# ---------------------------------------------------------------- discovery
def test_health_methods_openapi(client):
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["auth"] is False and health["workers"] == 2
    methods = {m["name"]: m for m in client.get("/api/methods").json()}
    from tinct.registry import list_methods

    assert set(methods) == {m.name for m in list_methods()}  # the registry, nothing hard-coded
    rh = methods["reinhard"]
    assert rh["kind"] == "transfer" and rh["inputs"]["reference"] == "required"
    assert rh["params"]["strength"] == {"type": "number", "default": 1.0, "minimum": 0.0, "maximum": 1.0,
                                        "description": rh["params"]["strength"]["description"]}
    # file-path parameters stay on the server
    auto = methods["auto"]
    assert "weights" in auto["server_only_params"] and "weights" not in auto["params"]
    schema = client.get("/api/openapi.json").json()
    assert {"/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/result", "/api/methods",
            "/api/health"} <= set(schema["paths"])
    assert "multipart/form-data" in schema["paths"]["/api/jobs"]["post"]["requestBody"]["content"]
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/static/app.js").status_code == 200


# ---------------------------------------------------------------- a job end to end
def test_reinhard_job_matches_local_call(client, tmp_path):
    from tinct.registry import get_method

    img, ref = _images(1)
    r = submit(client, img, reference=ref, params={"strength": 0.5})
    assert r.status_code == 201, r.text
    job = r.json()
    assert r.headers["location"] == f"/api/jobs/{job['id']}"
    assert len(job["id"]) == 22 and job["state"] in ("queued", "running", "done")
    assert (job["width"], job["height"]) == (60, 40) and job["params"] == {"strength": 0.5}
    done = wait(client, job["id"])
    assert done["state"] == "done" and done["progress"] == 1.0 and done["error"] is None
    assert done["attempts"] == 1 and done["timings"]["method_s"] >= 0 and done["timings"]["total_s"] > 0
    res = client.get(done["result_url"])
    assert res.status_code == 200 and res.headers["content-type"] == "image/png"
    assert 'filename="photo.reinhard.png"' in res.headers["content-disposition"]
    expected = get_method("reinhard")(img, reference=ref, strength=0.5)
    np.testing.assert_array_equal(decode_png(res.content), expected)


def test_mask_keeps_pixels_outside(client):
    img, ref = _images(2)
    mask = np.zeros(img.shape[:2], np.uint8)
    mask[:, 30:] = 255
    job = wait(client, submit(client, img, reference=ref, mask=mask).json()["id"])
    out = decode_png(client.get(job["result_url"]).content)
    np.testing.assert_array_equal(out[:, :30], img[:, :30])
    assert np.abs(out[:, 30:].astype(int) - img[:, 30:]).mean() > 5


def test_alpha_and_16_bit_survive(client, tmp_path):
    from tinct.io import read_image

    files = make_bad_files(tmp_path / "bad")
    _, ref = _images(3)
    job = wait(client, submit(client, files["rgba16_png"].read_bytes(), reference=ref).json()["id"])
    assert job["state"] == "done", job
    out_path = tmp_path / "out.png"
    out_path.write_bytes(client.get(job["result_url"]).content)
    src, out = read_image(files["rgba16_png"]), read_image(out_path)
    assert out.pixels.dtype == np.uint16 and out.pixels.shape == src.pixels.shape
    np.testing.assert_array_equal(out.alpha, src.alpha)  # alpha carried through untouched


def test_failed_job_reports_one_line_error(client, tmp_path, monkeypatch):
    monkeypatch.setenv("TINCT_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr("tinct.models.weights.PACKAGE_WEIGHTS", tmp_path / "no-packaged-weights")
    gray = _images(4)[0][..., 0]
    job = wait(client, submit(client, gray, method="eccv16").json()["id"])
    assert job["state"] == "failed" and job["progress"] < 1
    assert "weights" in job["error"] and "\n" not in job["error"]
    assert str(tmp_path / "data") not in job["error"]  # no server paths leak
    r = client.get(f"/api/jobs/{job['id']}/result")
    assert r.status_code == 409 and r.json()["detail"].startswith("job: no result, the job is failed")


def test_delete_job(client):
    img, ref = _images(5)
    job = wait(client, submit(client, img, reference=ref).json()["id"])
    folder = client.app.state.store.job_dir(job["id"])
    assert folder.is_dir()
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 204
    assert client.get(f"/api/jobs/{job['id']}").status_code == 404 and not folder.exists()


# ---------------------------------------------------------------- bad input: 4xx with one line naming the field
@pytest.mark.parametrize(("kwargs", "status", "start"), [
    ({"method": "nope"}, 400, "method: unknown method 'nope'"),
    ({"params": "{strength: 1"}, 400, "params: not valid JSON"),
    ({"params": "[1, 2]"}, 400, "params: expected a JSON object"),
    ({"params": {"strenght": 1}}, 400, "params: strenght: not a parameter of method 'reinhard'"),
    ({"params": {"strength": 3}}, 400, "params: strength: must be <= 1.0"),
    ({"params": {"strength": "x"}}, 400, "params: strength: expected float"),
    ({"method": "auto", "params": {"weights": "/etc/passwd"}, "reference": None}, 400, "params: weights: names a file"),
    ({"reference": None}, 400, "reference: method 'reinhard' needs a reference image"),
    ({"method": "auto"}, 400, "reference: method 'auto' does not use a reference image"),
    ({"method": "auto", "reference": None, "mask": np.zeros((40, 60), np.uint8)}, 400, "mask: method 'auto' does not use masks"),
    ({"mask": np.zeros((10, 10), np.uint8)}, 400, "mask: is 10x10 but the image is 60x40"),
    ({"scribbles": np.zeros((40, 60), np.uint8)}, 400, "scribbles: method 'reinhard' does not use"),
])
def test_bad_requests(client, kwargs, status, start):
    img, ref = _images(6)
    kwargs = dict(kwargs)
    reference = kwargs.pop("reference", ref)
    r = submit(client, img, reference=reference, **kwargs)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert detail.startswith(start), detail
    assert "\n" not in detail
    assert list((client.app.state.store.jobs_dir).iterdir()) == []  # nothing queued
    assert list((client.app.state.store.tmp_dir).iterdir()) == []  # nothing left behind


def test_missing_fields_are_one_line(client):
    r = client.post("/api/jobs", data={"method": "reinhard"})
    assert r.status_code == 422 and r.json() == {"detail": "image: missing"}
    r = client.post("/api/jobs", files={"image": ("a.png", png_bytes(_images()[0]))})
    assert r.status_code == 422 and r.json() == {"detail": "method: missing"}


def test_bad_files_refused_valid_awkward_files_run(client, tmp_path):
    files = make_bad_files(tmp_path / "bad")
    _, ref = _images(7)
    data_dir = str(client.app.state.store.data_dir)
    for name, kind in FAILING.items():
        r = submit(client, files[name].read_bytes(), reference=ref)
        want = 413 if kind == "ImageTooLargeError" else 400
        assert r.status_code == want, (name, r.text)
        detail = r.json()["detail"]
        assert detail.startswith("image: ") and data_dir not in detail, (name, detail)
        r = submit(client, _images(7)[0], reference=ref, **{"mask": files[name].read_bytes()})
        assert r.status_code == want and r.json()["detail"].startswith("mask: "), (name, r.text)
    ids = {}
    for name in EXPECTED:
        r = submit(client, files[name].read_bytes(), reference=ref)
        assert r.status_code == 201, (name, r.text)
        ids[name] = r.json()["id"]
    for name, job_id in ids.items():
        job = wait(client, job_id)
        assert job["state"] == "done", (name, job)
        shape = EXPECTED[name][0]
        assert (job["height"], job["width"]) == shape[:2]
        assert decode_png(client.get(job["result_url"]).content).shape[:2] == shape[:2], name


def test_content_sniffing_not_file_names(client):
    img, ref = _images(8)
    r = client.post("/api/jobs", data={"method": "reinhard"},
                    files={"image": ("photo.exe", png_bytes(img), "text/plain"), "reference": ("r.txt", png_bytes(ref))})
    assert r.status_code == 201
    assert wait(client, r.json()["id"])["state"] == "done"
    r = client.post("/api/jobs", data={"method": "reinhard"},
                    files={"image": ("photo.png", b"GIF89a" + bytes(200), "image/png"),
                           "reference": ("r.png", png_bytes(ref))})
    assert r.status_code == 400 and r.json()["detail"].startswith("image: ")


# ---------------------------------------------------------------- limits
def test_upload_byte_limit_streaming(make_client):
    client = make_client(max_upload_mb=0.02)  # about 20 KB
    rng = np.random.default_rng(0)
    big = rng.integers(0, 255, (120, 120, 3)).astype(np.uint8)  # noise PNG, ~43 KB
    r = submit(client, big, reference=big[:10, :10])
    assert r.status_code == 413 and r.json()["detail"].startswith("upload: request body is larger than the limit")
    # the same body without Content-Length (chunked): cut off while it streams in
    import httpx

    body, ctype = httpx._multipart.MultipartStream(  # build the multipart body once
        data={"method": "reinhard"}, files={"image": ("a.png", png_bytes(big)), "reference": ("r.png", png_bytes(big))},
        boundary=b"tinctboundary").__iter__(), "multipart/form-data; boundary=tinctboundary"
    chunks = list(body)
    r = client.post("/api/jobs", content=iter(chunks), headers={"content-type": ctype})
    assert r.status_code == 413, r.text
    assert list(client.app.state.store.tmp_dir.iterdir()) == []
    assert list(client.app.state.store.jobs_dir.iterdir()) == []
    small, ref = _images(9)
    assert submit(client, small, reference=ref).status_code == 201  # under the limit is fine


def test_pixel_limit(make_client):
    client = make_client(max_pixels=1000)
    img, ref = _images(10)  # 60 x 40 = 2400 pixels
    r = submit(client, img, reference=ref[:20, :20])
    assert r.status_code == 413
    assert r.json()["detail"].startswith("image: ") and "--max-pixels" in r.json()["detail"]
    r = submit(client, img[:20, :30], reference=ref)  # reference 30x34 = 1020 pixels
    assert r.status_code == 413 and r.json()["detail"].startswith("reference: ")


def test_settings_are_validated():
    from tinct.apps.service import Settings

    with pytest.raises(ParameterError, match="^workers:"):
        Settings(workers=0)
    with pytest.raises(ParameterError, match="^max_upload_mb:"):
        Settings(max_upload_mb=-1)
    with pytest.raises(ParameterError, match="^token:"):
        Settings(token="a b")
    with pytest.raises(ParameterError, match="^executor:"):
        Settings(executor="fork")


# ---------------------------------------------------------------- access control and traversal
def test_bearer_token(make_client):
    client = make_client(token="s3cret-token")
    img, ref = _images(11)
    assert client.get("/api/health").json()["auth"] is True  # health stays open
    for headers in (None, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"}):
        r = client.get("/api/methods", headers=headers)
        assert r.status_code == 401 and r.json()["detail"].startswith("authorization:")
        assert submit(client, img, reference=ref, headers=headers).status_code == 401
    good = {"Authorization": "Bearer s3cret-token"}
    assert client.get("/api/methods", headers=good).status_code == 200
    r = submit(client, img, reference=ref, headers=good)
    assert r.status_code == 201
    job_id = r.json()["id"]
    assert client.get(f"/api/jobs/{job_id}").status_code == 401
    assert wait(client, job_id, headers=good)["state"] == "done"
    assert client.get(f"/api/jobs/{job_id}/result").status_code == 401
    assert client.get(f"/api/jobs/{job_id}/result", headers=good).status_code == 200


def test_traversal_and_guessing(client, tmp_path):
    img, ref = _images(12)
    r = client.post("/api/jobs", data={"method": "reinhard"},
                    files={"image": ("../../../../evil.png", png_bytes(img)),
                           "reference": ("..\\..\\evil2.png", png_bytes(ref))})
    assert r.status_code == 201
    job = wait(client, r.json()["id"])
    res = client.get(job["result_url"])
    assert 'filename="evil.reinhard.png"' in res.headers["content-disposition"]
    assert not list(tmp_path.rglob("evil*"))  # the client's file name is never a path
    store = client.app.state.store
    assert sorted(p.name for p in store.job_dir(job["id"]).iterdir()) == [
        "image.upload", "progress.json", "reference.upload", "result.png"]
    for path in ["/api/jobs/..%2F..%2Fjobs.sqlite3", "/api/jobs/../../jobs.sqlite3", "/api/jobs/..",
                 "/api/jobs/" + "." * 22, "/api/jobs/" + "." * 22 + "/result", "/api/jobs/%2e%2e/result",
                 "/api/jobs/" + job["id"][:-1] + ("B" if job["id"].endswith("A") else "A"), "/static/../app.py", "/static/%2e%2e/settings.py",
                 "/api/jobs/" + job["id"] + "%2F..%2F..%2Fjobs.sqlite3"]:
        r = client.get(path)
        assert r.status_code == 404, (path, r.status_code)
        assert b"SQLite" not in r.content and b"create_app" not in r.content
    assert job["id"] != submit(client, img, reference=ref).json()["id"]


# ---------------------------------------------------------------- expiry and restart
def test_jobs_expire(make_client):
    client = make_client(job_ttl_hours=1.0)
    store = client.app.state.store
    img, ref = _images(13)
    old = wait(client, submit(client, img, reference=ref).json()["id"])
    assert old["expires"] == pytest.approx(old["finished"] + 3600)
    folder = store.job_dir(old["id"])
    assert store.expire(3600.0) == []  # not yet
    gone = store.expire(3600.0, now=time.time() + 3601)
    assert gone == [old["id"]] and not folder.exists()
    assert client.get(f"/api/jobs/{old['id']}").status_code == 404
    assert client.get(f"/api/jobs/{old['id']}/result").status_code == 404


def test_restart_resumes_and_retries_once(tmp_path, make_client):
    """Rows left by a killed server: queued jobs run, an interrupted one is retried, a twice-interrupted one fails."""
    from tinct.apps.service.services.execute import upload_path
    from tinct.apps.service.services.store import JobStore, new_job_id

    data = tmp_path / "data"
    store = JobStore(data)
    img, ref = _images(14)
    ids = []
    for _ in range(3):
        staged = store.new_tmp_dir()
        upload_path(staged, "image").write_bytes(png_bytes(img))
        upload_path(staged, "reference").write_bytes(png_bytes(ref))
        job_id = new_job_id()
        store.create(job_id, staged, method="reinhard", params={}, post=None, inputs=["image", "reference"],
                     name="photo", width=60, height=40)
        ids.append(job_id)
    first = store.claim()  # interrupted once
    second = store.claim()
    store.requeue(second["id"])
    store.claim()  # the second job again (claims take the oldest queued): interrupted twice
    assert store.get(second["id"])["attempts"] == 2 and store.get(first["id"])["attempts"] == 1
    store.close()

    client = make_client()  # the new server on the same data dir
    jobs = {job_id: wait(client, job_id) for job_id in ids}
    assert jobs[first["id"]]["state"] == "done" and jobs[first["id"]]["attempts"] == 2
    assert jobs[second["id"]]["state"] == "failed"
    assert jobs[second["id"]]["error"].startswith("interrupted by a server restart on each of its 2 attempts")
    third = [i for i in ids if i not in (first["id"], second["id"])][0]
    assert jobs[third]["state"] == "done" and jobs[third]["attempts"] == 1


def test_queue_limit(make_client):
    client = make_client(max_queued=2)
    client.app.state.pool.stop()  # nothing runs: the queue fills
    img, ref = _images(15)
    assert [submit(client, img, reference=ref).status_code for _ in range(3)] == [201, 201, 503]


def test_file_parameters_stay_on_the_server():
    from tinct.apps.service.routers.methods import describe, path_like, server_only
    from tinct.registry import Method, Param

    m = Method("demo", "colorize", lambda image, **kw: image, "demo", params=(
        Param("weights", "str", None, "a file", path=True), Param("prior_path", "str", None, "a file", path=True),
        Param("prior", "str", "none", "a method name"), Param("mode", "str", "a", "choice", choices=("a", "b"))))
    assert server_only(m, False) == ["weights", "prior_path"] and server_only(m, True) == []
    info = describe(m, False)
    assert set(info.params) == {"prior", "mode"} and info.server_only_params == ["weights", "prior_path"]
    for value in ("/etc/passwd", "../x", "..", "~root", "C:x", "a\\b", "nul\0"):
        assert path_like(value), value
    for value in ("none", "auto", "eccv16", "yiq"):
        assert not path_like(value), value


def test_post_processing(client):
    from tinct.post import apply_post
    from tinct.registry import get_method

    img, ref = _images(16)
    upload = {"image": ("p.png", png_bytes(img)), "reference": ("r.png", png_bytes(ref))}
    r = client.post("/api/jobs", files=upload, data={"method": "reinhard", "post": "wb,contrast"})
    assert r.status_code == 201 and r.json()["post"] == "wb,contrast"
    job = wait(client, r.json()["id"])
    expected = apply_post(get_method("reinhard")(img, reference=ref), "wb,contrast")
    np.testing.assert_array_equal(decode_png(client.get(job["result_url"]).content), expected)
    r = client.post("/api/jobs", files=upload, data={"method": "reinhard", "post": "sharpen"})
    assert r.status_code == 400 and r.json()["detail"].startswith("post: unknown step 'sharpen'")


def test_other_sites_and_rebound_names_are_refused(client):
    img, ref = _images(17)
    r = client.get("/api/methods", headers={"Host": "evil.example:8000"})  # DNS rebinding
    assert r.status_code == 421 and r.json()["detail"].startswith("host: ")
    r = submit(client, img, reference=ref, headers={"Origin": "http://evil.example"})  # cross-site form post
    assert r.status_code == 403 and r.json()["detail"].startswith("origin: ")
    assert submit(client, img, reference=ref, headers={"Origin": "http://127.0.0.1:8000"}).status_code == 201
    assert client.get("/api/health", headers={"Host": "localhost:8000"}).status_code == 200


def test_empty_parts(client):
    img, ref = _images(18)
    r = client.post("/api/jobs", data={"method": "reinhard"},
                    files={"image": ("", b""), "reference": ("r.png", png_bytes(ref))})
    assert r.status_code in (400, 422) and r.json()["detail"].startswith("image")
    r = client.post("/api/jobs", data={"method": "reinhard"},
                    files={"image": ("a.png", png_bytes(img)), "reference": ("r.png", png_bytes(ref)),
                           "mask": ("", b"")})  # an unused file input of a form
    assert r.status_code == 201, r.text
