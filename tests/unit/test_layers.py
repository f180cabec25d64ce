"""The import-linter contracts (pyproject.toml, docs/architecture.md) hold and can fail.

`make lint` runs `lint-imports`; these tests keep the contracts honest: every module of
the application sits in a layer, and an import that points up a layer (the core reading
the settings) or closes a cycle breaks a contract.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def _layer_modules() -> set[str]:
    (layers,) = [c["layers"] for c in _contracts() if c["type"] == "layers"]
    assert isinstance(layers, list)
    return {name.strip().strip("()") for layer in layers for name in re.split(r"[:|]", layer)}


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_module_of_keel_is_in_a_layer() -> None:
    listed = _layer_modules()

    def children(package: str) -> set[str]:
        folder = ROOT.joinpath(*package.split("."))
        return {
            f"{package}.{path.stem}"
            for path in folder.iterdir()
            if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()
        }

    # keel.nodes is split across layers: its own modules and subpackages are listed
    modules = (children("keel") - {"keel.nodes"}) | children("keel.nodes")
    assert modules - listed == set()
    assert {"keel.core", "keel.tools", "keel.nodes.guards", "keel.graphs"} <= listed


def test_the_contracts_hold_on_this_tree() -> None:
    run = _lint(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 kept, 0 broken" in run.stdout


def _copy(tmp_path: Path) -> Path:
    """This checkout's `keel` (symlinked subpackages copied as files) and pyproject."""
    shutil.copytree(ROOT / "keel", tmp_path / "keel", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_core_importing_the_settings_breaks_the_layers(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    pricing = root / "keel" / "core" / "pricing.py"
    pricing.write_text(pricing.read_text() + "\nimport keel.settings  # noqa\n")
    run = _lint(root)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "keel.core is not allowed to import keel.settings" in run.stdout


def test_a_cycle_between_guard_modules_breaks_the_acyclic_contract(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    verdict = root / "keel" / "nodes" / "guards" / "_verdict.py"
    verdict.write_text(verdict.read_text() + "\nimport keel.nodes.guards.loop  # noqa\n")
    run = _lint(root)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "No cycles are allowed in keel.nodes.guards" in run.stdout
