"""Hostile and costly requests are 4xx with a one-line JSON ``detail``, never a 500; tokens own their jobs;
quotas, rate limits, readiness, request ids and Server-Sent Events. Methods run in worker threads here.
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pytest

from tinct.apps.service.tests.server import png_bytes
from tinct.apps.service.tests.test_api import _images, submit, wait

PLUGIN = "tinct.apps.service.tests.plugin"


def _detail(r, status=None):
    """The one-line JSON error of a refused request (a 4xx unless ``status`` says otherwise)."""
    if status is not None:
        assert r.status_code == status, (r.status_code, r.text)
    else:
        assert 400 <= r.status_code < 500, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"detail"} and isinstance(body["detail"], str), body
    assert "\n" not in body["detail"] and len(body["detail"]) < 400, body["detail"]
    return body["detail"]


# ---------------------------------------------------------------------------------------------- hostile bodies
@pytest.mark.parametrize(("params", "start"), [
    ("[" * 100_000 + "]" * 100_000, "params: longer than 16384 characters"),
    ('{"strength": ' + "[" * 100_000 + "]" * 100_000 + "}", "params: longer than 16384 characters"),
    ("[" * 5000 + "]" * 5000, "params: nested deeper than 4 levels"),
    ('{"a": {"b": {"c": {"d": {"e": 1}}}}}', "params: nested deeper than 4 levels"),
    ('{"strength": {"a": "[[[[[[[["}}', "params: strength: expected a number, a string or true/false, got a JSON object"),
    ('{"strength": ' + "9" * 5000 + "}", "params: a number has more than 15 digits"),
    ('{"strength": -' + "9" * 5000 + "}", "params: a number has more than 15 digits"),
    ('{"strength": 1' + "0" * 400 + ".5}", "params: a number is written with more than 64 characters"),
    ('{"strength": 1e999}', "params: 1e999 is out of range"),
    ('{"strength": NaN}', "params: NaN is not a number"),
    ('{"strength": Infinity}', "params: Infinity is not a number"),
    ('{"strength": "x"}', "params: strength: expected float"),
    ('{"strength": [1]}', "params: strength: expected a number, a string or true/false, got a JSON array"),
    ('{"strength": {"a": 1}}', "params: strength: expected a number, a string or true/false, got a JSON object"),
    ('{"strength": true}', "params: strength: expected float"),
    ('{"keep_lightness": 1}', "params: keep_lightness: expected bool"),
    ('{"strenght": 1}', "params: strenght: not a parameter of method 'reinhard'"),
    ('{"\\u0000": 1}', "params: '\\x00' is not a parameter name"),
    ('{"strength": 0.5, "strength": 0.7, "x": ' + '"a' * 10_000 + '"}', "params: longer than 16384 characters"),
    ("null", "params: expected a JSON object of parameter values, got NoneType"),
    ('"\\ud800"', "params: expected a JSON object"),
    ("{" * 3 + "}" * 3, "params: not valid JSON"),
])
def test_hostile_params(client, params, start):
    img, ref = _images(1)
    detail = _detail(submit(client, img, reference=ref, params=params), 400)
    assert detail.startswith(start), detail


@pytest.mark.parametrize(("body", "ctype", "status"), [
    (b"garbage", "multipart/form-data; boundary=abc", 400),
    (b"x", "multipart/form-data", 400),
    (b"--abc\r\nContent-Disposition: form-data\r\n\r\nm\r\n--abc--\r\n", "multipart/form-data; boundary=abc", 400),
    (b"--abc\r\nContent-Disposition: form-data; name=\"method\"\r\n\r\nreinhard", "multipart/form-data; boundary=abc",
     422),
    (b'{"method": "reinhard"}', "application/json", 415),
    (b"\xff\xfe\x00", "text/plain", 415),
    (b"", "", 415),
    (b"method=reinhard&image=abc", "application/x-www-form-urlencoded", 422),
])
def test_broken_bodies(client, body, ctype, status):
    headers = {"content-type": ctype} if ctype else {}
    _detail(client.post("/api/jobs", content=body, headers=headers), status)


def test_unknown_and_repeated_fields(client):
    img, ref = _images(2)
    files = {"image": ("a.png", png_bytes(img)), "reference": ("r.png", png_bytes(ref))}
    detail = _detail(client.post("/api/jobs", files=files, data={"method": "reinhard", "strength": "1"}), 400)
    assert detail.startswith("form: unknown field 'strength'")
    detail = _detail(client.post("/api/jobs", files=[("image", ("a.png", png_bytes(img))),
                                                      ("image", ("b.png", png_bytes(img))),
                                                      ("reference", ("r.png", png_bytes(ref)))],
                                 data={"method": "reinhard"}), 400)
    assert detail == "image: given more than once"
    detail = _detail(client.post("/api/jobs", files={"reference": ("r.png", png_bytes(ref))},
                                 data={"method": "reinhard", "image": "not a file"}), 422)
    assert detail.startswith("image:")
    _detail(client.post("/api/jobs", files=files, data={"method": "x" * 5000}), 400)
    _detail(client.post("/api/jobs", files=files, data={"method": "reinhard", "post": "wb," * 100}), 400)


def test_other_routes_never_500(client):
    for method, path in [("GET", "/api/jobs/" + "a" * 5000), ("DELETE", "/api/jobs/%00"), ("POST", "/api/jobs/x/cancel"),
                         ("GET", "/api/jobs/\u00e9t\u00e9/events"), ("PUT", "/api/jobs"), ("GET", "/api/nope"),
                         ("POST", "/api/methods")]:
        r = client.request(method, path)
        assert 400 <= r.status_code < 500, (method, path, r.status_code)
    r = client.post("/api/jobs", content=b"x", headers={"content-type": "multipart/form-data; boundary=a",
                                                       "content-length": "9" * 30})
    assert 400 <= r.status_code < 500


# ---------------------------------------------------------------------------------------------- caps
def test_costly_parameters_are_capped(make_client):
    client = make_client(caps={"threads": 2})
    gray = _images(3)[0][..., 0]
    detail = _detail(submit(client, gray, method="auto", params={"input_size": 2048}), 400)
    assert detail == ("params: input_size: 2048 is over this server's cap of 1024 "
                      "(the operator can raise it: tinct serve --cap input_size=2048)")
    detail = _detail(submit(client, gray, method="auto", params={"threads": 512}), 400)
    assert detail.startswith("params: threads: 512 is over this server's cap of 2")
    detail = _detail(submit(client, gray, method="exemplar", reference=_images(3)[1], params={"size": 4096}), 400)
    assert detail.startswith("params: size: 4096 is over this server's cap of 1024")
    methods = {m["name"]: m for m in client.get("/api/methods").json()}
    assert methods["auto"]["params"]["input_size"]["maximum"] == 1024  # the form offers what is allowed
    assert methods["auto"]["params"]["threads"]["maximum"] == 2
    assert {"threads", "device", "backend", "input_size"} <= set(methods["auto"]["advanced"])
    assert "strength" not in methods["reinhard"]["advanced"]


def test_caps_can_be_raised(make_client):
    client = make_client(caps={"input_size": 4096, "auto.threads": 64}, executor="thread")
    gray = _images(3)[0][..., 0]
    client.app.state.pool.stop()  # nothing needs to run: only the admission is tested
    assert submit(client, gray, method="auto", params={"input_size": 2048, "threads": 64}).status_code == 201
    methods = {m["name"]: m for m in client.get("/api/methods").json()}
    assert methods["auto"]["params"]["input_size"]["maximum"] == 4096


# ---------------------------------------------------------------------------------------------- tokens
def test_tokens_own_their_jobs(make_client):
    client = make_client(tokens=("token-of-alice-123", "token-of-bob-4567"))
    alice = {"Authorization": "Bearer token-of-alice-123"}
    bob = {"Authorization": "Bearer token-of-bob-4567"}
    img, ref = _images(4)
    assert client.get("/api/health").status_code == 200 and client.get("/api/ready").status_code == 200
    _detail(submit(client, img, reference=ref), 401)
    _detail(submit(client, img, reference=ref, headers={"Authorization": "Bearer token-of-alice"}), 401)
    job_id = submit(client, img, reference=ref, headers=alice).json()["id"]
    assert wait(client, job_id, headers=alice)["state"] == "done"
    for method, path in [("GET", f"/api/jobs/{job_id}"), ("GET", f"/api/jobs/{job_id}/result"),
                         ("GET", f"/api/jobs/{job_id}/events"), ("POST", f"/api/jobs/{job_id}/cancel"),
                         ("DELETE", f"/api/jobs/{job_id}")]:
        assert client.request(method, path, headers=bob).status_code == 404, path  # not bob's: it does not exist
        assert client.request(method, path).status_code == 401, path
    assert client.get(f"/api/jobs/{job_id}/result", headers=alice).status_code == 200
    assert client.delete(f"/api/jobs/{job_id}", headers=alice).status_code == 204
    row_owner = client.app.state.store._db.execute("SELECT COUNT(*) FROM jobs WHERE owner LIKE '%alice%'").fetchone()
    assert row_owner[0] == 0  # tokens are never stored


# ---------------------------------------------------------------------------------------------- quotas and rates
def test_rate_limit_per_client(make_client):
    client = make_client(rate_limit=6, tokens=("token-one-aaaa", "token-two-bbbb"))
    client.app.state.pool.stop()
    img, ref = _images(5)
    one, two = {"Authorization": "Bearer token-one-aaaa"}, {"Authorization": "Bearer token-two-bbbb"}
    codes = [submit(client, img, reference=ref, headers=one).status_code for _ in range(11)]
    assert codes == [201] * 10 + [429]  # bursts of at least 10
    r = submit(client, img, reference=ref, headers=one)
    assert _detail(r, 429).startswith("rate limit: more than 6 submissions a minute") and int(r.headers["retry-after"]) >= 1
    assert submit(client, img, reference=ref, headers=two).status_code == 201  # another client is not held back


def test_queue_limits(make_client):
    client = make_client(max_queued=3, max_queued_per_client=2, rate_limit=0, tokens=("tok-a-1234", "tok-b-1234"))
    client.app.state.pool.stop()  # nothing runs: the queue fills
    img, ref = _images(6)
    a, b = {"Authorization": "Bearer tok-a-1234"}, {"Authorization": "Bearer tok-b-1234"}
    assert [submit(client, img, reference=ref, headers=a).status_code for _ in range(3)] == [201, 201, 429]
    assert submit(client, img, reference=ref, headers=b).status_code == 201
    r = submit(client, img, reference=ref, headers=b)
    assert _detail(r, 503).startswith("queue: 3 jobs are waiting (--max-queued)")
    assert client.get("/api/ready").status_code == 503


def test_per_client_queue_limit_without_tokens(make_client):
    client = make_client(max_queued_per_client=1, rate_limit=0)
    client.app.state.pool.stop()
    img, ref = _images(6)
    assert [submit(client, img, reference=ref).status_code for _ in range(2)] == [201, 429]  # by address


def test_disk_quota_and_free_space(make_client):
    client = make_client(disk_quota_mb=0.02)
    img, ref = _images(7, shape=(60, 80))
    first = submit(client, img, reference=ref)
    assert first.status_code == 201 and wait(client, first.json()["id"])["state"] == "done"  # ~25 KB: past the quota
    r = submit(client, img, reference=ref)
    assert _detail(r, 507).startswith("storage: the jobs take 0.02 MB of the 0.02 MB quota (--disk-quota-mb)")
    ready = client.get("/api/ready")
    assert ready.status_code == 503 and ready.json()["reasons"][0].startswith("disk quota")


def test_free_space_guard(make_client):
    client = make_client(min_free_mb=1e12)
    img, ref = _images(7)
    assert _detail(submit(client, img, reference=ref), 507).startswith("storage: the data disk has")


def test_ready_and_health(make_client):
    client = make_client()
    ready = client.get("/api/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True and ready.json()["workers_ready"] == 2
    client.app.state.pool.stop()
    ready = client.get("/api/ready")
    assert ready.status_code == 503 and "shutting down" in ready.json()["reasons"]
    assert client.get("/api/health").status_code == 200  # alive all the same


# ---------------------------------------------------------------------------------------------- operations
def test_request_ids_in_headers_and_logs(client):
    from tinct.apps.service.middleware import RequestIdFilter

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("tinct.apps.service")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        img, ref = _images(8)
        r = submit(client, img, reference=ref, headers={"X-Request-ID": "client-req-42"})
        assert r.status_code == 201 and r.headers["x-request-id"] == "client-req-42"
        other = client.get("/api/health", headers={"X-Request-ID": "bad id with spaces\n"})
        assert len(other.headers["x-request-id"]) == 16  # not echoed: a fresh id
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    mine = [rec for rec in records if rec.request_id == "client-req-42"]
    assert any("queued" in rec.getMessage() for rec in mine), [rec.getMessage() for rec in records]
    assert any(rec.name.endswith("access") and "POST /api/jobs 201" in rec.getMessage() for rec in mine)


def test_server_sent_events(make_client):
    import tinct.apps.service.tests.plugin  # noqa: F401 - registers test-sleep in this process

    client = make_client(plugins=(PLUGIN,))
    gray = _images(9)[0][..., 0]
    job_id = submit(client, gray, method="test-sleep", params={"seconds": 0.6}).json()["id"]
    events = []
    with client.stream("GET", f"/api/jobs/{job_id}/events") as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    states = [e["state"] for e in events]
    assert states[-1] == "done" and len(events) >= 2, states
    assert events[-1]["result_url"] == f"/api/jobs/{job_id}/result"


def test_cancel_in_thread_mode(make_client):
    import tinct.apps.service.tests.plugin  # noqa: F401 - registers test-sleep in this process

    client = make_client(plugins=(PLUGIN,), workers=1)
    gray = _images(10)[0][..., 0]
    running = submit(client, gray, method="test-sleep", params={"seconds": 5}).json()["id"]
    queued = submit(client, gray, method="test-sleep", params={"seconds": 5}).json()["id"]
    deadline = time.monotonic() + 10
    while client.get(f"/api/jobs/{running}").json()["state"] != "running" and time.monotonic() < deadline:
        time.sleep(0.02)
    t0 = time.monotonic()
    assert client.post(f"/api/jobs/{running}/cancel").json()["state"] == "cancelled"
    assert client.delete(f"/api/jobs/{queued}").status_code == 204
    assert time.monotonic() - t0 < 2.0
    assert client.get(f"/api/jobs/{queued}").status_code == 404
    follow = submit(client, gray, method="test-sleep", params={"seconds": 0}).json()["id"]
    assert wait(client, follow)["state"] == "done"  # the slot moved on
    assert client.get(f"/api/jobs/{running}").json()["state"] == "cancelled"


def test_upload_slots(make_client):
    """More uploads at once than --max-uploads wait for a turn, then get 503."""
    import asyncio

    from tinct.apps.service import middleware

    client = make_client(max_uploads=1)
    mw = None
    app = client.app.middleware_stack
    while app is not None and mw is None:
        mw = app if isinstance(app, middleware.LimitsMiddleware) else None
        app = getattr(app, "app", None)
    assert mw is not None
    mw._uploads = {"jobs": asyncio.Semaphore(0)}  # every slot of submissions taken
    old, middleware.UPLOAD_WAIT_S = middleware.UPLOAD_WAIT_S, 0.2
    try:
        img, ref = _images(11)
        r = submit(client, img, reference=ref)
        # previews and suggestions have slots of their own (they hold one while waiting for the quick pool)
        quick = client.post("/api/preview", files={"image": ("a.png", png_bytes(img))}, data={"method": "reinhard"})
    finally:
        middleware.UPLOAD_WAIT_S = old
    assert _detail(r, 503).startswith("uploads: 1 uploads are being received already (--max-uploads)")
    assert r.headers["retry-after"] == "2"
    assert _detail(quick, 400).startswith("method: 'reinhard' takes no colour hints")  # admitted, judged by the route
    mw._uploads["jobs"] = asyncio.Semaphore(1)
    assert submit(client, img, reference=ref).status_code == 201


def test_rate_limiter_buckets():
    from tinct.apps.service.middleware import RateLimiter

    lim = RateLimiter(60, max_clients=4)  # one a second, bursts of 30
    assert all(lim.take("a", now=0.0) == 0 for _ in range(30))
    assert lim.take("a", now=0.0) == pytest.approx(1.0)
    assert lim.take("a", now=1.0) == 0
    for k in "bcdefgh":  # a flood of new clients cannot grow the table without bound
        lim.take(k, now=2.0)
    assert len(lim.buckets) <= 5
    assert RateLimiter(0).take("x") == 0


def test_bad_settings():
    from tinct.apps.service import Settings
    from tinct.errors import ParameterError

    for kw, start in [({"job_timeout_s": -1}, "job_timeout_s:"), ({"caps": {"input_size": -1}}, "cap:"),
                      ({"tokens": ("has space",)}, "token:"), ({"max_uploads": 0}, "max_uploads:"),
                      ({"job_memory_mb": 10}, "job_memory_mb:"), ({"rate_limit": float("nan")}, "rate_limit:")]:
        with pytest.raises(ParameterError, match=f"^{start}"):
            Settings(**kw)


def test_uploads_are_judged_from_headers_only(client, tmp_path, monkeypatch):
    """The server never decodes pixels: a broken body behind a good header is the worker's to refuse."""
    import tinct.io

    def no_decoding(*a, **k):
        raise AssertionError("the server decoded an upload")

    img, ref = _images(12)
    good = png_bytes(img)
    cut = good[: len(good) // 2] + good[-12:]  # header and IEND kept, pixel data cut
    monkeypatch.setattr(tinct.io, "read_image", no_decoding)
    from tinct.apps.service.routers import jobs

    assert not hasattr(jobs, "read_image")
    monkeypatch.undo()
    r = submit(client, cut, reference=ref)
    assert r.status_code == 201, r.text
    job = wait(client, r.json()["id"])
    assert job["state"] == "failed" and job["error"].startswith("cannot read image"), job
    assert np.asarray(job["width"]) == img.shape[1]
