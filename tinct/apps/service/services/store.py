"""Job state in SQLite (WAL) and job files on disk, so that a restart loses nothing.

Layout under the data directory::

    jobs.sqlite3            one row per job (state, progress, timings, error, attempts)
    jobs/<id>/              the uploads (``image.upload``, ``reference.upload``, ...) and ``result.png``
    tmp/                    uploads being received; moved into ``jobs/`` in one rename

A job directory is complete before its row is inserted, and a result file is written
atomically (:func:`tinct.io.write_image`) before the row says ``done``, so every row points at
complete files. Job ids are ``secrets.token_urlsafe(16)`` (128 random bits) and are checked
against :data:`ID_PATTERN` before they are ever joined to a path.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22}$")
"""What ``secrets.token_urlsafe(16)`` produces: 22 URL-safe base64 characters."""

STATES = ("queued", "running", "done", "failed")
RESULT_NAME = "result.png"
PROGRESS_NAME = "progress.json"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    method TEXT NOT NULL,
    params TEXT NOT NULL,
    post TEXT,
    inputs TEXT NOT NULL,
    name TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    state TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    stage TEXT NOT NULL DEFAULT 'queued',
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    timings TEXT,
    created REAL NOT NULL,
    started REAL,
    finished REAL
);
CREATE INDEX IF NOT EXISTS jobs_state_created ON jobs (state, created);
"""


def new_job_id() -> str:
    """A random, unguessable job id (128 bits)."""
    return secrets.token_urlsafe(16)


def valid_id(job_id: str) -> bool:
    return isinstance(job_id, str) and ID_PATTERN.match(job_id) is not None


class JobStore:
    """SQLite-backed job table plus the job directories.

    One connection guarded by a lock: every statement is short, and the lock keeps
    claims (queued -> running) atomic across the worker threads.

    Parameters
    ----------
    data_dir : Path
        Created if missing.
    """

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.jobs_dir = self.data_dir / "jobs"
        self.tmp_dir = self.data_dir / "tmp"
        for d in (self.data_dir, self.jobs_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.data_dir / "jobs.sqlite3", timeout=30, isolation_level=None,
                                   check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)

    # ------------------------------------------------------------------ paths
    def job_dir(self, job_id: str) -> Path:
        """The directory of a job; ``ValueError`` for anything that is not a well-formed id."""
        if not valid_id(job_id):
            raise ValueError(f"malformed job id {job_id!r}")
        path = self.jobs_dir / job_id
        if path.parent != self.jobs_dir:  # belt and braces: the pattern already excludes separators and dots
            raise ValueError(f"malformed job id {job_id!r}")
        return path

    def new_tmp_dir(self) -> Path:
        path = self.tmp_dir / secrets.token_hex(12)
        path.mkdir()
        return path

    # ------------------------------------------------------------------ rows
    def create(self, job_id: str, staged: Path, *, method: str, params: dict, post: str | None,
               inputs: list[str], name: str, width: int, height: int) -> dict:
        """Move the staged upload directory into place, then insert the queued row."""
        target = self.job_dir(job_id)
        os.replace(staged, target)
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs (id, method, params, post, inputs, name, width, height, state, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?)",
                (job_id, method, json.dumps(params), post, json.dumps(inputs), name, width, height, now),
            )
        return self.get(job_id)

    def get(self, job_id: str) -> dict | None:
        if not valid_id(job_id):
            return None
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _row(row) if row is not None else None

    def claim(self) -> dict | None:
        """Take the oldest queued job: state running, one more attempt, progress reset."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT id FROM jobs WHERE state = 'queued' ORDER BY created, rowid LIMIT 1").fetchone()
                if row is None:
                    self._db.execute("COMMIT")
                    return None
                self._db.execute(
                    "UPDATE jobs SET state = 'running', attempts = attempts + 1, started = ?, progress = 0.02,"
                    " stage = 'starting', error = NULL WHERE id = ?", (time.time(), row["id"]))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return self.get(row["id"])

    def finish(self, job_id: str, timings: dict[str, float]) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET state = 'done', progress = 1.0, stage = 'done', timings = ?, finished = ?"
                " WHERE id = ?", (json.dumps(timings), time.time(), job_id))

    def fail(self, job_id: str, error: str, timings: dict[str, float] | None = None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET state = 'failed', stage = 'failed', error = ?, timings = ?, finished = ?"
                " WHERE id = ?", (" ".join(str(error).split()), json.dumps(timings or {}), time.time(), job_id))

    def requeue(self, job_id: str, *, count_attempt: bool = True) -> None:
        """Put a running job back in the queue (after a worker crash, or a clean shutdown)."""
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET state = 'queued', progress = 0, stage = 'queued', started = NULL,"
                " attempts = attempts - ? WHERE id = ? AND state = 'running'", (0 if count_attempt else 1, job_id))

    def delete(self, job_id: str) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
        return cur.rowcount > 0

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state").fetchall()
        out = {s: 0 for s in STATES}
        out.update({r["state"]: r["n"] for r in rows})
        return out

    # ------------------------------------------------------------------ restart and expiry
    def recover(self, max_attempts: int) -> dict[str, list[str]]:
        """After a restart: jobs left ``running`` were interrupted.

        Each is queued again if it has been started fewer than ``max_attempts`` times, else marked
        failed with the reason. Queued jobs simply stay queued. Returns the ids per outcome.
        """
        with self._lock:
            rows = self._db.execute("SELECT id, attempts FROM jobs WHERE state = 'running'").fetchall()
        out: dict[str, list[str]] = {"requeued": [], "failed": []}
        for r in rows:
            if r["attempts"] < max_attempts:
                self.requeue(r["id"])
                out["requeued"].append(r["id"])
            else:
                self.fail(r["id"], f"interrupted by a server restart on each of its {r['attempts']} attempts; "
                          "not retried again")
                out["failed"].append(r["id"])
        return out

    def expire(self, ttl_seconds: float, now: float | None = None) -> list[str]:
        """Delete jobs (rows and files) that finished more than ``ttl_seconds`` ago.

        Jobs still queued or running are kept whatever their age. Leftover staging
        directories and job directories without a row (a crash between the rename and
        the insert) older than the TTL are removed too.
        """
        now = time.time() if now is None else now
        cutoff = now - ttl_seconds
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM jobs WHERE state IN ('done', 'failed') AND COALESCE(finished, created) < ?",
                (cutoff,)).fetchall()
        ids = [r["id"] for r in rows]
        for job_id in ids:
            self.delete(job_id)
        for folder, is_job in ((self.tmp_dir, False), (self.jobs_dir, True)):
            for entry in folder.iterdir():
                try:
                    old = entry.stat().st_mtime < cutoff
                except FileNotFoundError:
                    continue
                if old and (not is_job or (valid_id(entry.name) and self.get(entry.name) is None)):
                    shutil.rmtree(entry, ignore_errors=True)
        return ids

    def close(self) -> None:
        with self._lock:
            self._db.close()


def read_progress(job_dir: Path) -> tuple[float, str] | None:
    """The progress a worker last reported for a running job (``progress.json``), if any."""
    try:
        data = json.loads((job_dir / PROGRESS_NAME).read_text())
        return float(data["progress"]), str(data["stage"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _row(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    out["params"] = json.loads(out["params"])
    out["inputs"] = json.loads(out["inputs"])
    out["timings"] = json.loads(out["timings"]) if out["timings"] else {}
    return out
