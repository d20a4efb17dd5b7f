"""The built wheel carries what the installed program needs: schemas and the launcher."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import REPO


def test_wheel_contains_schemas_launcher_and_console_script(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("openclaw_agent-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "openclaw/schemas/config.schema.json",
        "openclaw/schemas/task-meta.schema.json",
        "openclaw/launcher.sh",
        "openclaw/taskprocs.sh",
        "openclaw/executors/ssh/scripts/prelude.sh",
        "openclaw/executors/ssh/scripts/launch.sh",
        "openclaw/executors/ssh/scripts/collect.sh",
        "openclaw/executors/ssh/scripts/watch.sh",
        "openclaw/executors/container/entry.sh",
        "openclaw/executors/ray/entry.sh",
        "openclaw/cli.py",
        "openclaw/web/openapi.yaml",
        "openclaw/web/static/index.html",
        "openclaw/web/static/app.js",
        "openclaw/web/static/style.css",
    ):
        assert needed in names, needed
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "openclaw-agent = openclaw.program:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
