"""What of a real tree Keel reads: `keel.tools.tree`'s rules, pure and on real repositories."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from keel.tools import git, tree
from tests.support.realtree import EXPECTED_SKIPS, IN_SCOPE, PLANTED_FILE, build_real_tree


@pytest.fixture
def real(tmp_path: Path) -> Path:
    return build_real_tree(tmp_path / "repo", tmp_path / "outside")


# ------------------------------------------------------------------ content (pure)


def test_binary_is_a_nul_in_the_first_8_kb() -> None:
    skip = tree.content_skip("a.bin", b"GIF89a\x00\x01")
    assert skip is not None and skip.kind == "binary" and not skip.in_scope
    assert "8 bytes" in skip.reason
    assert tree.content_skip("late.txt", b"a" * tree.BINARY_SNIFF_BYTES + b"\x00") is None


@pytest.mark.parametrize(
    "path",
    ["{{cookiecutter.slug}}/main.py", "pkg/{% if x %}a{% endif %}.py", "{{c.name}}.pyi"],
)
def test_a_template_path_makes_a_python_file_a_template(path: str) -> None:
    skip = tree.content_skip(path, b"x = 1\n")
    assert skip is not None and skip.kind == "template"
    assert skip.in_scope and skip.skipped_by == tree.PYTHON_TOOLS
    assert "path" in skip.reason


def test_jinja_markers_in_a_file_that_does_not_parse() -> None:
    data = b"import os\n\n{% if cookiecutter.db %}\nimport {{ cookiecutter.db }}\n{% endif %}\n"
    skip = tree.content_skip("hooks/post_gen_project.py", data)
    assert skip is not None and skip.kind == "template"
    assert "'{% if cookiecutter.db %}' at line 3" in skip.reason
    assert skip.skips("ruff") and skip.skips("bandit") and skip.skips("semgrep")
    assert not skip.skips("detect-secrets")


@pytest.mark.parametrize(
    "data",
    [
        b'X = "{{ name }}"\nY = f"{{ {1} }}"\n',  # braces in strings: valid Python
        b"def f(:\n    pass\n",  # a syntax error without markers stays a finding
        b"{{ name }}\n",  # markers in a non-Python file are nobody's business
    ],
)
def test_what_is_not_a_template(data: bytes) -> None:
    name = "notes.txt" if data.startswith(b"{{") else "mod.py"
    assert tree.content_skip(name, data) is None


def test_declared_non_utf8_encoding_is_skipped_by_ruff_only() -> None:
    data = '# -*- coding: latin-1 -*-\nNAME = "caf\xe9"\n'.encode("latin-1")
    skip = tree.content_skip("legacy.py", data)
    assert skip is not None and skip.kind == "encoding"
    assert skip.skipped_by == ("ruff",) and skip.skips("ruff") and not skip.skips("bandit")
    assert "iso8859-1 (declared on line 1)" in skip.reason


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("raw.py", 'NAME = "caf\xe9"\n'.encode("latin-1")),  # no declaration: invalid Python
        ("notes.txt", "caf\xe9\n".encode("latin-1")),  # non-UTF-8 text: read with U+FFFD
        ("utf8.py", "# coding: utf-8\nNAME = 'café'\n".encode()),
        ("wrong.py", b"# coding: utf-8\nNAME = 'caf\xe9'\n"),  # declares UTF-8, is not
        ("bogus.py", b"# coding: no-such-codec\nNAME = 'caf\xe9'\n"),
    ],
)
def test_other_encodings_stay_with_every_analyzer(name: str, data: bytes) -> None:
    assert tree.content_skip(name, data) is None


# ------------------------------------------------------------------ entries (disk)


def test_the_real_tree_partitions_into_scope_and_skips(real: Path) -> None:
    listed = git.tracked_files(real)
    scope, skips = tree.partition(real, listed, git.tracked_entries(real))
    assert {s.path: s.kind for s in skips} == EXPECTED_SKIPS
    assert sorted(scope) == sorted(IN_SCOPE)
    reasons = {s.path: s.reason for s in skips}
    assert reasons["tests/certs/valid/ca"].startswith("a symlink to a directory (→ ../expired/ca)")
    assert reasons["link_outside"].startswith("a symlink to outside the repository")
    assert reasons["dangling"] == "a dangling symlink (→ no/such/file)"
    assert reasons["alias.py"].startswith(f"a symlink to a file (→ {PLANTED_FILE})")
    assert reasons["vendor/lib"].startswith("a git submodule")
    assert reasons["data/huge.py"] == "1,200,000 bytes, over the 1,000,000 bytes (1 MB) cap"


def test_entries_the_work_tree_changed(real: Path, tmp_path: Path) -> None:
    (real / PLANTED_FILE).unlink()
    os.mkfifo(real / "pipe")
    (real / "loop").symlink_to("loop")
    (real / "moved").symlink_to("app")
    missing = tree.classify(real, PLANTED_FILE)
    assert missing is not None and missing.reason == "tracked, but missing from the checkout"
    fifo = tree.entry_skip(real, "pipe")
    assert fifo is not None and fifo.kind == "not-a-file" and "FIFO" in fifo.reason
    loop = tree.entry_skip(real, "loop")
    assert loop is not None and loop.kind == "symlink" and "loop" in loop.reason
    under = tree.entry_skip(real, "moved/strings.py")
    assert under is not None and under.kind == "symlink"
    assert "under a symlinked directory (it is app/strings.py)" in under.reason
    directory = tree.entry_skip(real, "app")
    assert directory is not None and directory.kind == "not-a-file"
    nested = tree.entry_skip(real, "vendor/lib")  # no mode: recognized by its .git
    assert nested is not None and nested.kind == "submodule"


def test_unreadable_path_is_a_skip_not_an_error(real: Path) -> None:
    skip = tree.classify(real, "docs/notes.txt/inside")  # a file where a directory should be
    assert skip is not None and skip.kind == "not-a-file"
    assert skip.reason == "cannot be read: Not a directory"


# ------------------------------------------------------------------ analyzer targets


def test_analyzer_targets_drop_what_the_tool_must_not_read(real: Path) -> None:
    asked = [
        PLANTED_FILE,
        "hooks/pre_gen_project.py",
        "app/legacy.py",
        "tests/certs/valid/ca",
        "link_outside",
        "dangling",
        "vendor/lib",
        "assets/logo.png",
    ]
    kept, skips = tree.analyzer_targets(real, asked, "ruff")
    assert kept == [PLANTED_FILE]
    assert [s.path for s in skips] == asked[1:]
    kept, skips = tree.analyzer_targets(real, asked, "bandit")
    assert kept == [PLANTED_FILE, "app/legacy.py"]
    kept, _ = tree.analyzer_targets(real, asked, "detect-secrets")
    assert kept == [PLANTED_FILE, "hooks/pre_gen_project.py", "app/legacy.py"]


def test_a_directory_is_expanded_only_when_it_holds_a_skip(real: Path) -> None:
    assert tree.analyzer_targets(real, ["docs"], "ruff") == (["docs"], [])
    kept, skips = tree.analyzer_targets(real, ["app"], "ruff")
    assert sorted(kept) == [
        "app/__init__.py",
        "app/raw_latin1.py",
        "app/run.py",
        "app/strings.py",
    ]
    assert [s.path for s in skips] == ["app/legacy.py"]
    kept, skips = tree.analyzer_targets(real, ["."], "semgrep")
    assert "hooks/pre_gen_project.py" not in kept and "tests/certs/valid/ca" not in kept
    assert "tests/certs/expired/ca/cert.pem" in kept
    assert {s.path for s in skips} == set(EXPECTED_SKIPS) - {"app/legacy.py"}


def test_paths_outside_are_left_for_the_analyzer_to_refuse(real: Path) -> None:
    kept, skips = tree.analyzer_targets(real, ["../x.py", "/etc/passwd"], "ruff")
    assert kept == ["../x.py", "/etc/passwd"] and skips == []
    kept, _ = tree.analyzer_targets(real, [str(real / PLANTED_FILE), "./app/run.py"], "ruff")
    assert kept == [str(real / PLANTED_FILE), "./app/run.py"]


def test_thousands_of_files_partition_quickly(make_repo: Callable[[dict[str, str]], Path]) -> None:
    files = {f"pkg{i // 100}/mod{i}.py": f"VALUE = {i}\n" for i in range(3000)}
    root = make_repo(files)
    listed = git.tracked_files(root)
    scope, skips = tree.partition(root, listed, git.tracked_entries(root))
    assert len(scope) == 3000 and skips == []
