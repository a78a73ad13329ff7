"""A built image's ``manifest.json``: its dataclass's fields, the folder made absolute."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

M = TypeVar("M", bound="Manifest")


class Manifest:
    """Mixin for an image dataclass with a ``dir`` field: saved in, loaded from, its folder."""

    dir: Path

    def complete_files(self, *files: Path) -> bool:
        """Whether ``files`` and the manifest exist and are not empty."""
        return all(p.is_file() and p.stat().st_size > 0
                   for p in (*files, self.dir / "manifest.json"))

    def save(self) -> None:
        data: dict[str, Any] = asdict(self)  # type: ignore[call-overload]
        data["dir"] = str(self.dir)
        (self.dir / "manifest.json").write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls: type[M], directory: Path) -> M:
        data = json.loads((directory / "manifest.json").read_text())
        data["dir"] = directory.resolve()
        return cls(**data)
