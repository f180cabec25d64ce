from __future__ import annotations

from pathlib import Path

import pytest

from keel.tools import mask_secrets, quote_lines

AWS_KEY = "AKIA" + "Z7Q4M2XK9T3RLP5W"
B64_KEY = "wJalrXUtnFEMI/K7" + "MDENG/bPxRfiCYzz12"
TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4"  # pragma: allowlist secret


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f'AWS_KEY = "{AWS_KEY}"', 'AWS_KEY = "AKIA****"'),
        ('password="hunter22"', 'password="hunt****"'),  # pragma: allowlist secret
        ('"password": "s3cr3t!"', '"password": "s3cr****"'),  # pragma: allowlist secret
        ('db_password: str = "abcdefg"', 'db_password: str = "abcd****"'),
        (f"export GITHUB_TOKEN={TOKEN}", "export GITHUB_TOKEN=ghp_****"),
        (f"call({TOKEN!r})", "call('ghp_****')"),
        (f'key = "{B64_KEY}"', 'key = "wJal****"'),
    ],
)
def test_mask_secrets_masks(text: str, masked: str) -> None:
    assert mask_secrets(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "password = settings.password",
        "password = get_password()",
        'name = "hello_world_function"',
        "def get_password(self):",
        'if password == "":',
        'url = "https://example.com/a/b/c/d"',
    ],
)
def test_mask_secrets_leaves_ordinary_code(text: str) -> None:
    assert mask_secrets(text) == text


def test_mask_secrets_is_idempotent() -> None:
    once = mask_secrets(f'API_KEY = "{AWS_KEY}"')
    assert mask_secrets(once) == once


def test_quote_lines_masks_and_limits(tmp_path: Path) -> None:
    (tmp_path / "cfg.py").write_text(f'a = 1\nKEY = "{AWS_KEY}"\nb = 2\n' + "x" * 1000 + "\n")
    assert quote_lines(tmp_path, "cfg.py", 2, 3) == 'KEY = "AKIA****"\nb = 2'
    assert AWS_KEY not in quote_lines(tmp_path, "cfg.py", 1, 4)
    assert len(quote_lines(tmp_path, "cfg.py", 4, 4, max_chars=50)) == 50
    assert quote_lines(tmp_path, "../etc/passwd", 1, 1) == ""
    assert quote_lines(tmp_path, "missing.py", 1, 1) == ""
