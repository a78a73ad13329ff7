"""The command line's answers to bad input: a one-line error naming the argument, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_kdump import cli

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize("argv, error", [
    (["rack", "up", "--port", "99999"], "argument --port: '99999' is no TCP port (1 to 65535)"),
    (["rack", "up", "--port", "x"], "argument --port: 'x' is no TCP port"),
    (["analyze", "--timeout", "-3", "vmlinux", "vmcore"],
     "argument --timeout: -3 s: a time limit must be above 0"),
    (["analyze", "--start-timeout", "soon", "vmlinux", "vmcore"],
     "argument --start-timeout: 'soon' is no number of seconds"),
])
def test_bad_arguments_are_refused_before_anything_starts(
        capsys: pytest.CaptureFixture[str], argv: list[str], error: str) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert error in capsys.readouterr().err


@pytest.mark.parametrize("path, why", [("nowhere.log", "no such file"),
                                       (".", "is a folder, not a console log")])
def test_oops_names_what_is_wrong_with_the_log(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path, path: str, why: str) -> None:
    assert cli.main(["oops", str(tmp_path / path)]) == 2
    assert capsys.readouterr().err.strip().endswith(why)


def test_oops_prints_the_recorded_crash(capsys: pytest.CaptureFixture[str]) -> None:
    console = DATA / "serial-x86_64" / "crash-kernel.console"
    assert cli.main(["oops", str(console)]) == 0
    assert "sysrq triggered crash in sysrq_handle_crash" in capsys.readouterr().out


def test_oops_reads_a_tests_console_log(capsys: pytest.CaptureFixture[str]) -> None:
    """A test's console.log, as the plugin writes it (a host stamp in front of each line)."""
    console = DATA / "init-exit-x86_64-stale-fault" / "console.log"
    assert cli.main(["oops", str(console)]) == 0
    out = capsys.readouterr().out
    assert "Attempted to kill init! exitcode=0x00000000 in do_exit" in out
    assert out.rstrip().endswith(f"1 crash report(s) in {console}")
