from __future__ import annotations

from pathlib import Path

import pytest

from keel.tools import RepoPathError, relative, resolve_in_repo


@pytest.fixture
def root(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "mod.py").write_text("x = 1\n")
    (tmp_path / "outside.txt").write_text("secret\n")
    return repo


def test_relative_path_resolves_inside(root: Path) -> None:
    assert resolve_in_repo(root, "pkg/mod.py") == (root / "pkg" / "mod.py").resolve()
    assert resolve_in_repo(root, "pkg/new.py") == (root / "pkg" / "new.py").resolve()


@pytest.mark.parametrize("rel", ["../outside.txt", "pkg/../../outside.txt", "..", "pkg/../.."])
def test_traversal_is_refused(root: Path, rel: str) -> None:
    with pytest.raises(RepoPathError, match="escapes the repository"):
        resolve_in_repo(root, rel)


def test_absolute_path_outside_is_refused(root: Path) -> None:
    with pytest.raises(RepoPathError):
        resolve_in_repo(root, str(root.parent / "outside.txt"))
    with pytest.raises(RepoPathError):
        resolve_in_repo(root, "/etc/passwd")


def test_absolute_path_inside_is_accepted(root: Path) -> None:
    inside = str(root / "pkg" / "mod.py")
    assert resolve_in_repo(root, inside) == Path(inside).resolve()


def test_symlink_pointing_outside_is_refused(root: Path) -> None:
    (root / "link.txt").symlink_to(root.parent / "outside.txt")
    (root / "linkdir").symlink_to(root.parent)
    with pytest.raises(RepoPathError):
        resolve_in_repo(root, "link.txt")
    with pytest.raises(RepoPathError):
        resolve_in_repo(root, "linkdir/outside.txt")


def test_symlink_inside_is_followed(root: Path) -> None:
    (root / "alias.py").symlink_to(root / "pkg" / "mod.py")
    assert resolve_in_repo(root, "alias.py") == (root / "pkg" / "mod.py").resolve()


@pytest.mark.parametrize("rel", ["", "a\x00b"])
def test_invalid_paths_are_refused(root: Path, rel: str) -> None:
    with pytest.raises(RepoPathError):
        resolve_in_repo(root, rel)


def test_relative_is_posix_and_confined(root: Path) -> None:
    assert relative(root, root / "pkg" / "mod.py") == "pkg/mod.py"
    assert relative(root, Path("pkg/mod.py")) == "pkg/mod.py"
    with pytest.raises(RepoPathError):
        relative(root, root.parent / "outside.txt")
