"""The package as a user gets it: a wheel built from this tree, installed in a fresh venv.

The build runs on a copy of the project files (so no ``build/`` lands in the tree); pip
fetches the build backend and the two dependencies from its cache or the index.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
BUILD_TIMEOUT = 600.0
RUN_TIMEOUT = 120.0

pytestmark = pytest.mark.subprocess


def run(*argv: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONWARNINGS="default")
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [str(arg) for arg in argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"{argv}: {result.stdout}\n{result.stderr}"
    return result


@pytest.mark.timeout(BUILD_TIMEOUT * 2)
def test_the_wheel_installs_in_a_fresh_venv_and_runs_the_demo(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
    )
    wheels = tmp_path / "wheels"
    built = run(
        sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", wheels, source, cwd=tmp_path
    )
    assert "deprecat" not in (built.stdout + built.stderr).lower()
    (wheel,) = wheels.glob("eswifi-*.whl")

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", wheel, cwd=tmp_path)
    eswifi = env_dir / "bin" / "eswifi"

    where = run(python, "-c", "import eswifi, sys; print(eswifi.__file__)", cwd=tmp_path)
    assert where.stdout.startswith(str(env_dir)), where.stdout

    with socket.socket() as probe:  # a free port: 5024, the default, may be busy here
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    demo = subprocess.run(
        [eswifi, "demo", "--port", str(port)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Accepted" in demo.stdout

    example = run(eswifi, "radio-example", cwd=tmp_path)
    packaged = ROOT / "src" / "eswifi" / "emulator" / "radio-example.toml"
    assert example.stdout == packaged.read_text(encoding="utf-8")

    metadata = run(
        python,
        "-c",
        "from importlib.metadata import metadata as m; "
        "print(m('eswifi')['License-Expression']); print(m('eswifi').get_all('Project-URL'))",
        cwd=tmp_path,
    ).stdout
    assert metadata.splitlines()[0] == "MIT"
    assert "Issues, https://github.com/eswifi/eswifi/issues" in metadata
    licence = run(
        python,
        "-c",
        "from importlib.metadata import distribution as d; "
        "print(d('eswifi').read_text('licenses/LICENSE'))",
        cwd=tmp_path,
    )
    assert "MIT License" in licence.stdout
    plugins = run(
        python,
        "-c",
        "from importlib.metadata import entry_points as e; "
        "print([p.value for p in e(group='pytest11')])",
        cwd=tmp_path,
    )
    assert "eswifi.testing.plugin" in plugins.stdout
