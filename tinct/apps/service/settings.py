"""Settings of the web service: where jobs live, limits, workers, quotas and access control."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from tinct.errors import ParameterError

#: Environment variables ``tinct serve`` reads its API tokens from (several separated by commas or spaces).
TOKEN_ENV = "TINCT_TOKEN"
TOKEN_FILE_ENV = "TINCT_TOKEN_FILE"

_TOKEN_RE = re.compile(r"^[\x21-\x7e]{1,256}$")  # printable ASCII, no spaces: fits a Bearer header as it is


def default_data_dir() -> Path:
    """``$TINCT_SERVICE_DIR``, else ``$XDG_DATA_HOME/tinct/service`` (``~/.local/share/tinct/service``)."""
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


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover - macOS, Windows


def total_memory_mb() -> int | None:
    """Physical memory in MB (Linux, macOS); None where unknown."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - Windows
        return None


def default_caps(workers: int) -> dict[str, float]:
    """Upper bounds on costly parameters for web clients, sized for this machine.

    The keys are parameter names, whatever the method: the cost of each grows steeply with its value
    (``input_size`` quadratically in CNN memory and time, ``threads`` takes cores from other jobs,
    ``size``/``work_size`` are the working resolution of exemplar and patch methods, ``samples`` the
    points a fit draws, ``segments`` the superpixels). The registry's own bounds still apply beneath.
    """
    return {
        "input_size": 1024,
        "threads": max(1, available_cpus() // max(1, workers)),
        "size": 1024,
        "work_size": 1024,
        "segments": 5000,
        "samples": 1_000_000,
        "proxy_megapixels": 1.5,
        "iterations": 200,
        "lut_size": 65,
        "k": 64,
        "neighbors": 64,
        "n_components": 16,
    }


def parse_tokens(text: str, where: str) -> tuple[str, ...]:
    """Tokens from a file or an environment variable: one or more per line, separated by commas or spaces.

    Blank lines and lines starting with ``#`` are ignored. Each token is printable ASCII without
    spaces (what a ``Bearer`` header can carry), at most 256 characters.
    """
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        for tok in re.split(r"[\s,]+", line):
            if not tok:
                continue
            if not _TOKEN_RE.match(tok):
                raise ParameterError(f"{where}: a token must be printable ASCII without spaces, at most 256 characters")
            out.append(tok)
    return tuple(dict.fromkeys(out))


def read_token_file(path) -> tuple[str, ...]:
    """The tokens of ``--token-file`` (see :func:`parse_tokens`); refuses an empty file."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ParameterError(f"token-file: cannot read {p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ParameterError(f"token-file: {p} is not UTF-8 text") from None
    tokens = parse_tokens(text, "token-file")
    if not tokens:
        raise ParameterError(f"token-file: {p} holds no token")
    return tokens


def parse_cap(text: str) -> tuple[str, float]:
    """``NAME=VALUE`` or ``METHOD.NAME=VALUE`` of ``--cap``."""
    name, sep, value = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not re.fullmatch(r"([a-z0-9_]+\.)?[a-z_][a-z0-9_]*", name):
        raise ParameterError(f"cap: expected NAME=VALUE or METHOD.NAME=VALUE, got {text!r}")
    try:
        number = float(value)
    except ValueError:
        raise ParameterError(f"cap: {name}: expected a number, got {value!r}") from None
    if not number >= 0 or number == float("inf"):
        raise ParameterError(f"cap: {name}: expected a number >= 0, got {value!r}")
    return name, number


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
        One API token (kept for compatibility; ``tokens`` holds several).
    tokens : tuple of str
        With any token set, every ``/api`` route except ``/api/health`` and ``/api/ready`` needs
        ``Authorization: Bearer <token>``, and a job belongs to the token that submitted it: another
        token gets 404 for it.
    workers : int
        Jobs run at the same time.
    executor : {'process', 'thread'}
        Run each job in a worker process of its own slot (isolated: a crash, a timeout or a cancel
        ends that process alone; the default) or in threads of the server (starts instantly; for
        tests: a thread cannot be interrupted, so cancel and timeout only abandon it).
    max_upload_mb : float
        Largest request body (all files of one job together), refused while streaming.
    max_pixels : int
        Largest image (width * height), checked from the file header before decoding.
    job_ttl_hours : float
        Jobs (state and files) are deleted this long after they finished (or were created, if
        they never ran).
    max_queued : int
        Submissions are refused with 503 while this many jobs wait.
    max_queued_per_client : int
        Submissions from one client (token, else address) are refused with 429 while it has this
        many jobs queued or running. 0: no per-client limit.
    max_attempts : int
        A job whose worker died (killed, out of memory, a crash in native code) or whose server
        was restarted is run again until it has been started this many times; then it is marked
        failed with the reason.
    job_timeout_s : float
        A job running longer than this is stopped (its worker process is killed and replaced) and
        marked failed. 0: no limit.
    job_memory_mb : int or None
        Memory limit of each worker process (``RLIMIT_DATA`` on Linux: the memory it allocates, heap
        and anonymous maps; ``RLIMIT_AS`` elsewhere): a job that needs more fails with "out of memory"
        instead of taking the machine down. None: three quarters of the physical memory shared
        between the workers (at least 2048); 0: no limit.
    caps : mapping of str to float
        Raise or lower the caps on costly parameters (:func:`default_caps`); a key ``METHOD.NAME``
        applies to one method only.
    rate_limit : float
        Submissions per minute one client may make (bursts of half a minute's worth, at least 10);
        over it, 429 with ``Retry-After``. 0: no limit.
    max_uploads : int
        Uploads received at the same time; more wait up to 10 s for a turn, then get 503.
    disk_quota_mb : float
        Most the job files under ``data_dir`` may take; submissions beyond it get 507. 0: none.
    min_free_mb : float
        Submissions get 507 while the file system of ``data_dir`` has less free space than this.
    plugins : tuple of str
        Modules to import (in the server and in every worker) whose import registers more methods
        (:func:`tinct.registry.load_plugin`), besides installed entry-point plugins.
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
    tokens: tuple[str, ...] = ()
    workers: int = 2
    executor: str = "process"
    max_upload_mb: float = 50.0
    max_pixels: int = 50_000_000
    job_ttl_hours: float = 24.0
    max_queued: int = 1000
    max_queued_per_client: int = 200
    max_attempts: int = 2
    job_timeout_s: float = 300.0
    job_memory_mb: int | None = None
    caps: tuple[tuple[str, float], ...] = ()
    rate_limit: float = 120.0
    max_uploads: int = 8
    disk_quota_mb: float = 10240.0
    min_free_mb: float = 500.0
    plugins: tuple[str, ...] = ()
    allow_path_params: bool = False
    allowed_hosts: tuple[str, ...] | None = None

    def __post_init__(self):
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser())
        caps = self.caps
        if isinstance(caps, Mapping):
            caps = tuple(caps.items())
        object.__setattr__(self, "caps", tuple((str(k), float(v)) for k, v in caps))
        tokens = (self.tokens,) if isinstance(self.tokens, str) else tuple(self.tokens or ())
        if self.token is not None:
            tokens = (self.token, *tokens)
        object.__setattr__(self, "tokens", tuple(dict.fromkeys(tokens)))
        object.__setattr__(self, "plugins", tuple(self.plugins))

        def number(v) -> bool:
            return isinstance(v, int | float) and not isinstance(v, bool) and v == v

        checks = [
            ("workers", isinstance(self.workers, int) and 1 <= self.workers <= 256, "an integer in 1..256"),
            ("port", isinstance(self.port, int) and 0 <= self.port <= 65535, "an integer in 0..65535"),
            ("max_upload_mb", number(self.max_upload_mb) and self.max_upload_mb > 0, "a positive number"),
            ("max_pixels", isinstance(self.max_pixels, int) and self.max_pixels > 0, "a positive integer"),
            ("job_ttl_hours", number(self.job_ttl_hours) and self.job_ttl_hours > 0, "a positive number of hours"),
            ("max_queued", isinstance(self.max_queued, int) and self.max_queued > 0, "a positive integer"),
            ("max_queued_per_client", isinstance(self.max_queued_per_client, int) and self.max_queued_per_client >= 0,
             "an integer >= 0"),
            ("max_attempts", isinstance(self.max_attempts, int) and 1 <= self.max_attempts <= 100,
             "an integer in 1..100"),
            ("job_timeout_s", number(self.job_timeout_s) and self.job_timeout_s >= 0, "a number of seconds >= 0"),
            ("job_memory_mb", self.job_memory_mb is None or (isinstance(self.job_memory_mb, int)
                                                            and (self.job_memory_mb == 0 or self.job_memory_mb >= 256)),
             "0 (no limit) or an integer >= 256"),
            ("rate_limit", number(self.rate_limit) and self.rate_limit >= 0, "a number >= 0"),
            ("max_uploads", isinstance(self.max_uploads, int) and self.max_uploads >= 1, "an integer >= 1"),
            ("disk_quota_mb", number(self.disk_quota_mb) and self.disk_quota_mb >= 0, "a number >= 0"),
            ("min_free_mb", number(self.min_free_mb) and self.min_free_mb >= 0, "a number >= 0"),
            ("executor", self.executor in ("process", "thread"), "'process' or 'thread'"),
        ]
        for name, ok, what in checks:
            if not ok:
                raise ParameterError(f"{name}: expected {what}, got {getattr(self, name)!r}")
        for tok in self.tokens:
            if not isinstance(tok, str) or not _TOKEN_RE.match(tok):
                raise ParameterError("token: must be non-empty printable ASCII and contain no whitespace")
        for name, value in self.caps:
            parse_cap(f"{name}={value}")

    @property
    def auth(self) -> bool:
        """Whether the API needs a token."""
        return bool(self.tokens)

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

    @property
    def memory_limit_mb(self) -> int:
        """The worker address-space limit in force, in MB (0: none)."""
        if self.job_memory_mb is not None:
            return self.job_memory_mb
        total = total_memory_mb()
        if total is None:
            return 0
        return max(2048, int(total * 0.75 / self.workers))

    def cap_table(self) -> dict[str, float]:
        """Every cap in force: :func:`default_caps` with ``caps`` applied (``METHOD.NAME`` keys kept as they are)."""
        table = default_caps(self.workers)
        table.update(dict(self.caps))
        return table

    def cap_for(self, method: str, name: str) -> float | None:
        """The cap on parameter ``name`` of ``method`` (a per-method cap wins), or None."""
        table = self.cap_table()
        return table.get(f"{method}.{name}", table.get(name))

    def replace(self, **changes) -> Settings:
        """A copy with some fields changed."""
        return replace(self, **changes)


def load_plugins(modules: Iterable[str]) -> None:
    """Import plugin modules (``--plugin``) so that the methods they register are served."""
    if not modules:
        return
    from tinct.registry import load_plugin

    for module in modules:
        load_plugin(module)


def tokens_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Tokens from ``$TINCT_TOKEN`` (one or several) and the file ``$TINCT_TOKEN_FILE`` names."""
    env = os.environ if environ is None else environ
    tokens: list[str] = list(parse_tokens(env.get(TOKEN_ENV, ""), TOKEN_ENV))
    if env.get(TOKEN_FILE_ENV):
        tokens += read_token_file(env[TOKEN_FILE_ENV])
    return tuple(dict.fromkeys(tokens))


def merge_tokens(*groups: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for g in groups for t in g))
