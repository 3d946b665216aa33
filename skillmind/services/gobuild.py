"""Build a Go program with ``go install MODULE@VERSION`` into our cache (versitygw, Mailpit).

The binary is named after its version (``<name>-<version>``), so changing the pinned
version in settings builds the new one and an old cache never shadows it.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from skillmind.services.process import ServiceError, require_executable


def go_version(go: Path) -> tuple[int, int]:
    """(major, minor) of the Go toolchain, e.g. (1, 26) for ``go1.26.8``."""
    out = subprocess.run([str(go), "env", "GOVERSION"], capture_output=True, text=True).stdout
    numbers = [int(x) for x in re.findall(r"\d+", out)[:2]]
    return (numbers[0], numbers[1]) if len(numbers) == 2 else (0, 0)


def go_install(module: str, version: str, binary: Path, *, min_go: tuple[int, int]) -> None:
    """Build ``module@version`` and move its executable to ``binary``; no-op when it exists.

    Raises PrerequisiteMissing without Go, ServiceError for an old Go or a failed build.
    ``min_go`` is the ``go`` directive of the module's go.mod: an older toolchain would
    try to download a newer one, which is slow at best.
    """
    if binary.exists():
        return
    need = f"{min_go[0]}.{min_go[1]}"
    go = require_executable("go", f"install Go {need} or newer (it builds {module}).")
    found = go_version(go)
    if found < min_go:
        raise ServiceError(f"{module} needs Go >= {need}, found {found[0]}.{found[1]}; install a newer Go.")
    staging = binary.parent / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [str(go), "install", f"{module}@{version}"],
        capture_output=True,
        text=True,
        env={**os.environ, "GOBIN": str(staging)},
    )
    if result.returncode != 0:
        raise ServiceError(
            f"`go install {module}` failed; check access to the Go module proxy:\n{result.stderr[-2000:]}"
        )
    # The executable is named after the module path's last element.
    (staging / module.rsplit("/", 1)[-1]).rename(binary)
