"""Assertions on a dump's analysis that read like the question a test asks.

Each takes a :class:`~.model.Analysis` or anything holding one as ``.analysis`` (the
:class:`~.session.Crash` a test gets) and fails with what was expected, what the dump says,
and the output lines that matter::

    assert_panic_message(crash, "sysrq triggered crash")
    assert_in_backtrace(crash, "sysrq_handle_crash")
    assert_task_state(crash, "sh", "RU")
    assert_module_loaded(crash, "kdump_crash")
    assert_log_contains(crash, "sysrq: Trigger a crash")
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from pytest_kdump.analysis.model import Analysis, Task
from pytest_kdump.symbols import clean_function

__all__ = ["assert_in_backtrace", "assert_log_contains", "assert_module_loaded",
           "assert_not_in_backtrace", "assert_panic_message", "assert_task_state"]


def _analysis(obj: Any) -> Analysis:
    a = getattr(obj, "analysis", obj)
    if not isinstance(a, Analysis):
        raise TypeError(f"expected an Analysis or a Crash, got {type(obj).__name__}")
    return a


def _indent(lines: list[str]) -> str:
    return "\n".join("    " + line for line in lines) if lines else "    (nothing)"


def _matches(expected: str, actual: str, regex: bool) -> bool:
    return re.search(expected, actual) is not None if regex else expected == actual


def assert_panic_message(obj: Any, expected: str, *, regex: bool = False) -> None:
    """The panic message is ``expected`` (or matches the regular expression)."""
    __tracebackhide__ = True
    a = _analysis(obj)
    if _matches(expected, a.panic_message, regex):
        return
    how = "matching" if regex else "equal to"
    log = [line for line in a.log.splitlines()
           if re.search(r"Kernel panic|Oops|BUG:|sysrq|RIP:", line)][-8:]
    raise AssertionError(
        f"panic message: expected {how} {expected!r}\n"
        f"  actual: {a.panic_message!r} ({a.backend}, PANIC: {a.sys.get('PANIC', '?')!r})\n"
        f"  crash-related log lines:\n{_indent(log)}")


def _frame_lines(a: Analysis) -> list[str]:
    return [f"{f}{' at ' + f.address if f.address else ''}" for f in a.backtrace]


def assert_in_backtrace(obj: Any, function: str, *, module: str | None = None) -> None:
    """``function`` is in the crashing task's backtrace (compiler suffixes such as ``.cold``
    ignored), in ``module`` if given."""
    __tracebackhide__ = True
    a = _analysis(obj)
    want = clean_function(function)
    hits = [f for f in a.backtrace if clean_function(f.function) == want]
    if hits and (module is None or any(f.module == module for f in hits)):
        return
    t = a.crashing_task
    who = f"PID {t.pid} {t.command!r}" if t else "the crashing task"
    where = f" in module {module!r}" if module else ""
    close = difflib.get_close_matches(want, [clean_function(f.function) for f in a.backtrace],
                                      n=3)
    hint = f"\n  similar: {', '.join(close)}" if close else ""
    found = f" (found, but in module {hits[0].module!r})" if hits else ""
    raise AssertionError(
        f"backtrace of {who}: expected {function!r}{where}{found}\n"
        f"  actual frames ({a.backend}):\n{_indent(_frame_lines(a))}{hint}")


def assert_not_in_backtrace(obj: Any, function: str) -> None:
    """``function`` is not in the crashing task's backtrace."""
    __tracebackhide__ = True
    a = _analysis(obj)
    want = clean_function(function)
    if all(clean_function(f.function) != want for f in a.backtrace):
        return
    raise AssertionError(f"backtrace: expected no {function!r}\n"
                         f"  actual frames ({a.backend}):\n{_indent(_frame_lines(a))}")


def _task_line(t: Task) -> str:
    mark = ">" if t.active else " "
    return (f"{mark} PID {t.pid:<6} PPID {t.ppid if t.ppid is not None else '?':<6} "
            f"CPU {t.cpu if t.cpu is not None else '?'}  {t.state or '??'}  {t.command}")


def assert_task_state(obj: Any, task: int | str, state: str) -> None:
    """The task with this PID (int) or command (str) is in ``state`` (crash's two-letter
    code: RU, IN, UN, ID, ZO...). With a command, every task of that name must be."""
    __tracebackhide__ = True
    a = _analysis(obj)
    tasks = [t for t in a.tasks if (t.pid == task if isinstance(task, int) else
                                    t.command == task)]
    if not tasks:
        close = difflib.get_close_matches(str(task), [t.command for t in a.tasks], n=5)
        raise AssertionError(
            f"task {task!r}: not in the dump's task list ({len(a.tasks)} tasks)"
            + (f"\n  similar commands: {', '.join(close)}" if close else ""))
    wrong = [t for t in tasks if t.state != state]
    if wrong:
        lines = _indent([_task_line(t) for t in tasks])
        raise AssertionError(f"task {task!r}: expected state {state}\n"
                             f"  actual ({a.backend} ps):\n{lines}")


def assert_module_loaded(obj: Any, name: str) -> None:
    """Kernel module ``name`` was loaded when the kernel crashed."""
    __tracebackhide__ = True
    a = _analysis(obj)
    names = [m.name for m in a.modules]
    if name in names or name.replace("-", "_") in names:
        return
    raise AssertionError(f"module {name!r}: not loaded\n"
                         f"  loaded ({len(names)}): {', '.join(sorted(names)) or '(none)'}")


def assert_log_contains(obj: Any, text: str, *, regex: bool = False) -> None:
    """The kernel log in the dump contains ``text`` (or a match of the regular expression)."""
    __tracebackhide__ = True
    a = _analysis(obj)
    lines = a.log.splitlines()
    if (re.search(text, a.log, re.M) if regex else text in a.log):
        return
    bare = [re.sub(r"^\[[^\]]*\]\s?", "", line) for line in lines]
    close = difflib.get_close_matches(text, bare, n=3, cutoff=0.5)
    hint = f"\n  closest lines:\n{_indent(close)}" if close else ""
    raise AssertionError(f"kernel log: expected {'a match of ' if regex else ''}{text!r}\n"
                         f"  not found in {len(lines)} lines; the last ones:\n"
                         f"{_indent(lines[-10:])}{hint}")
