"""``tinct serve`` option parsing: options reach the settings, bad values are one-line errors (exit 2)."""

from __future__ import annotations

from tinct.apps.cli import build_parser, main


def test_serve_options_reach_uvicorn(monkeypatch, tmp_path, capsys):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.delenv("TINCT_TOKEN", raising=False)
    code = main(["serve", "--port", "8123", "--data-dir", str(tmp_path / "jobs"), "--workers", "3",
                 "--max-upload-mb", "7", "--max-pixels", "1000000", "--job-ttl-hours", "2", "--token", "abc"])
    assert code == 0
    settings = seen["app"].state.settings
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8123)  # loopback by default
    assert settings.data_dir == tmp_path / "jobs" and settings.workers == 3 and settings.token == "abc"
    assert settings.max_upload_bytes == 7 * 1024 * 1024 and settings.max_pixels == 1_000_000
    assert settings.job_ttl_seconds == 7200 and settings.executor == "process"
    assert "serving on http://127.0.0.1:8123/" in capsys.readouterr().err


def test_serve_warns_without_token_off_loopback(monkeypatch, tmp_path, capsys):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: None)
    monkeypatch.delenv("TINCT_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)]) == 0
    assert "without --token" in capsys.readouterr().err


def test_serve_bad_values_are_one_line_errors(tmp_path, capsys):
    assert main(["serve", "--workers", "0", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinct: error: workers:") and err.count("\n") == 1
    args = build_parser().parse_args(["serve"])
    assert args.port == 8000 and args.host == "127.0.0.1"
