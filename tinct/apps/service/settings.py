"""Settings of the web service: where jobs live, limits, workers and access control."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from tinct.errors import ParameterError


def default_data_dir() -> Path:
    """``$TINCT_SERVICE_DIR``, else ``$XDG_DATA_HOME/tinct/apps/service`` (``~/.local/share/tinct/apps/service``)."""
    env = os.environ.get("TINCT_SERVICE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME")
    return (Path(base).expanduser() if base else Path.home() / ".local" / "share") / "tinct" / "service"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Settings:
    """Configuration of one service instance.

    Parameters
    ----------
    data_dir : Path
        Holds ``jobs.sqlite3`` (job state, WAL mode) and ``jobs/<id>/`` (uploads and results).
    host, port : str, int
        Where ``tinct serve`` listens; loopback by default.
    token : str or None
        When set, every ``/api`` route except ``/api/health`` needs ``Authorization: Bearer <token>``.
    workers : int
        Jobs run at the same time.
    executor : {'process', 'thread'}
        Run methods in worker processes (isolated: a crash or leak in a method cannot take the
        server down; true parallelism) or in threads of the server process (starts instantly).
    max_upload_mb : float
        Largest request body (all files of one job together), refused while streaming.
    max_pixels : int
        Largest image (width * height), checked from the file header before decoding.
    job_ttl_hours : float
        Jobs (state and files) are deleted this long after they finished (or were created, if
        they never ran).
    max_queued : int
        Submissions are refused with 503 while this many jobs wait.
    max_attempts : int
        A job interrupted by a restart is run again until it has been started this many times;
        then it is marked failed with the reason.
    allow_path_params : bool
        Parameters that name files on the server (``weights``, ``prototxt``, ``*_path``, ...) and
        string values that look like paths are refused from web clients unless this is True.
    allowed_hosts : tuple of str, optional
        Host names the server answers to (``Host`` header, port ignored). Default: loopback names
        when serving on loopback (a DNS-rebinding guard), any name otherwise.
    """

    data_dir: Path = field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    workers: int = 2
    executor: str = "process"
    max_upload_mb: float = 50.0
    max_pixels: int = 50_000_000
    job_ttl_hours: float = 24.0
    max_queued: int = 1000
    max_attempts: int = 2
    allow_path_params: bool = False
    allowed_hosts: tuple[str, ...] | None = None

    def __post_init__(self):
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser())
        checks = [
            ("workers", isinstance(self.workers, int) and 1 <= self.workers <= 256, "an integer in 1..256"),
            ("port", isinstance(self.port, int) and 0 <= self.port <= 65535, "an integer in 0..65535"),
            ("max_upload_mb", self.max_upload_mb > 0, "a positive number"),
            ("max_pixels", isinstance(self.max_pixels, int) and self.max_pixels > 0, "a positive integer"),
            ("job_ttl_hours", self.job_ttl_hours > 0, "a positive number of hours"),
            ("max_queued", isinstance(self.max_queued, int) and self.max_queued > 0, "a positive integer"),
            ("max_attempts", isinstance(self.max_attempts, int) and self.max_attempts >= 1, "an integer >= 1"),
            ("executor", self.executor in ("process", "thread"), "'process' or 'thread'"),
        ]
        for name, ok, what in checks:
            if not ok:
                raise ParameterError(f"{name}: expected {what}, got {getattr(self, name)!r}")
        if self.token is not None and (not self.token.strip() or any(c.isspace() for c in self.token)):
            raise ParameterError("token: must be non-empty and contain no whitespace")

    @property
    def host_names(self) -> tuple[str, ...] | None:
        """The ``Host`` names accepted (None: any)."""
        if self.allowed_hosts is not None:
            return tuple(self.allowed_hosts)
        return ("127.0.0.1", "localhost", "::1") if is_loopback(self.host) else None

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def job_ttl_seconds(self) -> float:
        return self.job_ttl_hours * 3600.0

    def replace(self, **changes) -> Settings:
        """A copy with some fields changed."""
        return replace(self, **changes)
