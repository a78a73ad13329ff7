"""pytest-kdump's exceptions: each says which phase failed, why, and what to check."""

from __future__ import annotations

from pathlib import Path


class KdumpError(Exception):
    """Base of every error pytest-kdump raises on purpose.

    ``phase`` names the step that failed, ``advice`` says what to check, ``console_tail``
    holds the last console lines seen and ``log_path`` the full console log.
    """

    def __init__(
        self,
        message: str,
        *,
        phase: str | None = None,
        advice: str | None = None,
        console_tail: str | None = None,
        log_path: Path | str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.phase = phase
        self.advice = advice
        self.console_tail = console_tail
        self.log_path = Path(log_path) if log_path else None
        self.board_state: object = None  # the engine's BoardState after this error, if known

    def __str__(self) -> str:
        head = f"[phase {self.phase}] {self.message}" if self.phase else self.message
        parts = [head]
        if self.advice:
            parts.append(f"What to check: {self.advice}")
        if self.console_tail:
            tail = "\n".join("    " + line for line in self.console_tail.splitlines())
            parts.append(f"Console tail:\n{tail}")
        if self.log_path:
            parts.append(f"Full console log: {self.log_path}")
        return "\n".join(parts)


class ConfigError(KdumpError):
    """The configuration (environment YAML, options, paths) is wrong."""


class UnknownTrigger(ConfigError, ValueError):
    """A trigger or crash-module mode that does not exist (also a ValueError, as before)."""


class Unsupported(ConfigError):
    """The board cannot fire this trigger (an architecture or kernel limit, not a failure):
    the one reason a crash test may skip."""


class ToolError(KdumpError):
    """A host tool is missing or failed (apt, qemu, debugfs, crash...)."""


class ImageError(KdumpError):
    """The guest image cannot be built or is incomplete."""


class PhaseTimeout(KdumpError):
    """A phase of the kdump cycle did not finish within its timeout."""


class CycleError(KdumpError):
    """A phase of the kdump cycle failed (not armed, dump failed, board died...)."""


class BoardDied(CycleError):
    """The board (QEMU process, serial link) went away in the middle of a phase."""


class CaptureError(KdumpError):
    """The console reader stopped on an error of its own (``cause``): nothing more will be
    seen on the console until the session is restarted."""

    def __init__(self, message: str, cause: BaseException | None = None,
                 **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.cause = cause


class VmcoreError(KdumpError):
    """The vmcore is missing, empty, truncated or not a kdump file."""


class AnalysisError(KdumpError):
    """crash could not analyse the dump (wrong vmlinux, bad dump, crash failed)."""


class UnexpectedCrash(KdumpError):
    """The kernel crashed while no crash was expected (``records``: what the console showed)."""

    def __init__(self, message: str, records: list | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.records = records or []


class CrashMismatch(KdumpError):
    """The kernel crashed, but not in the way the test expected."""


class CrashCommandError(AnalysisError):
    """A crash command said it could not do what was asked (``command``, ``output``)."""

    def __init__(self, message: str, command: str = "", output: str = "",
                 **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.command = command
        self.output = output
