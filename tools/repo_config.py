"""Which configuration each analyzer runs with: the repository's own, or Keel's default.

Contract (the table is in docs/tool-config.md):

* **The repository's configuration wins** for the third-party analyzers. ruff runs with
  the repository's ``.ruff.toml`` / ``ruff.toml`` / ``[tool.ruff]`` (ruff's own order),
  bandit with ``[tool.bandit]`` and ``.bandit``, detect-secrets with the known secrets of
  ``.secrets.baseline``, and a repository's own semgrep rules (``.semgrep.yml``,
  ``.semgrep.yaml`` or ``.semgrep/``) run with its ``.semgrepignore`` and ``# nosemgrep``.
  Keel's defaults apply only where the repository has no configuration.
* **A bad configuration never stops a review.** A file that cannot be read, is not valid
  TOML / INI / JSON / YAML, points outside the repository, or is refused by the tool
  itself makes that tool fall back to Keel's default; the `ToolConfig` says which file
  and why in its ``notes``. These functions never raise for a repository's file.
* **Configuration cannot run code or write files.** Only options that select rules,
  files and known findings are passed on: bandit's ``.bandit`` is translated key by key
  (``exclude``, ``skips``, ``tests``; never ``output``), a baseline's custom plugins and
  filters (Python files) are not loaded.
* **Keel's own checks are not configurable by the repository**: Keel's semgrep rule pack
  ignores ``.semgrepignore`` and ``# nosemgrep`` (a waiver comment is reported with the
  finding), and the reviewer-instructions tripwire (`keel.tools.instructions`) reads no
  configuration at all.
"""

from __future__ import annotations

import configparser
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import yaml  # type: ignore[import-untyped]  # PyYAML comes with langchain-core; no stubs here
from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

from keel.tools._proc import run
from keel.tools._repo import RepoPathError, resolve_in_repo
from keel.tools.issues import Issue

__all__ = [
    "DEFAULT_SELECT",
    "DEFAULT_TARGET",
    "KEEL_DEFAULT",
    "Scan",
    "SECRET_PLUGINS",
    "SecretsBaseline",
    "ToolConfig",
    "bandit_config",
    "bandit_default",
    "describe",
    "ruff_config",
    "secrets_config",
    "semgrep_config",
]

KEEL_DEFAULT: Final = "Keel default"
"""The ``source`` of a tool that runs without any repository configuration."""

DEFAULT_SELECT: Final = "E4,E7,E9,F,W,B,UP,C4"
"""ruff rules run when the repository has no ruff configuration: pycodestyle errors that
are not layout opinions, pyflakes, warnings, bugbear, pyupgrade and comprehensions."""

DEFAULT_TARGET: Final = "py39"
"""ruff's target version with Keel's rules when ``requires-python`` names no lower bound."""

_RUFF_FILES: Final = (".ruff.toml", "ruff.toml", "pyproject.toml")
"""ruff's precedence when several live in one directory."""
_RUFF_KEEL_ARGS: Final = ("--config", "lint.pyupgrade.keep-runtime-typing = true")
"""With Keel's rules: never rewrite annotations a runtime may evaluate on an older Python."""
_PY_MINORS: Final = range(7, 15)
"""The ``py3X`` targets ruff accepts."""
_BANDIT_INI_KEYS: Final = {"exclude": "-x", "skips": "-s", "tests": "-t"}
"""``.bandit`` keys Keel passes on, with bandit's flag for each."""
_BANDIT_LIST_KEYS: Final = ("exclude_dirs", "skips", "tests")
_BASELINE: Final = ".secrets.baseline"
_ENTROPY_PLUGINS: Final = ("Base64HighEntropyString", "HexHighEntropyString")
_SEMGREP_CONFIGS: Final = (".semgrep.yml", ".semgrep.yaml", ".semgrep")
_PLUGIN_CLASSES: list[type] = list(get_mapping_from_secret_type_to_class().values())
SECRET_PLUGINS: Final = frozenset(plugin.__name__ for plugin in _PLUGIN_CLASSES)
"""detect-secrets' built-in plugins, read once at import: the lookup is cached on
detect-secrets' global settings, which a running scan changes."""
_PROBE_TIMEOUT: Final = 30.0


@dataclass(frozen=True)
class ToolConfig:
    """The configuration one analyzer runs with in one repository."""

    tool: str
    """The analyzer: "ruff", "bandit", "detect-secrets", "semgrep"."""
    source: str
    """What is used, for a reader: a file name, or `KEEL_DEFAULT` and what that means."""
    path: str | None = None
    """The repository file used (repository-relative); None when only Keel's default is."""
    args: tuple[str, ...] = ()
    """Command-line arguments that apply it."""
    notes: tuple[str, ...] = ()
    """Why a repository file was not used, or which of its parts were left out."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form for the report: source, path, notes."""
        return {"source": self.source, "path": self.path, "notes": list(self.notes)}

    def fallen_back(self, note: str, default: ToolConfig) -> ToolConfig:
        """Keel's `default`, carrying this configuration's notes and `note`."""
        return replace(default, notes=(*self.notes, note, *default.notes))


@dataclass(frozen=True)
class Scan:
    """One analyzer run: its issues, the configuration it ran with, what it left out."""

    issues: list[Issue]
    """The issues reported (after the repository's waivers and Keel's severity context)."""
    config: ToolConfig
    """The configuration the run used (after any fallback)."""
    notes: list[str] = field(default_factory=list)
    """What the run dropped or could not do, in words (e.g. commit hashes not reported)."""


@dataclass(frozen=True)
class SecretsBaseline:
    """The parts of a detect-secrets baseline Keel honours."""

    known: Mapping[tuple[str, str, str], bool | None]
    """(file, hashed secret, secret type) -> ``is_secret`` as audited (None: not audited)."""
    limits: Mapping[str, float]
    """Entropy limits by plugin name (``Base64HighEntropyString``, ``HexHighEntropyString``)."""


def _read_text(root: Path, name: str) -> tuple[str | None, str | None]:
    """(text, None) for a readable file, (None, None) when absent, (None, why) when broken."""
    try:
        path = resolve_in_repo(root, name)
    except RepoPathError:
        return None, f"{name} points outside the repository"
    if not path.is_file():
        return None, None
    try:
        return path.read_bytes().decode("utf-8"), None
    except OSError as exc:
        return None, f"{name} could not be read ({exc.strerror or exc})"
    except UnicodeDecodeError:
        return None, f"{name} is not UTF-8 text"


def _read_toml(root: Path, name: str) -> tuple[dict[str, Any] | None, str | None]:
    text, error = _read_text(root, name)
    if text is None:
        return None, error
    try:
        return tomllib.loads(text), None
    except tomllib.TOMLDecodeError as exc:
        return None, f"{name} is not valid TOML ({exc})"


def _table(data: Mapping[str, Any], *keys: str) -> Any:
    value: Any = data
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _first_cause(stderr: str, root: Path) -> str:
    """The most specific line of a tool's error output, without the absolute root."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    causes = [line.removeprefix("Cause:").strip() for line in lines if line.startswith("Cause:")]
    text = (causes[-1] if causes else lines[0] if lines else "no error message")[:300]
    return text.replace(str(root.resolve()) + "/", "").replace(str(root.resolve()), ".")


# --- ruff -----------------------------------------------------------------------------


def _target_version(root: Path) -> tuple[str, str]:
    """(ruff target, where it came from) for Keel's rules: ``requires-python``'s lower bound."""
    data, error = _read_toml(root, "pyproject.toml")
    spec = _table(data or {}, "project", "requires-python")
    if not isinstance(spec, str):
        why = f"{error}; " if error else ""
        return DEFAULT_TARGET, f"{why}no requires-python lower bound"
    minors = [int(m) for m in re.findall(r"(?:>=|~=|==|>)\s*3\.(\d+)", spec)]
    if not minors:
        return DEFAULT_TARGET, f"requires-python {spec!r} names no lower bound"
    minor = min(max(max(minors), _PY_MINORS.start), _PY_MINORS.stop - 1)
    return f"py3{minor}", f"requires-python {spec!r}"


def _ruff_default(root: Path, notes: tuple[str, ...] = ()) -> ToolConfig:
    target, why = _target_version(root)
    return ToolConfig(
        tool="ruff",
        source=f"{KEEL_DEFAULT}: select {DEFAULT_SELECT}, target {target} ({why})",
        args=("--isolated", "--select", DEFAULT_SELECT, "--target-version", target)
        + _RUFF_KEEL_ARGS,
        notes=notes,
    )


def _outside(root: Path, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if value.startswith("~") or "$" in value:
        return True
    try:
        resolve_in_repo(root, value)
    except RepoPathError:
        return True
    return False


def ruff_config(root: Path) -> ToolConfig:
    """The ruff configuration for the repository at `root` (see the module docstring).

    The repository's file is used when ruff's own precedence finds one at the root
    (``.ruff.toml``, then ``ruff.toml``, then a ``pyproject.toml`` with ``[tool.ruff]``),
    it parses, its ``extend`` stays inside the repository, and ruff accepts it (checked
    with ``ruff check --show-settings``). It is passed with ``--config`` and
    ``--force-exclude``, so its rule selection, ``target-version``, per-file ignores and
    excludes apply to files named one by one too (a configuration in a subdirectory is
    not used). Otherwise Keel's default: ``--isolated`` with :data:`DEFAULT_SELECT`, a
    ``--target-version`` from ``requires-python`` (else :data:`DEFAULT_TARGET`), and
    ``keep-runtime-typing`` so no fix rewrites annotations for a newer Python.

    Raises:
        ToolMissingError: If ruff is not installed (needed to check the file).
        ToolTimeoutError: If that check runs too long.
    """
    for name in _RUFF_FILES:
        data, error = _read_toml(root, name)
        if error is not None:
            return _ruff_default(root, (f"{error}: Keel's default rules were used",))
        if data is None:
            continue
        section = _table(data, "tool", "ruff") if name == "pyproject.toml" else data
        if name == "pyproject.toml" and section is None:
            continue
        label = "pyproject.toml [tool.ruff]" if name == "pyproject.toml" else name
        if not isinstance(section, Mapping):
            note = f"{label} is not a table: Keel's default rules were used"
            return _ruff_default(root, (note,))
        if _outside(root, section.get("extend")):
            note = f"{label} extends a file outside the repository: Keel's default rules were used"
            return _ruff_default(root, (note,))
        proc = run(
            ["ruff", "check", "--no-cache", "--config", name, "--show-settings", name],
            cwd=root,
            timeout=_PROBE_TIMEOUT,
        )
        if proc.returncode != 0:
            cause = _first_cause(proc.stderr, root)
            note = f"ruff refused {label} ({cause}): Keel's default rules were used"
            return _ruff_default(root, (note,))
        return ToolConfig(
            tool="ruff", source=label, path=name, args=("--config", name, "--force-exclude")
        )
    return _ruff_default(root)


# --- bandit ---------------------------------------------------------------------------


def _bandit_ini(root: Path) -> tuple[list[str], list[str], bool]:
    """(args, notes, used) from ``.bandit``: only the keys in `_BANDIT_INI_KEYS`."""
    text, error = _read_text(root, ".bandit")
    if text is None:
        return [], [f"{error}: it was not used"] if error else [], False
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=".bandit")
    except configparser.Error as exc:
        first = str(exc).splitlines()[0][:200]
        return [], [f".bandit is not valid INI ({first}): it was not used"], False
    if not parser.has_section("bandit"):
        return [], [".bandit has no [bandit] section: it was not used"], False
    args: list[str] = []
    options = dict(parser.items("bandit"))
    for key, flag in _BANDIT_INI_KEYS.items():
        items = [v.strip() for v in options.get(key, "").split(",") if v.strip()]
        if items:
            args += [flag, ",".join(items)]
    ignored = sorted(set(options) - set(_BANDIT_INI_KEYS))
    notes = [f".bandit options not applied: {', '.join(ignored)}"] if ignored else []
    return args, notes, True


def bandit_default() -> ToolConfig:
    """Keel's bandit configuration: every bandit test, on every Python file in scope."""
    return ToolConfig(tool="bandit", source=f"{KEEL_DEFAULT}: every bandit test")


def bandit_config(root: Path) -> ToolConfig:
    """The bandit configuration for the repository at `root` (see the module docstring).

    ``[tool.bandit]`` in pyproject.toml is passed with ``-c`` when its ``exclude_dirs``,
    ``skips`` and ``tests`` are lists of strings (bandit crashes on anything else);
    ``.bandit`` is read here and only ``exclude``, ``skips`` and ``tests`` are passed on.
    ``# nosec`` comments are honoured by bandit itself. Never raises.
    """
    args: list[str] = []
    used: list[str] = []
    notes: list[str] = []
    data, error = _read_toml(root, "pyproject.toml")
    section = _table(data or {}, "tool", "bandit")
    if error is not None:
        notes.append(f"{error}: [tool.bandit] could not be read")
    elif section is not None and not isinstance(section, Mapping):
        notes.append("pyproject.toml [tool.bandit] is not a table: it was not used")
    elif section is not None:
        bad = [
            key
            for key in _BANDIT_LIST_KEYS
            if key in section
            and not (
                isinstance(section[key], list) and all(isinstance(v, str) for v in section[key])
            )
        ]
        if bad:
            notes.append(
                f"pyproject.toml [tool.bandit] {', '.join(bad)} must be a list of strings: "
                "it was not used"
            )
        else:
            args += ["-c", "pyproject.toml"]
            used.append("pyproject.toml [tool.bandit]")
    ini_args, ini_notes, ini_used = _bandit_ini(root)
    notes += ini_notes
    if ini_used:
        args += ini_args
        used.append(".bandit")
    if not used:
        return replace(bandit_default(), notes=tuple(notes))
    path = "pyproject.toml" if "-c" in args else ".bandit"
    return ToolConfig(
        tool="bandit", source=" + ".join(used), path=path, args=tuple(args), notes=tuple(notes)
    )


# --- detect-secrets -------------------------------------------------------------------


def _baseline_notes(data: Mapping[str, Any]) -> list[str]:
    notes: list[str] = []
    plugins = [p for p in data.get("plugins_used") or [] if isinstance(p, Mapping)]
    filters = [f for f in data.get("filters_used") or [] if isinstance(f, Mapping)]
    custom = [str(p.get("path")) for p in [*plugins, *filters] if p.get("path")]
    custom = [c for c in custom if not c.startswith("detect_secrets.")]
    if custom:
        notes.append(
            f"{_BASELINE}: {len(custom)} custom plugin(s)/filter(s) not loaded "
            "(they are Python files of the repository)"
        )
    named = {str(p.get("name")) for p in plugins if not p.get("path")}
    if plugins and SECRET_PLUGINS - named:
        notes.append(
            f"{_BASELINE} leaves out {len(SECRET_PLUGINS - named)} built-in detector(s); "
            "Keel runs every built-in detector"
        )
    if any(str(f.get("path", "")).startswith("detect_secrets.filters.regex.") for f in filters):
        notes.append(
            f"{_BASELINE}: regex exclusions in filters_used are not applied "
            "(known secrets and `# pragma: allowlist secret` are)"
        )
    return notes


def secrets_config(root: Path) -> tuple[ToolConfig, SecretsBaseline | None]:
    """The detect-secrets configuration for the repository at `root`.

    Honoured from ``.secrets.baseline``: its ``results`` (known secrets, matched by file,
    hashed secret and type) and the entropy ``limit`` of the two high-entropy plugins.
    Not applied: detectors it leaves out, its regex exclusions, custom plugins and
    filters (each is named in the notes). ``# pragma: allowlist secret`` is honoured by
    detect-secrets' default filters either way. Never raises.

    Args:
        root: Repository root.
    """
    default = ToolConfig(tool="detect-secrets", source=f"{KEEL_DEFAULT}: every built-in detector")
    text, error = _read_text(root, _BASELINE)
    if text is None:
        missing = (f"{error}: it was not used",) if error else ()
        return replace(default, notes=missing), None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return replace(default, notes=(f"{_BASELINE} is not valid JSON ({exc}): not used",)), None
    results = data.get("results") if isinstance(data, Mapping) else None
    if not isinstance(results, Mapping):
        note = f"{_BASELINE} is not a detect-secrets baseline (no results): it was not used"
        return replace(default, notes=(note,)), None
    known: dict[tuple[str, str, str], bool | None] = {}
    for file, entries in results.items():
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, Mapping):
                continue
            kind, hashed = entry.get("type"), entry.get("hashed_secret")
            if isinstance(kind, str) and isinstance(hashed, str):
                audited = entry.get("is_secret")
                known[(str(file), hashed, kind)] = audited if isinstance(audited, bool) else None
    limits: dict[str, float] = {}
    for plugin in data.get("plugins_used") or []:
        if isinstance(plugin, Mapping) and plugin.get("name") in _ENTROPY_PLUGINS:
            limit = plugin.get("limit")
            if isinstance(limit, int | float) and not isinstance(limit, bool):
                limits[str(plugin["name"])] = float(limit)
    notes = _baseline_notes(data)
    config = ToolConfig(
        tool="detect-secrets",
        source=f"{_BASELINE} ({len(known)} known secret(s))",
        path=_BASELINE,
        notes=tuple(notes),
    )
    return config, SecretsBaseline(known=known, limits=limits)


# --- semgrep --------------------------------------------------------------------------


def _yaml_problem(root: Path, path: Path) -> str | None:
    """Why a semgrep rule file cannot be used, or None."""
    name = path.relative_to(root.resolve()).as_posix()
    text, error = _read_text(root, name)
    if text is None:
        return error or f"{name} could not be read"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return f"{name} is not valid YAML ({first})"
    if not isinstance(data, Mapping) or not isinstance(data.get("rules"), list):
        return f"{name} has no list of rules"
    return None


def semgrep_config(root: Path) -> ToolConfig:
    """The semgrep configuration for the repository at `root`.

    Keel's rule pack always runs, on every Python file in scope, without
    ``.semgrepignore`` and with ``# nosemgrep`` disabled. The repository's own rules
    (``.semgrep.yml``, ``.semgrep.yaml`` or the ``.semgrep/`` directory, semgrep's
    conventional names) run in addition, with ``.semgrepignore`` and ``# nosemgrep``;
    rule files that are not valid YAML with a list of rules leave only Keel's pack.
    Never raises.
    """
    base = "Keel rule pack (ignores .semgrepignore and # nosemgrep)"
    notes: list[str] = []
    base_root = root.resolve()
    for name in _SEMGREP_CONFIGS:
        try:
            full = resolve_in_repo(root, name)
        except RepoPathError:
            notes.append(f"{name} points outside the repository: only Keel's rule pack ran")
            break
        if full.is_file():
            files = [full]
        elif full.is_dir():
            files = sorted(p for p in full.rglob("*") if p.suffix in (".yml", ".yaml"))
            files = [p for p in files if p.resolve().is_relative_to(base_root)]
        else:
            continue
        problems = [p for p in (_yaml_problem(root, f) for f in files) if p]
        if not files:
            problems = [f"{name} holds no rule files"]
        if problems:
            notes.append(f"{problems[0]}: only Keel's rule pack ran")
            break
        return ToolConfig(
            tool="semgrep",
            source=f"{base} + {name} (with .semgrepignore and # nosemgrep)",
            path=name,
            args=("--config", name),
        )
    return ToolConfig(tool="semgrep", source=base, notes=tuple(notes))


# --- all ------------------------------------------------------------------------------


def describe(root: Path) -> dict[str, dict[str, Any]]:
    """Which configuration each analyzer uses in the repository at `root`, for the report.

    Returns:
        ``{tool: {"source", "path", "notes"}}`` for ruff, bandit, detect-secrets and
        semgrep. Never raises: a tool whose configuration cannot be determined (ruff not
        installed, say) says so in its notes.
    """
    resolvers = {
        "ruff": ruff_config,
        "bandit": bandit_config,
        "detect-secrets": lambda r: secrets_config(r)[0],
        "semgrep": semgrep_config,
    }
    out: dict[str, dict[str, Any]] = {}
    for tool, resolve in resolvers.items():
        try:
            out[tool] = resolve(root).as_dict()
        except (OSError, RuntimeError) as exc:
            out[tool] = {"source": "unknown", "path": None, "notes": [f"not determined: {exc}"]}
    return out
