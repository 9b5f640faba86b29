"""Run one method over a folder of images (and videos) on a Dask distributed cluster.

``run_batch`` submits tasks of several files each (:func:`tinct.apps.batch.tasks.process_files`,
about four tasks per worker thread, so that scheduling costs little beside the work, while the
load stays balanced) to a :class:`distributed.LocalCluster` it starts (worker processes x threads =
the CPUs, each with its method and model loaded once, each Dask thread computing one file at a time
while the task reads the next and writes the last beside it, and a method's own ``threads`` 1 unless
given: :func:`network_threads`) or to an existing scheduler, and collects the results as they finish:

* idempotent: outputs that already exist are skipped before anything is sent
  (and again by the task, in case an earlier attempt of it wrote the file);
* atomic: images go through :func:`tinct.io.write_image` (temporary file +
  rename), videos through :func:`tinct.video.colorize_video`;
* robust: a bad file is a ``failed`` entry with its one-line error; a worker
  that dies is replaced and its tasks are run again elsewhere (Dask reschedules
  them); temporary files left by a killed worker are removed at the end;
* the report lists written, skipped and failed files.

References
----------
.. [1] M. Rocklin, "Dask: Parallel Computation with Blocked algorithms and Task Scheduling",
       SciPy 2015; Dask distributed documentation, https://distributed.dask.org/
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from tinct.errors import MissingWeightsError, ParameterError, TinctError

DEFAULT_WORKERS = 2
CONNECT_TIMEOUT = "10s"


class SchedulerError(TinctError):
    """The Dask scheduler could not be reached or the cluster could not start."""


def find_inputs(inputs: list, out_dir: Path) -> list[tuple[Path, Path]]:
    """Image and video files under ``inputs`` as (file, root) pairs, leaving out anything inside ``out_dir``."""
    from tinct.io.files import IMAGE_SUFFIXES, collect_inputs
    from tinct.video.io import VIDEO_SUFFIXES

    suffixes = IMAGE_SUFFIXES | VIDEO_SUFFIXES
    out_abs = out_dir.resolve()

    def folder_files(folder: Path) -> list[Path]:
        return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                      and not p.name.startswith(".") and not p.resolve().is_relative_to(out_abs))

    return collect_inputs(inputs, folder_files=folder_files, what="image or video files", regular_only=True)


def output_paths(pairs, out_dir: Path, method: str, suffix: str | None) -> list[Path]:
    """``OUT/sub/name.METHOD.ext`` as ``tinct colorize`` names them; videos keep a video container."""
    from tinct.io.files import output_names
    from tinct.video.io import OUTPUT_SUFFIXES, VIDEO_SUFFIXES

    names = output_names(pairs, out_dir, method, suffix)
    fixed = []
    for (f, _), n in zip(pairs, names):
        if f.suffix.lower() in VIDEO_SUFFIXES:
            ext = f.suffix.lower() if f.suffix.lower() in OUTPUT_SUFFIXES else ".mp4"
            n = n.with_suffix(ext)
        fixed.append(n)
    return fixed


def worker_environ(threads: int = 1) -> dict[str, str]:
    """Environment of a worker process: BLAS/OpenMP/torch threads = the worker's threads, and glibc's malloc
    as a plain process has it.

    Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` in its workers. Setting it switches off glibc's
    dynamic mmap threshold, so every temporary array above 128 KB -- an image method makes dozens per
    image -- is mapped and unmapped afresh and its pages faulted in again: the 5x system time and
    0.55-0.64 s per 1 MP image measured in workers, against 0.33 s in ``tinct colorize``. The values here
    are the ceilings the dynamic threshold itself reaches (32 MB mmap threshold, trim at twice that).
    """
    n = str(max(1, int(threads)))
    return {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(64 << 20),
            "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}


def default_workers(threads: int = 1) -> int:
    """Worker processes for a local cluster: workers x threads = the CPUs this process may use."""
    from tinct._threads import available_cpus

    return max(1, available_cpus() // max(1, threads))


def network_threads(method, params: dict) -> dict:
    """``params`` with ``threads=1`` for a method that has a ``threads`` parameter the user left unset.

    On a local cluster the runner makes workers x threads = cores, each Dask thread computing one file
    at a time (:func:`tinct.apps.batch.tasks.process_files`); the network must then run on that thread
    alone. Left at its default, ONNX Runtime starts a spinning thread per core in every worker -- two
    workers on two cores ran four, about 10 % more CPU per 1 MP file under load. On a user's own
    scheduler the workers' sizes are theirs, and so is this choice.
    """
    if "threads" in params or not any(p.name == "threads" for p in method.params):
        return params
    return {**params, "threads": 1}


def local_cluster(workers: int | None = None, threads: int = 1, processes: bool = True):
    """A quiet :class:`distributed.LocalCluster`: no dashboard, its HTTP port chosen free.

    ``workers`` defaults to :func:`default_workers`. Each worker process runs BLAS, OpenMP and torch
    with ``threads`` threads and a normal malloc (:func:`worker_environ`); parallelism comes from
    the workers (on the shared 2-core box one thread per process was about 3x faster per image than two).
    """
    import dask
    from distributed import LocalCluster

    workers = default_workers(threads) if workers is None else workers
    env = worker_environ(threads)
    # the nanny merges pre-spawn-environ under its own env; give ours there too, so no Dask default wins
    extra = {"env": env} if processes else {}  # in-process workers share this process's environment
    with dask.config.set({"distributed.nanny.pre-spawn-environ": env}):
        return LocalCluster(n_workers=workers, threads_per_worker=threads, processes=processes,
                            dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"},
                            silence_logs=logging.ERROR, **extra)


def _client(scheduler: str | None, workers: int | None, threads: int):
    from distributed import Client

    if scheduler:
        try:
            return Client(scheduler, timeout=CONNECT_TIMEOUT), None
        except (OSError, TimeoutError) as exc:
            raise SchedulerError(f"--scheduler: cannot reach the Dask scheduler at {scheduler} ({exc})") from None
    cluster = local_cluster(workers, threads)
    try:
        return Client(cluster), cluster
    except Exception:
        cluster.close()
        raise


def _remove_stale_temps(outputs: list[Path]) -> int:
    """Delete temporary files that a killed worker left beside our outputs (write_image / video patterns)."""
    removed = 0
    for dst in outputs:
        if not dst.parent.is_dir():
            continue
        for pattern in (f".{dst.name}.*.tmp", f".{dst.name}.tmp-*"):
            for p in dst.parent.glob(pattern):
                try:
                    p.unlink()
                    removed += 1
                except OSError:
                    pass
    return removed


def run_batch(inputs, out_dir, method: str, params: dict | None = None, *, reference: str | None = None,
              post: str | None = None, scheduler: str | None = None, workers: int | None = None, threads: int = 1,
              overwrite: bool = False, max_pixels: int | None = None, suffix: str | None = None,
              plugins: tuple[str, ...] = (), video: dict | None = None, progress: bool = False,
              on_result: Callable[[dict], None] | None = None) -> dict:
    """Run ``method`` over every image/video under ``inputs`` on Dask; see :mod:`tinct.apps.batch.runner`.

    Parameters
    ----------
    inputs : list of str or Path
        Files and folders (searched recursively; ``out_dir`` is left out).
    out_dir : str or Path
        Where results go, sub-folders mirrored.
    method : str
        Registered method name (colorize, or transfer with ``reference``).
    params : dict, optional
        Method parameters (validated here, before any task is sent).
    reference : str, optional
        Reference image path (exemplar colorization or transfer).
    post : str, optional
        ``--post`` spec.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); default: start a LocalCluster.
    workers, threads : int
        LocalCluster worker processes and threads per worker. Each Dask thread computes one file at
        a time; a method's own ``threads`` parameter, unless given, is 1 on a LocalCluster
        (:func:`network_threads`).
    overwrite : bool
        Redo files whose output exists.
    suffix : str, optional
        Output image extension (``'.png'``); default the input's.
    plugins : tuple of str
        Modules imported on the client and on every worker before the method is looked up.
    video : dict, optional
        :class:`tinct.video.VideoJob` options for video files (``consistency``, ...).
    progress : bool
        Show a tqdm bar.
    on_result : callable, optional
        Called with each task's result dict as it arrives (tests use it).

    Returns
    -------
    dict
        ``written``, ``skipped``, ``failed`` (lists of dicts), ``workers`` (process ids seen),
        ``seconds``, ``files_per_second``.
    """
    from tinct.pipeline import make_job
    from tinct.registry import get_method, load_plugin

    start = time.perf_counter()
    if workers is not None and not (isinstance(workers, int) and workers >= 1):
        raise ParameterError(f"--workers: must be an integer >= 1, got {workers!r}")
    if not (isinstance(threads, int) and threads >= 1):
        raise ParameterError(f"--threads: must be an integer >= 1, got {threads!r}")
    for module in plugins:
        load_plugin(module)
    kind = get_method(method).kind if method else "colorize"
    job = make_job(method, kind, inputs={"reference": reference}, params=params, max_pixels=max_pixels)
    m, params, max_pixels = job.method, job.params, job.max_pixels
    if video:
        from tinct.video import VideoJob

        VideoJob(m, params, **video).check() if m.kind == "colorize" else None
    if scheduler is None:
        params = network_threads(m, params)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ParameterError(f"OUT_DIR: {out_dir} exists and is not a folder")
    pairs = find_inputs(list(inputs), out_dir)
    outputs = output_paths(pairs, out_dir, m.name, suffix)
    written: list[dict] = []
    skipped: list[dict] = []
    failed: list[dict] = []
    todo = []
    for (src, _), dst in zip(pairs, outputs):
        if dst.exists() and not overwrite:
            skipped.append({"input": str(src), "output": str(dst), "status": "skipped"})
        else:
            todo.append((src, dst))
    spec = {"method": m.name, "params": params, "reference": str(Path(reference).resolve()) if reference else None,
            "post": post, "max_pixels": max_pixels, "overwrite": overwrite, "plugins": tuple(plugins),
            "video": dict(video or {})}
    seen_workers: set[int] = set()
    if todo:
        out_dir.mkdir(parents=True, exist_ok=True)
        client, cluster = _client(scheduler, workers, threads)
        try:
            written, late_skips, failed = _collect(client, todo, spec, progress, on_result, seen_workers, m.name)
            skipped += late_skips
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
        _remove_stale_temps([dst for _, dst in todo])
    seconds = time.perf_counter() - start
    return {
        "method": m.name, "written": written, "skipped": skipped, "failed": failed,
        "workers": sorted(seen_workers), "seconds": round(seconds, 3),
        "files_per_second": round(len(written) / seconds, 3) if seconds > 0 else None,
    }


TASKS_PER_SLOT = 4  # tasks per worker thread: enough to balance the load, few enough that scheduling is cheap
MAX_CHUNK = 16  # files per task at most


def plan_tasks(todo: list, slots: int) -> list[list]:
    """Group (src, dst) pairs into tasks: images in chunks, about ``TASKS_PER_SLOT`` tasks per worker thread,
    each video on its own (one video is already a long task)."""
    from tinct.video.io import VIDEO_SUFFIXES

    videos = [[item] for item in todo if Path(item[0]).suffix.lower() in VIDEO_SUFFIXES]
    images = [item for item in todo if Path(item[0]).suffix.lower() not in VIDEO_SUFFIXES]
    size = max(1, min(MAX_CHUNK, -(-len(images) // max(1, slots * TASKS_PER_SLOT))))
    return videos + [images[i:i + size] for i in range(0, len(images), size)]


def _collect(client, todo, spec, progress, on_result, seen_workers, name):
    from distributed import as_completed

    from tinct.apps.batch.tasks import process_files

    token = os.urandom(4).hex()
    slots = max(1, sum(client.nthreads().values()))
    futures = {}
    for i, chunk in enumerate(plan_tasks(todo, slots)):
        items = [(str(src), str(dst)) for src, dst in chunk]
        fut = client.submit(process_files, items, spec, key=f"tinct-{name}-{token}-{i}", pure=False)
        futures[fut] = chunk
    bar = None
    if progress:
        import sys

        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc=name, unit="file", file=sys.stderr)
    written, skipped, failed = [], [], []
    try:
        for fut in as_completed(list(futures)):
            chunk = futures[fut]
            try:
                results = fut.result()
            except Exception as exc:  # KilledWorker after repeated crashes, lost scheduler, ...
                why = f"task failed on the cluster ({type(exc).__name__}: {' '.join(str(exc).split())})"
                results = [{"input": str(src), "output": str(dst), "status": "failed", "error": f"{src}: {why}"}
                           for src, dst in chunk]
            for res in results:
                if res.get("fatal") == "MissingWeightsError":
                    client.cancel(list(futures))
                    raise MissingWeightsError(res["error"])
                if "worker" in res:
                    seen_workers.add(res["worker"])
                {"failed": failed, "skipped": skipped}.get(res["status"], written).append(res)
                if on_result is not None:
                    on_result(res)
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return written, skipped, failed
