"""The CLI's error boundary on its own: how each kind of failure becomes an exit code and one line."""

from __future__ import annotations

import errno
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from worldclass.cli import boundary
from worldclass.errors import ConfigError


@pytest.fixture(autouse=True)
def _restore_process_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The boundary installs signal handlers and an unraisable hook for its process: undo them."""
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGXFSZ)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def _run(
    capsys: pytest.CaptureFixture[str], fail: BaseException, argv: list[str] | None = None
) -> tuple[int, str]:
    def command() -> None:
        raise fail

    with pytest.raises(SystemExit) as exit_:
        boundary.run(command, argv or ["stats"])
    code = exit_.value.code
    return code if isinstance(code, int) else 1, capsys.readouterr().err


def test_each_kind_of_failure(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLDCLASS_DEBUG", raising=False)
    code, err = _run(capsys, ConfigError("--tile 7: use a multiple of 32"))
    assert (code, err) == (2, "error: --tile 7: use a multiple of 32\n")
    code, err = _run(capsys, PermissionError(errno.EACCES, "Permission denied", "/data/out.csv"))
    assert code == 1 and err == (
        "error: /data/out.csv: Permission denied; choose a location you may write (or read), or fix its permissions\n"
    )
    code, err = _run(capsys, OSError(errno.EADDRINUSE, "Address already in use"))
    assert code == 1 and "pick another with --port" in err
    import lmdb

    code, err = _run(capsys, lmdb.CorruptedError("mdb_get: MDB_CORRUPTED"))
    assert code == 1 and err.startswith("error: LMDB store: ") and err.count("\n") == 1
    code, err = _run(capsys, KeyboardInterrupt(), ["train", "c.yaml"])
    assert code == 130 and err.strip() == "interrupted: " + boundary.RESUME_HINTS["train"]
    code, err = _run(capsys, KeyboardInterrupt(), ["map", "m.ckpt", "s.tif"])
    assert "the previous output, if any, is unchanged" in err


def test_a_bug_is_one_line_and_a_traceback_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("WORLDCLASS_DEBUG", raising=False)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    code, err = _run(capsys, ZeroDivisionError("division by zero"))
    assert code == boundary.BUG_EXIT and err.count("\n") == 1 and "Traceback" not in err
    assert "this is a bug in worldclass" in err
    written = re.search(r"written to (\S+\.txt)", err)
    assert written and "ZeroDivisionError: division by zero" in Path(written.group(1)).read_text()
    monkeypatch.setenv("WORLDCLASS_DEBUG", "1")  # --debug: the exception itself
    with pytest.raises(ZeroDivisionError):
        boundary.run(lambda: 1 / 0, ["stats"])
