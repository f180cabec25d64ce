"""A git repository holding what real trees hold besides source files.

Symlinks (to a directory, to outside the repository, dangling, to a file), a submodule
(gitlink), a binary file, a file over the 1 MB cap, non-UTF-8 text, and cookiecutter-style
Jinja templates with `.py` names — next to ordinary Python with a planted finding — all in
one commit, built with the real `git` (no network).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

from tests.support.gitrepo import commit_files, git, init_repo

__all__ = ["EXPECTED_SKIPS", "IN_SCOPE", "PLANTED_FILE", "build_real_tree"]

PLANTED_FILE: Final = "app/run.py"
"""An ordinary module with a shell injection bandit reports (B602), so a review has work."""

IN_SCOPE: Final = (
    PLANTED_FILE,
    "app/__init__.py",
    "app/legacy.py",
    "app/raw_latin1.py",
    "app/strings.py",
    "docs/notes.txt",
    "hooks/pre_gen_project.py",
    "tests/certs/expired/ca/cert.pem",
    "{{cookiecutter.project_slug}}/{{cookiecutter.module}}.py",
)
"""Tracked paths that stay in scope (the templates and `legacy.py` only for some readers)."""

EXPECTED_SKIPS: Final = {
    "tests/certs/valid/ca": "symlink",
    "link_outside": "symlink",
    "dangling": "symlink",
    "alias.py": "symlink",
    "vendor/lib": "submodule",
    "assets/logo.png": "binary",
    "data/huge.py": "too-large",
    "hooks/pre_gen_project.py": "template",
    "{{cookiecutter.project_slug}}/{{cookiecutter.module}}.py": "template",
    "app/legacy.py": "encoding",
}
"""Every skip `keel.tools.tree.partition` must report, path -> kind."""

_RUN = '''"""Run a command."""

import subprocess


def run(command: str) -> None:
    """Run a shell command."""
    subprocess.call(command, shell=True)
'''

_HOOK = """import sys

{% if cookiecutter.use_docker == "y" %}
import docker
{% endif %}
NAME = "{{ cookiecutter.project_name }}"
if not NAME:
    sys.exit(1)
"""

_TEMPLATED_MODULE = '''"""{{ cookiecutter.project_name }}."""

{% for name in cookiecutter.features.split(",") %}
def {{ name }}() -> None:
    """{{ name }}."""
{% endfor %}
'''

_STRINGS = '''"""Braces in format strings are Python, not Jinja."""

TEMPLATE = "{{ not a template }}"


def show(value: int) -> str:
    """A literal brace pair around a value."""
    return f"{{ {value} }}"
'''


def build_real_tree(root: Path, outside: Path, base: Mapping[str, str] | None = None) -> Path:
    """Create the repository at `root`; `outside` receives a file linked to.

    Args:
        root: Where the repository is created (must not exist).
        outside: A directory outside `root` for the outbound symlink's target.
        base: Files committed first, so that `HEAD~1..HEAD` adds the whole real tree;
            None for a single commit.

    Returns:
        The repository root.
    """
    init_repo(root)
    if base is not None:
        commit_files(root, base, "base")
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "secret.txt").write_text("not yours\n", encoding="utf-8")
    texts = {
        PLANTED_FILE: _RUN,
        "app/__init__.py": "",
        "app/strings.py": _STRINGS,
        "docs/notes.txt": "Notes.\n",
        "tests/certs/expired/ca/cert.pem": "-----BEGIN CERTIFICATE-----\nMIIB\n",
        "hooks/pre_gen_project.py": _HOOK,
        "{{cookiecutter.project_slug}}/{{cookiecutter.module}}.py": _TEMPLATED_MODULE,
    }
    for name, text in texts.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    data = {
        "app/legacy.py": '# -*- coding: latin-1 -*-\nNAME = "caf\xe9"\n'.encode("latin-1"),
        "app/raw_latin1.py": 'NAME = "caf\xe9"\n'.encode("latin-1"),
        "assets/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
        "data/huge.py": b"x = 1\n" * 200_000,
    }
    for name, raw in data.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
    (root / "tests/certs/valid").mkdir(parents=True)
    (root / "tests/certs/valid/ca").symlink_to("../expired/ca")
    (root / "link_outside").symlink_to(outside / "secret.txt")
    (root / "dangling").symlink_to("no/such/file")
    (root / "alias.py").symlink_to(PLANTED_FILE)
    lib = init_repo(root / "vendor" / "lib")
    (lib / "lib.py").write_text("VALUE = 1\n", encoding="utf-8")
    git(lib, "add", "-A")
    git(lib, "commit", "-qm", "lib")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "a real tree")
    return root
