"""Wall time of ``openclaw-agent start`` on the container executor beside a bare ``run -d``.

Both start the same offline test image (tests/container_harness.py) in the
same run, alternating, so the ratio is comparable across machines. Target
(issue 4): ``start`` <= 1.3 x the bare ``<runtime> run -d``.

It also times the same bare ``run -d`` launched from a Python that first
imports the libraries ``start`` needs on its way (invoke, plumbum, pyyaml,
jsonschema): the floor those libraries set, whatever our own code does.

    python bench/bench_container.py [--runs 15] [--runtime podman|docker]

What watching an idle container task costs is measured by bench_idle.py.

With ``--runtime docker`` the docker CLI talks to a ``podman system service``
started (and stopped) by this script. Every container and the image are
removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from container_harness import CONTAINERS_CONF_TEXT, build_rootfs  # noqa: E402

TARGET_RATIO = 1.3
#: Import lists timed in front of a bare ``run -d`` (see ``once_python``): the part of
#: ``start``'s time that no code of ours can remove once these libraries are on its path.
FLOORS = {
    "": "nothing (python startup only)",
    ", plumbum": "plumbum (issue 4 builds run -d with it)",
    ", invoke": "invoke (the CLI's parser)",
    ", invoke, plumbum": "invoke + plumbum (builds the run argv)",
    ", invoke, plumbum, yaml, jsonschema": "invoke + plumbum + pyyaml + jsonschema",
}


def console_script() -> str:
    beside = Path(sys.executable).with_name("openclaw-agent")
    return str(beside) if beside.exists() else (shutil.which("openclaw-agent") or "openclaw-agent")


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    began = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - began, proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--runtime", choices=["podman", "docker"], default="podman")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="openclaw-bench-container-"))
    conf = tmp / "containers.conf"
    conf.write_text(CONTAINERS_CONF_TEXT)
    env = dict(os.environ, CONTAINERS_CONF=str(conf), HOME=str(tmp / "home"))
    for var in [v for v in env if v.startswith(("XDG_", "OPENCLAW_"))]:
        del env[var]
    image = f"localhost/openclaw-bench:{uuid.uuid4().hex[:12]}"
    names: list[str] = []
    service: subprocess.Popen[bytes] | None = None
    try:
        build_rootfs(tmp / "rootfs.tar")
        subprocess.run(
            [
                "podman",
                "import",
                "-q",
                "-c",
                "ENV PATH=/usr/local/bin:/usr/bin:/bin",
                str(tmp / "rootfs.tar"),
                image,
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        if args.runtime == "docker":
            sock = tmp / "podman.sock"
            env["DOCKER_HOST"] = f"unix://{sock}"
            with open(tmp / "service.log", "wb") as log:
                service = subprocess.Popen(
                    ["podman", "system", "service", "--time=0", env["DOCKER_HOST"]],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    cwd=tmp,
                )
            deadline = time.monotonic() + 60
            while subprocess.run(["docker", "version"], env=env, capture_output=True).returncode != 0:
                if time.monotonic() > deadline:
                    raise SystemExit("podman system service did not come up")
                time.sleep(0.1)
        config = tmp / "home" / ".config" / "openclaw" / "coding-agent.yaml"
        config.parent.mkdir(parents=True)
        config.write_text(
            json.dumps(
                {"executors": [{"name": "box", "type": "container", "image": image, "runtime": args.runtime}]}
            )
        )
        start = [console_script(), "start", "--json", "--executor", "box", "--prompt", "#fake sleep 600"]

        def bare_argv(name: str) -> list[str]:
            return [
                args.runtime,
                "run",
                "-d",
                "--name",
                name,
                "--entrypoint",
                "/bin/sh",
                image,
                "-c",
                "sleep 600",
            ]

        def once_bare() -> float:
            name = f"openclaw-bench-{uuid.uuid4().hex[:12]}"
            names.append(name)
            return timed(bare_argv(name), env)[0]

        def once_start() -> float:
            took, out = timed(start, env)
            names.append(json.loads(out)["host"])
            return took

        def once_python(imports: str) -> float:
            """``run -d`` from a Python that first imports ``imports``: what those cost on this path."""
            name = f"openclaw-bench-{uuid.uuid4().hex[:12]}"
            names.append(name)
            code = f"import subprocess{imports}; subprocess.run({bare_argv(name)!r}, check=True)"
            return timed([sys.executable, "-c", code], env)[0]

        once_bare(), once_start()  # warm caches
        bare, ours, floor = [], [], []
        floors: dict[str, list[float]] = {imports: [] for imports in FLOORS}
        for _ in range(args.runs):
            bare.append(once_bare())
            ours.append(once_start())
            floor.append(timed([console_script(), "--version"], env)[0])
            for imports, times in floors.items():
                times.append(once_python(imports))
            subprocess.run(["podman", "rm", "-f", "-t", "0", *names], env=env, capture_output=True)
            names.clear()
        b, o = statistics.median(bare), statistics.median(ours)
        print(f"runtime: {args.runtime}, runs: {args.runs}")
        print(
            f"bare {args.runtime} run -d:        median {b:.3f} s  (min {min(bare):.3f}, max {max(bare):.3f})"
        )
        print(f"openclaw-agent start:     median {o:.3f} s  (min {min(ours):.3f}, max {max(ours):.3f})")
        f = statistics.median(floor)
        print(f"openclaw-agent --version: median {f:.3f} s  (the CLI's own floor: python + invoke)")
        print(f"start minus bare run:     {o - b:.3f} s  (floor, config, record, plumbum)")
        print("floors: the same bare run -d, from a Python that first imports ...")
        for imports, times in floors.items():
            m = statistics.median(times)
            print(f"  {FLOORS[imports]:<44} median {m:.3f} s  {m / b:.2f} x")
        every = statistics.median(floors[max(FLOORS, key=len)])
        print(f"start against the floor of all its libraries: {o / every:.2f} x (our own code's share)")
        ratio = o / b
        verdict = "ok" if ratio <= TARGET_RATIO else "OVER TARGET"
        print(f"ratio: {ratio:.2f} x (target <= {TARGET_RATIO} x): {verdict}")
        return 0 if ratio <= TARGET_RATIO else 1
    finally:
        if names:
            subprocess.run(["podman", "rm", "-f", "-t", "0", *names], env=env, capture_output=True)
        if service is not None:
            service.terminate()
            service.wait(timeout=30)
        subprocess.run(["podman", "rmi", "-f", image], env=env, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
