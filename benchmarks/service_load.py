"""Load on the web service: jobs/s and latency of ``tinct serve`` on loopback, beside direct calls.

Starts a real ``tinct serve`` (uvicorn, worker processes) on 127.0.0.1, submits ``--jobs`` jobs
of ``--method`` at ``--megapixels`` from ``--clients`` concurrent HTTP clients (1 and 8 by default) (each: upload,
poll every 50 ms, download the PNG result), and checks every result against the method called
locally on that job's own input. In the same run it times the peers:

- ``direct``: the registered method called in-process on the same images with ``--workers``
  threads (no HTTP, no PNG encode/decode, no files): the floor the service overhead sits on.
- ``cli``: ``tinct transfer`` run once per image as a subprocess, ``--workers`` at a time: what a
  user without the service would script.

Latency is per job, from the start of its upload to the end of its result download (service),
or from call to return (direct), or process start to exit (cli).

Every client connects from 127.0.0.1, so the server's per-client limits (``--rate-limit``,
``--max-queued-per-client``) would count them as one client: they are switched off here
(``--serve-args``), as a load balancer in front of the service would spread real clients.

Usage::

    python benchmarks/service_load.py                          # reinhard, 1 MP, 16 jobs, 1 and 8 clients
    python benchmarks/service_load.py --jobs 200 --megapixels 0.05
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TINCT_SHARED", REPO.parent / "shared"))


def photos(n: int, megapixels: float) -> tuple[list[np.ndarray], np.ndarray]:
    """``n`` distinct targets (Kodak photos, resized, each shifted and flipped differently) and a reference."""
    import cv2

    folder = SHARED / "data" / "eval" / "kodak24"
    files = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
    h = max(8, int(round((megapixels * 1e6 * 2 / 3) ** 0.5)))
    w = max(8, int(round(megapixels * 1e6 / h)))
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        if files:
            img = cv2.cvtColor(cv2.imread(str(files[i % len(files)])), cv2.COLOR_BGR2RGB)
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        else:  # synthetic fallback outside the workplace
            yy, xx = np.mgrid[:h, :w]
            img = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 127 // (w + h)], -1).astype(np.uint8)
        img = np.roll(img, i * 7, axis=1)
        if (i // len(files or [0])) % 2:
            img = img[:, ::-1]
        img = np.ascontiguousarray(img)
        img[0, 0] = [i % 256, i // 256, 1]
        out.append(img)
    ref = (rng.random((h // 2, w // 2, 3)) * [255, 140, 60]).astype(np.uint8)
    if files:
        ref = cv2.cvtColor(cv2.imread(str(files[-1])), cv2.COLOR_BGR2RGB)
    return out, ref


def stats(name: str, latencies: list[float], wall: float, extra: str = "") -> dict:
    lat = np.array(latencies)
    return {"mode": name, "jobs": len(lat), "wall_s": wall, "jobs_s": len(lat) / wall,
            "p50_ms": np.percentile(lat, 50) * 1000, "p95_ms": np.percentile(lat, 95) * 1000, "note": extra}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="reinhard")
    ap.add_argument("--megapixels", type=float, default=1.0)
    ap.add_argument("--jobs", type=int, default=16)
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8],
                    help="concurrent HTTP clients; one service row per value (1 = latency without queueing)")
    ap.add_argument("--workers", type=int, default=2, help="service workers; also threads/processes of the peers")
    ap.add_argument("--skip-cli", action="store_true", help="leave out the tinct-transfer-per-image peer")
    ap.add_argument("--serve-args", default="--rate-limit 0 --max-queued-per-client 0",
                    help="extra tinct serve options (default: the per-client limits off, as all clients share "
                         "one address here)")
    args = ap.parse_args(argv)
    args.serve_args = args.serve_args.split()

    from tinct.apps.service.tests.server import Server, decode_png, png_bytes, run_jobs
    from tinct.registry import get_method

    method = get_method(args.method)
    targets, ref = photos(args.jobs, args.megapixels)
    h, w = targets[0].shape[:2]
    print(f"{args.method}, {w}x{h} ({w * h / 1e6:.2f} MP), {args.jobs} jobs, clients {args.clients}, "
          f"{args.workers} workers, {os.cpu_count()} CPU cores", flush=True)
    rows = []

    # peer 1: direct in-process calls
    def direct(img):
        t = time.perf_counter()
        out = method(img, reference=ref) if method.kind == "transfer" else method(img)
        return out, time.perf_counter() - t

    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.workers) as pool:
        done = list(pool.map(direct, targets))
    rows.append(stats("direct (in-process threads)", [d[1] for d in done], time.perf_counter() - t0))
    expected = [d[0] for d in done]

    # the service
    ref_png = png_bytes(ref)
    jobs = [{"files": {"image": png_bytes(img), **({"reference": ref_png} if method.kind == "transfer" else {})},
             "method": args.method, "params": {}} for img in targets]
    with tempfile.TemporaryDirectory() as tmp:
        for n_clients in args.clients:
            # every client comes from 127.0.0.1: one address, so the per-client limits are off here
            with Server(Path(tmp) / f"data-{n_clients}", ["--workers", str(args.workers), *args.serve_args]) as srv:
                t0 = time.perf_counter()
                results = run_jobs(srv.url, jobs, clients=n_clients, timeout=900)
                wall = time.perf_counter() - t0
            bad = sum(r["state"] != "done" for r in results)
            wrong = sum(r["state"] == "done" and not np.array_equal(decode_png(r["result"]), e)
                        for r, e in zip(results, expected))
            ids = len({r["id"] for r in results})
            method_s = np.median([r["timings"].get("method_s", np.nan) for r in results])
            rows.append(stats(f"tinct serve (HTTP, {n_clients} clients)", [r["latency_s"] for r in results], wall,
                              f"failed {bad}, wrong {wrong}, distinct ids {ids}; median method_s {method_s:.2f}"))

        # peer 2: one CLI process per image
        if not args.skip_cli and method.kind == "transfer":
            folder = Path(tmp) / "cli"
            folder.mkdir()
            from PIL import Image

            paths = []
            for i, img in enumerate(targets):
                p = folder / f"t{i:04d}.png"
                Image.fromarray(img).save(p)
                paths.append(p)
            ref_path = folder / "ref.png"
            Image.fromarray(ref).save(ref_path)

            def cli(p):
                t = time.perf_counter()
                subprocess.run([sys.executable, "-c", "import sys; from tinct.apps.cli import main; sys.exit(main())",
                                "transfer", str(p), "-r", str(ref_path), "-m", args.method, "-o",
                                str(folder / f"out-{p.name}")], check=True, capture_output=True)
                return time.perf_counter() - t

            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.workers) as pool:
                lat = list(pool.map(cli, paths))
            rows.append(stats("tinct transfer CLI per image", lat, time.perf_counter() - t0))

    print(f"\n| {'mode':32} | jobs | wall s | jobs/s | p50 ms | p95 ms | notes")
    print(f"|{'-' * 34}|------|--------|--------|--------|--------|------")
    for r in rows:
        print(f"| {r['mode']:32} | {r['jobs']:4d} | {r['wall_s']:6.1f} | {r['jobs_s']:6.2f} | {r['p50_ms']:6.0f} | "
              f"{r['p95_ms']:6.0f} | {r['note']}")
    return 0 if all("failed 0, wrong 0" in r["note"] for r in rows if r["note"]) else 1


if __name__ == "__main__":
    sys.exit(main())
