"""`KEEL_MODEL=local[:NAME|:PATH]`: labels, the server binary, model resolution and its errors.

No server is started here (unit tests cannot open sockets): every case fails or resolves
before launch. The lifecycle tests live in tests/integration/test_local_model.py.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from keel import local_model, model_store
from keel.local_model import LocalModelError, find_llama_server, resolve_gguf
from keel.models import ModelError, chat_model, model_label
from keel.settings import Settings, SettingsError
from tests.unit.test_local_model_store import gguf_bytes, tiny_model


@pytest.fixture
def tiny_catalog(monkeypatch: pytest.MonkeyPatch) -> model_store.CatalogModel:
    """A catalog whose default is a tiny GGUF (its real entries are hundreds of MB)."""
    model = tiny_model(gguf_bytes())
    monkeypatch.setattr(model_store, "CATALOG", (model, *model_store.CATALOG))
    monkeypatch.setattr(model_store, "DEFAULT_MODEL", model.name)
    return model


@pytest.fixture
def fake_server(tmp_path: Path) -> Path:
    binary = tmp_path / "bin" / "llama-server"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\nexit 1\n")
    binary.chmod(0o755)
    return binary


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.load({"KEEL_HOME": str(tmp_path / "home"), **env}, dotenv=tmp_path / "none")


def test_labels_come_from_the_catalog_or_the_file_name() -> None:
    assert model_label("local") == "local:Qwen2.5-Coder-0.5B-Instruct"
    assert model_label("local:qwen2.5-coder-0.5b") == "local:Qwen2.5-Coder-0.5B-Instruct"
    assert model_label("local:qwen2.5-coder-1.5b") == "local:Qwen2.5-Coder-1.5B-Instruct"
    assert model_label("local:smollm2-135m") == "local:SmolLM2-135M-Instruct"
    assert model_label("local:/m/qwen2.5-coder-7b-instruct-q4_k_m.gguf") == (
        "local:qwen2.5-coder-7b-instruct"
    )
    assert local_model.DEFAULT_MODEL_NAME == "Qwen2.5-Coder-0.5B-Instruct"


def test_catalog_name_resolves_to_its_verified_file(
    tmp_path: Path, tiny_catalog: model_store.CatalogModel
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / tiny_catalog.file_name).write_bytes(gguf_bytes())
    assert resolve_gguf("local", models) == models / tiny_catalog.file_name
    assert resolve_gguf(f"local:{tiny_catalog.name}", models) == models / tiny_catalog.file_name
    assert json.loads((models / f".{tiny_catalog.file_name}.verified").read_text())["sha256"] == (
        hashlib.sha256(gguf_bytes()).hexdigest()
    )


def test_a_path_must_be_a_gguf_file(tmp_path: Path) -> None:
    good = tmp_path / "Mine.Q8_0.gguf"
    good.write_bytes(gguf_bytes("Mine"))
    assert resolve_gguf(f"local:{good}") == good
    bad = tmp_path / "notes.gguf"
    bad.write_text("hello")
    with pytest.raises(LocalModelError, match="notes.gguf: not a GGUF file"):
        resolve_gguf(f"local:{bad}")
    with pytest.raises(LocalModelError, match="no such model file .*qwen7b .*smollm2-135m"):
        resolve_gguf("local:qwen7b", tmp_path)


def test_missing_model_is_a_model_error_naming_file_hash_and_fetch(
    tmp_path: Path, fake_server: Path
) -> None:
    settings = _settings(
        tmp_path, KEEL_LLAMA_SERVER=str(fake_server), KEEL_MODELS_DIR=str(tmp_path / "m")
    )
    q05 = model_store.CATALOG[0]
    with pytest.raises(ModelError) as info:
        chat_model("local", settings)
    message = str(info.value)
    assert message.startswith("KEEL_MODEL=local: model file ") and "\n" not in message
    assert str(tmp_path / "m" / q05.file_name) in message and "is missing" in message
    assert q05.sha256 in message
    assert "python -m keel.model_store fetch qwen2.5-coder-0.5b (or make local-model)" in message


def test_corrupt_model_is_a_model_error(
    tmp_path: Path, fake_server: Path, tiny_catalog: model_store.CatalogModel
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / tiny_catalog.file_name).write_bytes(gguf_bytes()[:-1] + b"\x00")
    settings = _settings(tmp_path, KEEL_LLAMA_SERVER=str(fake_server), KEEL_MODELS_DIR=str(models))
    with pytest.raises(ModelError, match=f"has sha256 .*expected .*{tiny_catalog.sha256}"):
        chat_model("local", settings)
    assert sorted(p.name for p in models.iterdir()) == [tiny_catalog.file_name]


def test_review_with_a_missing_model_exits_2(
    tmp_path: Path,
    fake_server: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from keel.cli import main
    from keel.sample import build_sample_repo

    repo = build_sample_repo(tmp_path / "sample")
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "KEEL_MODEL": "local:smollm2-135m",
        "KEEL_LLAMA_SERVER": str(fake_server),
        "KEEL_MODELS_DIR": str(tmp_path / "models"),
        "KEEL_HOME": str(tmp_path / "home"),
        "KEEL_DATABASE_URL": f"sqlite:///{tmp_path / 'keel.db'}",
    }.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as info:
        main(["review", str(repo), "--no-input", "--json"])
    assert info.value.code == 2
    payload = json.loads(capsys.readouterr().out)
    assert payload["exit_code"] == 2
    assert "SmolLM2-135M-Instruct.Q4_1.gguf is missing" in payload["error"]
    assert model_store.CATALOG[2].sha256 in payload["error"]
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_server_binary_lookup(
    tmp_path: Path, fake_server: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_model, "USER_TOOLS_DIR", tmp_path / "user")
    assert find_llama_server(str(fake_server)) == fake_server
    with pytest.raises(LocalModelError, match="KEEL_LLAMA_SERVER=.* is not an executable"):
        find_llama_server(str(tmp_path / "nope"))
    with pytest.raises(LocalModelError, match="no llama-server found .*make local-model"):
        find_llama_server(None, root=tmp_path)
    installed = tmp_path / "user" / "llama-server" / "bin" / "llama-server"
    installed.parent.mkdir(parents=True)
    installed.write_bytes(fake_server.read_bytes())
    installed.chmod(0o755)
    assert find_llama_server(None, root=tmp_path) == installed


def test_missing_server_is_a_model_error(tmp_path: Path) -> None:
    settings = _settings(tmp_path, KEEL_LLAMA_SERVER=str(tmp_path / "nope"))
    with pytest.raises(ModelError, match="KEEL_LLAMA_SERVER=.* is not an executable"):
        chat_model("local", settings)


def test_old_llama_python_setting_names_its_replacement(tmp_path: Path) -> None:
    with pytest.raises(
        SettingsError, match="KEEL_LLAMA_PYTHON is no longer read.*KEEL_LLAMA_SERVER"
    ):
        _settings(tmp_path, KEEL_LLAMA_PYTHON="/opt/llama/bin/python")
    settings = _settings(tmp_path, KEEL_LLAMA_SERVER="/x/llama-server", KEEL_MODELS_DIR="/m")
    assert (settings.llama_server, settings.models_dir) == ("/x/llama-server", "/m")


def test_server_command_uses_the_models_own_template(tmp_path: Path, fake_server: Path) -> None:
    options = local_model.ServerOptions(n_ctx=8192, n_threads=3, parallel=2)
    server = local_model.LlamaServer(
        tmp_path / "m.gguf", binary=fake_server, name="Tiny-1M", options=options
    )
    command = server.command()

    def after(flag: str) -> str:
        return command[command.index(flag) + 1]

    assert command[0] == str(fake_server)
    assert after("-m") == str(tmp_path / "m.gguf") and after("--alias") == "Tiny-1M"
    assert (after("--host"), after("-c"), after("-t"), after("-np")) == (
        "127.0.0.1",
        "16384",  # n_ctx per slot
        "3",
        "2",
    )
    assert "--jinja" in command and "--no-webui" in command
