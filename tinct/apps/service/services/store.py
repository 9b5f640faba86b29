"""Job state in SQLite (WAL) and job files on disk, so that a restart loses nothing and runs nothing twice.

Layout under the data directory::

    jobs.sqlite3            one row per job (state, progress, timings, error, attempts, owner, lease)
                            and one row per run of a job (``runs``: who ran it, when, how it ended)
    jobs/<id>/              the uploads (``image.upload``, ``reference.upload``, ...) and ``result.png``
    tmp/                    uploads being received; moved into ``jobs/`` in one rename

A job directory is complete before its row is inserted, and a result file is written
atomically before the row says ``done``, so every row points at complete files. Job ids are
``secrets.token_urlsafe(16)`` (128 random bits) and are checked against :data:`ID_PATTERN`
before they are ever joined to a path.

Leases
------
Claiming a job (queued -> running) gives it a *lease*: a random token plus the identity of the
process that runs it (host, pid and the process's start time, so a reused pid is not mistaken
for it) and an expiry. The holder renews the lease while it runs (:meth:`JobStore.renew`, every
:data:`RENEW_S`); every later write about the run (:meth:`finish`, :meth:`fail`,
:meth:`requeue`) names the lease and changes nothing if the lease is no longer the job's. A
restarted server (:meth:`recover`) and the janitor (:meth:`reap`) take a running job back only
when its holder is gone: a process of this host that is not alive any more, or a lease not
renewed within :data:`LEASE_S` where the holder cannot be checked. So a worker that survived its
server keeps its job, and a job is never run by two processes at once.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22}$")
"""What ``secrets.token_urlsafe(16)`` produces: 22 URL-safe base64 characters."""

STATES = ("queued", "running", "done", "failed", "cancelled")
FINAL_STATES = ("done", "failed", "cancelled")
RESULT_NAME = "result.png"
PROGRESS_NAME = "progress.json"

LEASE_S = 15.0
"""A lease not renewed for this long is dead (used where the holder's process cannot be checked)."""
RENEW_S = 1.0
"""How often the holder of a lease renews it."""

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
CREATE TABLE IF NOT EXISTS runs (
    job_id TEXT NOT NULL,
    lease TEXT NOT NULL,
    host TEXT,
    pid INTEGER,
    instance TEXT,
    started REAL NOT NULL,
    ended REAL,
    outcome TEXT
);
CREATE INDEX IF NOT EXISTS runs_job ON runs (job_id);
"""

#: Columns added after the first release, with their definitions (added to an older database on open).
_ADDED_COLUMNS = {
    "owner": "TEXT NOT NULL DEFAULT ''",
    "lease": "TEXT",
    "lease_host": "TEXT",
    "lease_pid": "INTEGER",
    "lease_start": "TEXT",
    "lease_instance": "TEXT",
    "lease_until": "REAL",
    "bytes": "INTEGER NOT NULL DEFAULT 0",
}


def new_job_id() -> str:
    """A random, unguessable job id (128 bits)."""
    return secrets.token_urlsafe(16)


def valid_id(job_id: str) -> bool:
    return isinstance(job_id, str) and ID_PATTERN.match(job_id) is not None


HOST = socket.gethostname()


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (Linux: field 22 of ``/proc/PID/stat``), or None where unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
        return stat.rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return None


def holder_alive(host: str | None, pid: int | None, start: str | None) -> bool | None:
    """Whether the process that holds a lease still exists: True, False, or None (another host: cannot tell)."""
    if host != HOST or not pid:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    if start is not None:
        now = process_start(pid)
        if now is not None and now != start:
            return False  # the pid was reused by another process
        if now is None and os.path.isdir("/proc/self"):
            return False
    try:  # a zombie (exited, not yet reaped by its parent) runs nothing
        with open(f"/proc/{pid}/stat", "rb") as f:
            if f.read().rpartition(b")")[2].split()[0] in (b"Z", b"X"):
                return False
    except OSError:
        pass
    return True


@dataclass(frozen=True)
class Holder:
    """Who runs a job: the server ``instance`` and the process (``pid`` on ``host``, started at ``start``)."""

    instance: str
    pid: int
    start: str | None = None
    host: str = HOST

    @classmethod
    def of(cls, instance: str, pid: int | None = None) -> Holder:
        pid = os.getpid() if pid is None else pid
        return cls(instance, pid, process_start(pid))


def dir_bytes(path: Path) -> int:
    """Bytes the files directly in ``path`` take (job directories are flat)."""
    total = 0
    try:
        for entry in os.scandir(path):
            try:
                if entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    except OSError:
        return 0
    return total


class JobStore:
    """SQLite-backed job table plus the job directories.

    One connection guarded by a lock per process: every statement is short, and transactions
    (``BEGIN IMMEDIATE``) keep claims atomic across threads and across the worker processes,
    which open their own store on the same database.

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
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.executescript(_SCHEMA)
            have = {r["name"] for r in self._db.execute("PRAGMA table_info(jobs)")}
            for name, decl in _ADDED_COLUMNS.items():
                if name not in have:
                    try:
                        self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {decl}")
                    except sqlite3.OperationalError:  # another process added it meanwhile
                        pass
            self._db.execute("CREATE INDEX IF NOT EXISTS jobs_owner_state ON jobs (owner, state)")

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

    # ------------------------------------------------------------------ transactions
    def _transaction(self, body):
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                out = body()
                self._db.execute("COMMIT")
                return out
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # ------------------------------------------------------------------ rows
    def create(self, job_id: str, staged: Path, *, method: str, params: dict, post: str | None,
               inputs: list[str], name: str, width: int, height: int, owner: str = "") -> dict:
        """Move the staged upload directory into place, then insert the queued row."""
        target = self.job_dir(job_id)
        size = dir_bytes(staged)
        os.replace(staged, target)
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs (id, method, params, post, inputs, name, width, height, state, created, owner, bytes)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
                (job_id, method, json.dumps(params), post, json.dumps(inputs), name, width, height, now, owner, size),
            )
        return self.get(job_id)

    def get(self, job_id: str, owner: str | None = None) -> dict | None:
        """The job's row, or None; with ``owner``, None too when the job belongs to another owner."""
        if not valid_id(job_id):
            return None
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None or (owner is not None and not secrets.compare_digest(row["owner"], owner)):
            return None
        return _row(row)

    def claim(self, holder: Holder | None = None) -> dict | None:
        """Take the oldest queued job: state running, one more attempt, progress reset, a fresh lease.

        The returned row carries the lease token under ``'lease'``; ``holder`` (default: this
        process, no instance) is recorded with it and in the ``runs`` table.
        """
        holder = holder or Holder.of("")
        lease = secrets.token_hex(12)

        def body():
            row = self._db.execute(
                "SELECT id FROM jobs WHERE state = 'queued' ORDER BY created, rowid LIMIT 1").fetchone()
            if row is None:
                return None
            now = time.time()
            self._db.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, started = ?, progress = 0.02,"
                " stage = 'starting', error = NULL, lease = ?, lease_host = ?, lease_pid = ?, lease_start = ?,"
                " lease_instance = ?, lease_until = ? WHERE id = ?",
                (now, lease, holder.host, holder.pid, holder.start, holder.instance, now + LEASE_S, row["id"]))
            self._db.execute("INSERT INTO runs (job_id, lease, host, pid, instance, started) VALUES (?, ?, ?, ?, ?, ?)",
                             (row["id"], lease, holder.host, holder.pid, holder.instance, now))
            return row["id"]

        job_id = self._transaction(body)
        return self.get(job_id) if job_id is not None else None

    def renew(self, job_id: str, lease: str) -> bool:
        """Extend a running job's lease; False when the lease is not the job's any more (cancelled, taken back)."""
        with self._lock:
            cur = self._db.execute("UPDATE jobs SET lease_until = ? WHERE id = ? AND state = 'running' AND lease = ?",
                                   (time.time() + LEASE_S, job_id, lease))
        return cur.rowcount > 0

    def holds(self, job_id: str, lease: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM jobs WHERE id = ? AND state = 'running' AND lease = ?",
                                   (job_id, lease)).fetchone()
        return row is not None

    def _end_run(self, job_id: str, lease: str | None, outcome: str) -> None:
        if lease is not None:
            self._db.execute("UPDATE runs SET ended = ?, outcome = ? WHERE job_id = ? AND lease = ? AND ended IS NULL",
                             (time.time(), outcome, job_id, lease))

    def _guard(self, lease: str | None) -> tuple[str, tuple]:
        """The WHERE clause of a write about a run: the lease, or (no lease given) any running or queued row."""
        if lease is None:
            return "state IN ('queued', 'running')", ()
        return "state = 'running' AND lease = ?", (lease,)

    def finish(self, job_id: str, timings: dict[str, float], *, lease: str | None = None) -> bool:
        """Mark a job done (only while ``lease`` holds it, when given). True if the row changed."""
        where, args = self._guard(lease)
        size = dir_bytes(self.job_dir(job_id))

        def body():
            cur = self._db.execute(
                "UPDATE jobs SET state = 'done', progress = 1.0, stage = 'done', timings = ?, finished = ?,"
                f" lease = NULL, lease_until = NULL, bytes = ? WHERE id = ? AND {where}",
                (json.dumps(timings), time.time(), size, job_id, *args))
            if cur.rowcount:
                self._end_run(job_id, lease, "done")
            return cur.rowcount > 0

        return self._transaction(body)

    def fail(self, job_id: str, error: str, timings: dict[str, float] | None = None, *,
             lease: str | None = None, outcome: str = "failed") -> bool:
        """Mark a job failed with a one-line reason (only while ``lease`` holds it, when given)."""
        where, args = self._guard(lease)

        def body():
            cur = self._db.execute(
                "UPDATE jobs SET state = 'failed', stage = 'failed', error = ?, timings = ?, finished = ?,"
                f" lease = NULL, lease_until = NULL WHERE id = ? AND {where}",
                (" ".join(str(error).split()), json.dumps(timings or {}), time.time(), job_id, *args))
            if cur.rowcount:
                self._end_run(job_id, lease, outcome)
            return cur.rowcount > 0

        return self._transaction(body)

    def requeue(self, job_id: str, *, count_attempt: bool = True, lease: str | None = None,
                outcome: str = "interrupted") -> bool:
        """Put a running job back in the queue (after a worker crash, or a clean shutdown)."""
        guard = "state = 'running'" + (" AND lease = ?" if lease is not None else "")

        def body():
            cur = self._db.execute(
                "UPDATE jobs SET state = 'queued', progress = 0, stage = 'queued', started = NULL,"
                f" attempts = attempts - ?, lease = NULL, lease_until = NULL WHERE id = ? AND {guard}",
                (0 if count_attempt else 1, job_id, *((lease,) if lease is not None else ())))
            if cur.rowcount:
                self._end_run(job_id, lease, outcome)
            return cur.rowcount > 0

        return self._transaction(body)

    def release(self, job_id: str, lease: str, max_attempts: int, why: str) -> str | None:
        """The holder of ``lease`` stopped without finishing: queue the job again, or fail it on its last attempt.

        Returns ``'requeued'``, ``'failed'``, or None when the lease was not the job's any more.
        """
        with self._lock:
            row = self._db.execute("SELECT attempts FROM jobs WHERE id = ? AND state = 'running' AND lease = ?",
                                   (job_id, lease)).fetchone()
            if row is None:
                return None
            if row["attempts"] < max_attempts:
                return "requeued" if self.requeue(job_id, lease=lease, outcome="died") else None
            ok = self.fail(job_id, why.format(attempts=row["attempts"]), lease=lease, outcome="died")
            return "failed" if ok else None

    def cancel(self, job_id: str, owner: str | None = None) -> dict | None:
        """Cancel a queued or running job: state ``cancelled``, lease dropped.

        Returns the row as it was before (its ``lease`` names the run to stop), or None when there
        is no such job (for ``owner``). A job that already ended is returned unchanged.
        """

        def body():
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or (owner is not None and not secrets.compare_digest(row["owner"], owner)):
                return None
            if row["state"] in ("queued", "running"):
                self._db.execute(
                    "UPDATE jobs SET state = 'cancelled', stage = 'cancelled', error = 'cancelled by the client',"
                    " finished = ?, lease = NULL, lease_until = NULL WHERE id = ?", (time.time(), job_id))
                self._end_run(job_id, row["lease"], "cancelled")
            return _row(row)

        if not valid_id(job_id):
            return None
        return self._transaction(body)

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

    def active_of(self, owner: str) -> int:
        """Jobs of ``owner`` queued or running."""
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) AS n FROM jobs WHERE owner = ? AND state IN ('queued', 'running')",
                                   (owner,)).fetchone()
        return int(row["n"])

    def bytes_used(self) -> int:
        """Bytes the jobs' files take, as recorded when each was created and finished."""
        with self._lock:
            row = self._db.execute("SELECT COALESCE(SUM(bytes), 0) AS n FROM jobs").fetchone()
        return int(row["n"])

    def runs(self, job_id: str | None = None) -> list[dict]:
        """The run log (every start of a job: lease, host, pid, instance, started, ended, outcome)."""
        with self._lock:
            if job_id is None:
                rows = self._db.execute("SELECT * FROM runs ORDER BY started").fetchall()
            else:
                rows = self._db.execute("SELECT * FROM runs WHERE job_id = ? ORDER BY started", (job_id,)).fetchall()
        return [dict(r) for r in rows]

    # ------------------------------------------------------------------ restart, orphans and expiry
    def reap(self, instance: str, max_attempts: int, now: float | None = None) -> dict[str, list[str]]:
        """Take back running jobs whose holder is gone; leave those of ``instance`` and of live holders.

        A holder is gone when it is a process of this host that no longer exists (or a pid now used
        by another process, or this very process under another instance: a server that was
        replaced), or, where that cannot be checked, when its lease was not renewed in time. Each
        job taken back is queued again if it has been started fewer than ``max_attempts`` times,
        else marked failed with the reason. Returns the ids per outcome.
        """
        now = time.time() if now is None else now
        with self._lock:
            rows = self._db.execute(
                "SELECT id, attempts, lease, lease_host, lease_pid, lease_start, lease_instance, lease_until"
                " FROM jobs WHERE state = 'running'").fetchall()
        out: dict[str, list[str]] = {"requeued": [], "failed": []}
        me = os.getpid()
        for r in rows:
            if r["lease"] is not None and r["lease_instance"] == instance and instance:
                continue  # ours: our own workers watch it
            if r["lease"] is None:
                gone = True  # a row from before leases, or a half-written one
            elif r["lease_pid"] == me and r["lease_host"] == HOST:
                gone = r["lease_instance"] != instance  # a former server in this process
            else:
                alive = holder_alive(r["lease_host"], r["lease_pid"], r["lease_start"])
                gone = alive is False or (alive is None and (r["lease_until"] or 0) < now)
            if not gone:
                continue
            why = "interrupted by a server restart on each of its {attempts} attempts; not retried again"
            if r["lease"] is None:
                with self._lock:
                    self._db.execute("UPDATE jobs SET lease = ? WHERE id = ? AND state = 'running' AND lease IS NULL",
                                     (r["lease"] or "legacy", r["id"]))
                lease = "legacy"
            else:
                lease = r["lease"]
            result = self.release(r["id"], lease, max_attempts, why)
            if result is not None:
                out[result].append(r["id"])
        return out

    def recover(self, max_attempts: int, instance: str = "") -> dict[str, list[str]]:
        """After a restart: jobs left ``running`` by a server that is gone are queued again or failed.

        Jobs still held by a live process (a worker that outlived its server) are left alone until
        it is gone (:meth:`reap`). Queued jobs simply stay queued. Returns the ids per outcome.
        """
        return self.reap(instance or secrets.token_hex(8), max_attempts)

    def expire(self, ttl_seconds: float, now: float | None = None) -> list[str]:
        """Delete jobs (rows and files) that ended more than ``ttl_seconds`` ago.

        Jobs still queued or running are kept whatever their age. Leftover staging
        directories and job directories without a row (a crash between the rename and
        the insert) older than the TTL are removed too, and so is the run log of jobs gone.
        """
        now = time.time() if now is None else now
        cutoff = now - ttl_seconds
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM jobs WHERE state IN ('done', 'failed', 'cancelled') AND COALESCE(finished, created) < ?",
                (cutoff,)).fetchall()
        ids = [r["id"] for r in rows]
        for job_id in ids:
            self.delete(job_id)
        with self._lock:
            self._db.execute("DELETE FROM runs WHERE started < ? AND job_id NOT IN (SELECT id FROM jobs)", (cutoff,))
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
