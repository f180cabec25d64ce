"""Keel installs one top-level import name, `keel`, and its own code uses only that name.

The wheel is built from this checkout and installed into a fresh virtual environment; its
dependencies come from the development environment's site-packages, added as a plain path
(so the editable install's import hook there stays inactive). In that environment
`import keel.tools` works and `import tools`, `graphs`, `nodes` and `evals` fail.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LEGACY = ("graphs", "nodes", "tools", "evals")
pytestmark = pytest.mark.slow
_NOT_SOURCE = (".git", ".venv", ".keel*", "build", "*.egg-info", "__pycache__", ".*_cache")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("source") / "keel"  # setuptools builds in the tree
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-q", "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    (found,) = out.glob("keel-*.whl")
    return found


def test_the_wheel_has_one_top_level_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    tops = {name.split("/", 1)[0] for name in names if not name.split("/", 1)[0].endswith(
        ".dist-info")}  # fmt: skip
    assert tops == {"keel"}
    for sub in LEGACY:
        assert f"keel/{sub}/__init__.py" in names
    assert "keel/tools/rules/keel-python.yml" in names
    assert "keel/evals/datasets/review_v1.jsonl" in names


def test_only_keel_imports_in_a_fresh_venv(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing but the wheel
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
         str(wheel)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (Path(site) / "keel-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    probe = (
        "import importlib, json\n"
        "import keel.tools, keel.graphs.review, keel.nodes.guards, keel.evals.cases\n"
        "missing = []\n"
        f"for name in {LEGACY!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ModuleNotFoundError:\n"
        "        missing.append(name)\n"
        "print(json.dumps({'keel': keel.tools.__file__, 'missing': missing}))\n"
    )
    run = subprocess.run(
        [str(python), "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert f'"missing": {list(LEGACY)!r}'.replace("'", '"') in run.stdout
    assert str(env_dir) in run.stdout, "keel.tools did not load from the fresh venv's wheel"


def _legacy_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found += [
            f"{path.relative_to(ROOT)}:{node.lineno}: {name}"
            for name in names
            if name.split(".")[0] in LEGACY
        ]
    return found


def test_no_source_file_imports_a_legacy_top_level_name() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert len(tracked) > 100
    offenders = [hit for rel in tracked for hit in _legacy_imports(ROOT / rel)]
    assert offenders == []
