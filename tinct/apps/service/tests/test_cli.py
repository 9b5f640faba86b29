"""``tinct serve`` option parsing: options reach the settings, bad values are one-line errors (exit 2)."""

from __future__ import annotations

import pytest

from tinct.apps.cli import build_parser, main


@pytest.fixture
def no_token_env(monkeypatch):
    monkeypatch.delenv("TINCT_TOKEN", raising=False)
    monkeypatch.delenv("TINCT_TOKEN_FILE", raising=False)


def _serve(monkeypatch, argv):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    code = main(["serve", *argv])
    return code, seen


def test_serve_options_reach_uvicorn(monkeypatch, tmp_path, capsys, no_token_env):
    code, seen = _serve(monkeypatch, [
        "--port", "8123", "--data-dir", str(tmp_path / "jobs"), "--workers", "3", "--max-upload-mb", "7",
        "--max-pixels", "1000000", "--job-ttl-hours", "2", "--token", "abc", "--job-timeout", "30",
        "--cap", "input_size=2048", "--cap", "auto.threads=3", "--max-queued", "50", "--max-queued-per-client", "5",
        "--max-attempts", "3", "--rate-limit", "30", "--max-uploads", "2", "--disk-quota-mb", "100",
        "--min-free-mb", "10", "--job-memory-mb", "4096"])
    assert code == 0
    settings = seen["app"].state.settings
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8123)  # loopback by default
    assert settings.data_dir == tmp_path / "jobs" and settings.workers == 3 and settings.tokens == ("abc",)
    assert settings.max_upload_bytes == 7 * 1024 * 1024 and settings.max_pixels == 1_000_000
    assert settings.job_ttl_seconds == 7200 and settings.executor == "process"
    assert settings.job_timeout_s == 30 and settings.max_attempts == 3 and settings.job_memory_mb == 4096
    assert settings.cap_for("auto", "input_size") == 2048 and settings.cap_for("auto", "threads") == 3
    assert settings.max_queued == 50 and settings.max_queued_per_client == 5 and settings.rate_limit == 30
    assert settings.max_uploads == 2 and settings.disk_quota_mb == 100 and settings.min_free_mb == 10
    err = capsys.readouterr().err
    assert "serving on http://127.0.0.1:8123/" in err
    assert "--token shows the token" in err  # a token on the command line is visible in ps


def test_tokens_from_env_and_files(monkeypatch, tmp_path, capsys, no_token_env):
    f1, f2 = tmp_path / "t1", tmp_path / "t2"
    f1.write_text("# tokens of the team\nalpha-token-1\n\nbeta-token-2, gamma-token-3\n")
    f2.write_text("delta-token-4\n")
    monkeypatch.setenv("TINCT_TOKEN", "env-token-a,env-token-b")
    monkeypatch.setenv("TINCT_TOKEN_FILE", str(f2))
    code, seen = _serve(monkeypatch, ["--data-dir", str(tmp_path / "d"), "--token-file", str(f1)])
    assert code == 0
    assert seen["app"].state.settings.tokens == (
        "env-token-a", "env-token-b", "delta-token-4", "alpha-token-1", "beta-token-2", "gamma-token-3")
    err = capsys.readouterr().err
    assert "6 API tokens" in err and "--token shows" not in err and "alpha-token" not in err


def test_serve_warns_without_token_off_loopback(monkeypatch, tmp_path, capsys, no_token_env):
    assert _serve(monkeypatch, ["--host", "0.0.0.0", "--data-dir", str(tmp_path)])[0] == 0
    assert "without a token" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "start"), [
    (["--workers", "0"], "tinct: error: workers:"),
    (["--cap", "input_size"], "tinct: error: cap: expected NAME=VALUE"),
    (["--cap", "input_size=-1"], "tinct: error: cap: input_size: expected a number >= 0"),
    (["--job-timeout", "-5"], "tinct: error: job_timeout_s:"),
    (["--max-attempts", "0"], "tinct: error: max_attempts:"),
    (["--token-file", "/nonexistent/tokens"], "tinct: error: token-file: cannot read"),
])
def test_serve_bad_values_are_one_line_errors(tmp_path, capsys, argv, start, no_token_env):
    assert main(["serve", "--data-dir", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(start) and err.count("\n") == 1, err


def test_defaults():
    args = build_parser().parse_args(["serve"])
    assert args.port == 8000 and args.host == "127.0.0.1" and args.job_timeout == 300
