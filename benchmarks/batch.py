"""Batch throughput: ``tinct batch`` on a Dask LocalCluster (1 and 2 workers) against sequential ``tinct colorize``.

A folder of gray photos (the first ``--n`` images of ``eval/bsds500-test100``,
made gray) is colorized by the same method three ways, side by side in one run,
each as a user would run it (a fresh ``tinct`` process, wall clock end to end,
cluster start-up included):

* ``tinct colorize IN -o OUT`` (one process, files one after another: the peer);
* ``tinct batch IN OUT --workers W --threads T [-p threads=N]`` for each ``W:T[:N]`` of
  ``--configs`` (default ``1:1 1:1:2 1:2 2:1``: one worker with one thread; the same
  with the network on two threads (intra-op parallelism); one worker with two
  threads -- two tasks at once in one process --; two single-thread workers);
* a config ending in ``:off`` runs with the task's read/write overlap switched off
  (``TINCT_BATCH_PREFETCH=0``); ``W:T:0:off`` (network threads at the library default,
  no overlap) is ``tinct batch`` as it was before both; ``--no-prefetch-row`` adds ``1:1:off``.

It prints wall seconds, files per second, the CPU seconds (user+sys, the run's
processes and their workers) per file, the ratios the issue names (2 workers
against the sequential CLI and against 1 worker) and the load average before and
after the runs, and checks that the output folders hold the same pictures
(largest pixel difference).

Method: ``auto`` when tinct's weights are installed, else ``exemplar`` with a
Kodak photo as the colour reference (``--method``/``--reference`` override).

Usage::

    python benchmarks/batch.py                 # 48 photos
    python benchmarks/batch.py --n 12 --method exemplar
    # the tables in docs/video-batch.md (each run short enough for a paused-training window of 3 minutes):
    python benchmarks/batch.py --n 24 --megapixels 1 --repeat 2 --configs 1:1:0:off 2:1:0:off 1:1:off 1:1 1:1:2 1:2 2:1
    python benchmarks/batch.py --n 32 --megapixels 1 --configs --no-sequential --overhead-tasks 0 --overlap-rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TINCT_SHARED", REPO.parent / "shared"))
OUT = "{output folder}"  # stands for each round's own output folder in a run's command


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=48, help="number of photos")
    ap.add_argument("--method", default=None)
    ap.add_argument("--reference", default=str(SHARED / "data" / "eval" / "kodak24" / "kodim23.png"))
    ap.add_argument("--configs", nargs="*", default=["1:1", "1:1:2", "1:2", "2:1"], metavar="W:T[:N][:off]",
                    help="tinct batch runs as workers:threads[:network threads, -p threads=N][:off = no prefetch]; "
                         "W:T:0:off runs as tinct batch did before the prefetch (default 1:1 1:1:2 1:2 2:1)")
    ap.add_argument("--no-prefetch-row", action="store_true",
                    help="add a --workers 1 --threads 1 run with the read/write overlap off (TINCT_BATCH_PREFETCH=0)")
    ap.add_argument("--no-sequential", action="store_true", help="leave out the sequential tinct colorize run")
    ap.add_argument("--overlap-rounds", type=int, default=0,
                    help="also time the tasks alone on one warm 1-worker 1-thread LocalCluster, prefetch off and on "
                         "alternately, this many rounds each (0: skip)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="rounds of all runs, interleaved (a busy machine drifts); the table shows each run's median")
    ap.add_argument("--megapixels", type=float, default=0.0,
                    help="resize the photos to about this many megapixels (the issue's case: 1)")
    ap.add_argument("--overhead-tasks", type=int, default=200,
                    help="no-op tasks for the per-task overhead of a 4-worker LocalCluster (0: skip)")
    args = ap.parse_args(argv)

    from tinct.color import rgb2gray
    from tinct.io import read_image, write_image
    from tinct.registry import get_method

    method = args.method
    if method is None:  # tinct's own model when its weights are shipped, else exemplar colorization
        from tinct.models.weights import default_entry

        method = "auto" if default_entry() is not None else "exemplar"
    needs_ref = any(i.name == "reference" and i.required for i in get_method(method).inputs)
    ref = Path(args.reference)
    if needs_ref and not ref.exists():
        ref = sorted((SHARED / "data" / "eval" / "kodak24").glob("*"))[0]
    tmp = Path(tempfile.mkdtemp(prefix="tinct-batch-bench-"))
    src = tmp / "in"
    src.mkdir()
    photos = sorted((SHARED / "data" / "eval" / "bsds500-test100").glob("*.jpg"))[: args.n]
    for p in photos:
        g = np.clip(rgb2gray(read_image(p).pixels) * 255 + 0.5, 0, 255).astype(np.uint8)
        if args.megapixels > 0:
            import cv2

            k = (args.megapixels * 1e6 / g.size) ** 0.5
            g = cv2.resize(g, (round(g.shape[1] * k), round(g.shape[0] * k)), interpolation=cv2.INTER_CUBIC)
        write_image(src / f"{p.stem}.png", g)
    n = len(photos)
    ref_args = ["--reference", str(ref)] if needs_ref else []
    size = f"{g.shape[1]}x{g.shape[0]}" if n else "-"
    print(f"method: {method}{' (reference ' + ref.name + ')' if needs_ref else ''}; {n} photos from "
          f"bsds500-test100 ({size}, gray); cpu: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    runs = []
    if not args.no_sequential:
        runs.append(("tinct colorize (sequential)",
                     ["colorize", str(src), "-o", OUT, "--method", method, *ref_args], tmp / "seq", {}))
    configs = list(args.configs)
    if args.no_prefetch_row:
        configs.insert(0, "1:1:off")
    for config in configs:
        fields = config.split(":")
        off = "off" in fields
        w, t, *more = [int(v) for v in fields if v != "off"]
        net = ["-p", f"threads={more[0]}"] if more else []
        name = f"batch{w}x{t}{'-net' + str(more[0]) if net else ''}{'-noprefetch' if off else ''}"
        label = f"tinct batch --workers {w} --threads {t}{' ' + ' '.join(net) if net else ''}"
        label += " (no prefetch)" if off else ""
        env = {"TINCT_BATCH_PREFETCH": "0"} if off else {}
        runs.append((label, ["batch", str(src), OUT, "--method", method, "--workers", str(w),
                             "--threads", str(t), *net, "--json", *ref_args], tmp / name, env))
    rows = []
    import resource
    import statistics

    cpu = {}
    loads = [os.getloadavg()]
    walls: dict[str, list[float]] = {}
    cpus: dict[str, list[tuple[float, float]]] = {}
    inners: dict[str, list[float]] = {}
    outs: dict[str, Path] = {}
    for rnd in range(max(1, args.repeat)):
        for label, cmd, out, env in runs:
            out = out.with_name(f"{out.name}-{rnd}")  # a fresh folder each round: nothing is skipped
            cmd = [str(out) if c is OUT else c for c in cmd]
            t0 = time.perf_counter()
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            proc = subprocess.run([sys.executable, "-m", "tinct", *cmd], capture_output=True, text=True,
                                  env={**os.environ, **env})
            dt = time.perf_counter() - t0
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # Dask workers are children of the tinct process
            if proc.returncode != 0:
                print(f"{label}: failed ({proc.stderr.strip().splitlines()[-1:]})")
                continue
            walls.setdefault(label, []).append(dt)
            cpus.setdefault(label, []).append((r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime))
            if "--json" in cmd:
                inners.setdefault(label, []).append(json.loads(proc.stdout)["files_per_second"])
            outs.setdefault(label, out)
            print(f"  done {label} (round {rnd + 1}): {dt:.1f} s, load {os.getloadavg()[0]:.2f}",
                  file=sys.stderr, flush=True)
    for label, _, _, _ in runs:
        if label not in walls:
            continue
        dt = statistics.median(walls[label])
        cpu[label] = (statistics.median(u for u, _ in cpus[label]), statistics.median(s for _, s in cpus[label]))
        inner = f"{statistics.median(inners[label]):.2f}" if label in inners else ""
        files = sorted(outs[label].rglob("*.png"))
        rows.append((label, len(files), dt, n / dt, inner, outs[label]))
    loads.append(os.getloadavg())
    base = {p.name: read_image(p).pixels for p in sorted(rows[0][5].rglob("*.png"))} if rows else {}
    print(f"\nload average (1, 5, 15 min) before the runs: {', '.join(f'{v:.2f}' for v in loads[0])}; "
          f"after: {', '.join(f'{v:.2f}' for v in loads[1])}")
    print()
    print("| run | files | wall s | files/s | files/s inside run | CPU user+sys s per file | "
          "identical to sequential | max abs diff |")
    print("|---|---|---|---|---|---|---|---|")
    for label, count, dt, fps, inner, out in rows:
        diffs = [int(np.abs(read_image(p).pixels.astype(int) - base[p.name].astype(int)).max())
                 for p in out.rglob("*.png") if p.name in base]
        same = sum(d == 0 for d in diffs)
        u, sy = cpu[label]
        print(f"| {label} | {count} | {dt:.1f} | {fps:.2f} | {inner or '-'} | {u / max(count, 1):.2f}+"
              f"{sy / max(count, 1):.2f} | {same}/{count} | {max(diffs, default=0)} |")
    fps = {label: f for label, _, _, f, _, _ in rows}
    seq = fps.get("tinct colorize (sequential)")
    one, two = fps.get("tinct batch --workers 1 --threads 1"), fps.get("tinct batch --workers 2 --threads 1")
    off = fps.get("tinct batch --workers 1 --threads 1 (no prefetch)")
    ratios = [("2 workers / sequential CLI (target 1.3x)", two, seq), ("2 workers / 1 worker (target 1.8x)", two, one),
              ("1 worker, 2 threads / 1 worker", fps.get("tinct batch --workers 1 --threads 2"), one),
              ("1 worker, network on 2 threads / 1 worker", fps.get("tinct batch --workers 1 --threads 1 -p threads=2"),
               one),
              ("1 worker: prefetch / no prefetch", one, off)]
    b1, b2 = (fps.get(f"tinct batch --workers {w} --threads 1 -p threads=0 (no prefetch)") for w in (1, 2))
    ratios += [("before (no prefetch, network threads at library default): 2 workers / sequential CLI", b2, seq),
               ("before: 2 workers / 1 worker", b2, b1), ("1 worker, after / before", one, b1),
               ("2 workers, after / before", two, b2)]
    print()
    for name, a, b in ratios:
        if a and b:
            print(f"{name}: {a / b:.2f}x")
    print("\n(max abs diff: largest 8-bit difference from the sequential output; BLAS/OpenMP thread counts differ "
          "between runs, which changes float summation order)")
    if args.overlap_rounds:
        spec = {"method": method, "params": get_method(method).validate({}), "post": None, "max_pixels": None,
                "reference": str(ref.resolve()) if needs_ref else None, "overwrite": False, "plugins": (),
                "video": {}}
        print("\nI/O overlap inside tasks, 1 worker x 1 thread, warm (tasks of 8 files; median of "
              f"{args.overlap_rounds} rounds; load average before {os.getloadavg()[0]:.2f}):\n")
        print("| prefetch | wall s per file | worker CPU user+sys s per file |\n|---|---|---|")
        for mode, (wall, cpu_u, cpu_s) in task_overlap(sorted(src.glob("*.png")), spec, tmp, args.overlap_rounds):
            print(f"| {mode} | {wall:.3f} | {cpu_u:.3f}+{cpu_s:.3f} |")
        print(f"(load average after: {os.getloadavg()[0]:.2f})")
    if args.overhead_tasks:
        print(f"\nper-task overhead of a 4-worker LocalCluster: {task_overhead(args.overhead_tasks) * 1e3:.1f} ms "
              f"({args.overhead_tasks} no-op tasks submitted at once, wall clock per task)")
    return 0


def _set_prefetch(value: str) -> None:
    os.environ["TINCT_BATCH_PREFETCH"] = value


def _cpu_times() -> tuple[float, float]:
    t = os.times()
    return t.user, t.system


def task_overlap(photos: list[Path], spec: dict, tmp: Path, rounds: int) -> list[tuple[str, tuple]]:
    """Wall and worker CPU seconds per file of :func:`tinct.apps.batch.tasks.process_files`, prefetch off and on.

    One warm LocalCluster worker with one thread, as ``tinct batch --workers 1 --threads 1`` has; the
    same tasks (8 files each, as ``plan_tasks`` cuts 32 files for one slot) alternately without and with
    the overlap, so that a drifting load falls on both alike.
    """
    import statistics

    from distributed import Client

    from tinct.apps.batch.runner import local_cluster
    from tinct.apps.batch.tasks import process_files

    got: dict[str, list[tuple[float, float, float]]] = {"off": [], "on": []}
    with local_cluster(1, 1) as cluster, Client(cluster) as client:
        warm = tmp / "overlap-warm"
        client.submit(process_files, [(str(photos[0]), str(warm / photos[0].name))], spec, pure=False).result()
        for rnd in range(rounds):
            for mode in ("off", "on"):
                client.run(_set_prefetch, "1" if mode == "on" else "0")
                out = tmp / f"overlap-{mode}-{rnd}"
                items = [(str(p), str(out / p.name)) for p in photos]
                (c0,) = client.run(_cpu_times).values()
                t0 = time.perf_counter()
                futures = [client.submit(process_files, items[i:i + 8], spec, pure=False)
                           for i in range(0, len(items), 8)]
                results = [r for f in futures for r in f.result()]
                wall = time.perf_counter() - t0
                (c1,) = client.run(_cpu_times).values()
                assert all(r["status"] == "written" for r in results), results
                n = len(items)
                got[mode].append((wall / n, (c1[0] - c0[0]) / n, (c1[1] - c0[1]) / n))
    return [(mode, tuple(statistics.median(v[i] for v in vals) for i in range(3))) for mode, vals in got.items()]


def _noop(i):
    return i


def task_overhead(n: int) -> float:
    """Seconds per task of ``n`` no-op tasks on a 4-worker LocalCluster (started before timing)."""
    from distributed import Client, wait

    from tinct.apps.batch.runner import local_cluster

    with local_cluster(4, 1) as cluster, Client(cluster) as client:
        wait(client.map(_noop, range(8), pure=False))  # warm: connections made
        t0 = time.perf_counter()
        wait(client.map(_noop, range(n), pure=False))
        return (time.perf_counter() - t0) / n


if __name__ == "__main__":
    sys.exit(main())
