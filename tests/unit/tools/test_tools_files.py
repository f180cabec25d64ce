from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from keel.tools import RepoPathError, read_file, search_code


@pytest.fixture
def root(make_repo: Callable[[dict[str, str]], Path]) -> Path:
    return make_repo(
        {
            "app/main.py": "".join(f"line {i}\n" for i in range(1, 21)),
            "app/util.py": "def helper():\n    return open('x')\n",
            "docs/notes.md": "call helper() here\n",
        }
    )


def test_read_file_numbers_lines(root: Path) -> None:
    text = read_file(root, "app/main.py", start_line=3, end_line=5)
    assert text.splitlines() == ["   3| line 3", "   4| line 4", "   5| line 5"]


def test_read_file_past_the_end(root: Path) -> None:
    assert "has 20 lines" in read_file(root, "app/main.py", start_line=50)
    assert read_file(root, "app/main.py", start_line=19).splitlines()[-1] == "  20| line 20"


def test_read_file_truncates(root: Path) -> None:
    text = read_file(root, "app/main.py", max_bytes=40)
    assert text.splitlines()[-1].startswith("[... truncated at line")


def test_read_file_non_utf8_and_binary(root: Path) -> None:
    (root / "latin.txt").write_bytes(b"caf\xe9\n")
    assert read_file(root, "latin.txt") == "   1| caf\ufffd"
    (root / "img.png").write_bytes(b"\x89PNG\r\n\x00\x00data")
    assert read_file(root, "img.png").startswith("[binary file: img.png")


def test_read_file_refuses_escapes_and_missing(root: Path) -> None:
    with pytest.raises(RepoPathError):
        read_file(root, "../../etc/passwd")
    with pytest.raises(FileNotFoundError):
        read_file(root, "app/missing.py")
    with pytest.raises(IsADirectoryError):
        read_file(root, "app")


def test_search_code_plain_text(root: Path) -> None:
    hits = search_code(root, "helper(")
    assert [(h["file"], h["line"]) for h in hits] == [("app/util.py", 1), ("docs/notes.md", 1)]
    assert hits[0]["text"] == "def helper():"


def test_search_code_glob_and_regex(root: Path) -> None:
    assert [h["file"] for h in search_code(root, "helper", glob="**/*.py")] == ["app/util.py"]
    hits = search_code(root, r"line 1\d$", glob="app/*", regex=True)
    assert [h["line"] for h in hits] == list(range(10, 20))
    assert len(search_code(root, "line", max_results=3)) == 3


def test_search_code_only_tracked_files(root: Path) -> None:
    (root / "untracked.py").write_text("helper()\n")
    assert "untracked.py" not in {h["file"] for h in search_code(root, "helper")}


def test_search_code_bad_regex(root: Path) -> None:
    with pytest.raises(ValueError, match="invalid regular expression"):
        search_code(root, "(", regex=True)
