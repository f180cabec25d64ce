"""Per-repository Keel configuration: `.keel.toml`, or `[tool.keel]` in `pyproject.toml`.

What a repository may set (the README's table says the same)::

    [tool.keel]                      # in .keel.toml the same keys sit at the top level
    exclude = ["vendor/**", "legacy"]        # globs: a file, or one of its directories
    specialists = { style = false }          # on or off, by name

    [[tool.keel.severity]]                   # first match wins; rule and/or path
    rule = "B101"
    path = "tests/*"
    severity = "info"

    [tool.keel.review]
    min_severity = "medium"                  # findings at or above it need a human
    sensitive_paths = ["billing/*"]          # findings here need a human
    sample_rate = 0.1                        # share of clean runs sent to a human

Contract:

* **Validation is strict and says where.** Unknown keys, wrong types and values out of
  range raise `KeelConfigError` with one line naming the file and the key
  (``pyproject.toml: tool.keel.review.min_severity: must be one of info, low, medium,
  high, critical (got 'urgent')``). A `pyproject.toml` that is not valid TOML is an
  error only when it holds a ``[tool.keel`` table (else it is not Keel's business).
* **Which file, and from where.** ``.keel.toml`` wins over ``[tool.keel]`` (a note says
  the other was ignored). A review of a range reads the configuration of the range's
  *base*, a staged review that of HEAD, an audit that of the work tree: a change is
  reviewed under the rules that were in place before it, so it cannot exclude itself
  or loosen its own review (as PR-Agent reads `.pr_agent.toml` from the default branch).
  A change that edits the configuration gets a note, with the new version's validation
  error if it has one.
* **Keel's own checks are outside the repository's reach** (a refused setting is an
  error, never silently dropped):
  * the security specialist cannot be turned off (`Team.always_on`);
  * Keel's own rules (``keel.*``: its semgrep pack and the reviewer-instructions
    tripwire) cannot be overridden, and no glob or path override applies to them;
  * a provider credential format (an AWS key, a GitHub token, …) cannot be lowered;
  * other security findings are lowered only by an override that names their rule
    exactly (a path-only or wildcard override may raise them, never lower them);
  * an exclusion matching every path is refused, and excluded files are still read by
    the reviewer-instructions tripwire;
  * the review policy only tightens Keel's own (`effective_review`): a lower
    ``min_severity``, a higher ``sample_rate``, more ``sensitive_paths``. A looser value
    is not applied and the report says so.

Parsing (`parse_table`, `parse_file`) is pure; `load` and `load_for_task` read the file
from the work tree, the index or a commit with git.
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Final

from keel.core.vocabulary import SEVERITIES, Severity
from keel.tools import git
from keel.tools.secrets import secret_rule
from keel.tools.severity_context import PROVIDER_SECRET_TYPES

__all__ = [
    "CONFIG_FILES",
    "KEEL_RULE_PREFIX",
    "KeelConfig",
    "KeelConfigError",
    "SeverityOverride",
    "Team",
    "effective_review",
    "load",
    "load_for_task",
    "parse_file",
    "parse_table",
]

CONFIG_FILES: Final = (".keel.toml", "pyproject.toml")
"""Where Keel looks, in order of precedence."""

KEEL_RULE_PREFIX: Final = "keel."
"""Rule ids of Keel's own checks (semgrep pack, reviewer-instructions tripwire)."""

_SEVERITIES: Final[tuple[Severity, ...]] = SEVERITIES
_RANK: Final[dict[str, int]] = {s: i for i, s in enumerate(_SEVERITIES)}
_TOP_KEYS: Final = ("exclude", "review", "severity", "specialists")
_REVIEW_KEYS: Final = ("min_severity", "sample_rate", "sensitive_paths")
_OVERRIDE_KEYS: Final = ("path", "rule", "severity")
_MAX_BYTES: Final = 1_000_000
_EVERYTHING_PROBES: Final = ("a", "a.py", ".a", "a/b.py", "a/b/c/d.txt", "A/.b/C.md")
"""An exclusion that matches all of these would exclude every file."""
_PROVIDER_RULES: Final = frozenset(secret_rule(t) for t in PROVIDER_SECRET_TYPES)


class KeelConfigError(ValueError):
    """The repository's Keel configuration is malformed; the message names file and key."""


@dataclass(frozen=True)
class Team:
    """The specialists a configuration may name, and those it may not turn off."""

    names: tuple[str, ...]
    """Every specialist's name."""
    always_on: tuple[str, ...] = ()
    """Specialists a repository cannot turn off (the security specialist)."""


@dataclass(frozen=True)
class SeverityOverride:
    """One ``[[tool.keel.severity]]`` entry."""

    severity: Severity
    """The severity to report."""
    rule: str | None = None
    """A rule id, or a glob over rule ids (``E5*``); None: any rule."""
    path: str | None = None
    """A glob over repository-relative paths; None: any path."""
    key: str = ""
    """Where it is written, for the report (``tool.keel.severity[0]``)."""

    def matches(self, rule: str, file: str) -> bool:
        """Whether the override names this rule and path (before Keel's own limits)."""
        if self.rule is not None and not fnmatch.fnmatchcase(rule, self.rule):
            return False
        return self.path is None or _path_matches(self.path, file)

    def describe(self) -> str:
        """``rule B101, path tests/* -> info``."""
        what = [f"rule {self.rule}"] if self.rule else []
        what += [f"path {self.path}"] if self.path else []
        return f"{', '.join(what)} -> {self.severity}"


@dataclass(frozen=True)
class KeelConfig:
    """A repository's validated Keel configuration (empty: Keel's defaults)."""

    file: str | None = None
    """The file used (``.keel.toml`` or ``pyproject.toml``); None: none found."""
    key: str = ""
    """The table's key prefix in error messages and the report (``tool.keel`` or "")."""
    revision: str | None = None
    """The commit it was read from; None: the work tree (an audit) or no file."""
    exclude: tuple[str, ...] = ()
    """Excluded globs, as written."""
    severity: tuple[SeverityOverride, ...] = ()
    """Severity overrides, in order (the first that applies wins)."""
    min_severity: Severity | None = None
    """The repository's review threshold (only a lower one than Keel's applies)."""
    sensitive_paths: tuple[str, ...] = ()
    """Globs added to Keel's sensitive paths."""
    sample_rate: float | None = None
    """The repository's review sample rate (only a higher one than Keel's applies)."""
    specialists: Mapping[str, bool] = field(default_factory=dict)
    """Specialists turned on or off by name (absent: on)."""
    notes: tuple[str, ...] = ()
    """What the reader should know: a file ignored, a change that edits the config."""

    @property
    def off(self) -> frozenset[str]:
        """The specialists turned off."""
        return frozenset(name for name, on in self.specialists.items() if not on)

    def where(self) -> str:
        """The file and table, for the report (``pyproject.toml [tool.keel] at abc123``)."""
        if self.file is None:
            return "none"
        table = f" [{self.key}]" if self.key else ""
        at = f" at {self.revision[:12]}" if self.revision else " (work tree)"
        return f"{self.file}{table}{at}"

    def excluded_by(self, path: str) -> str | None:
        """The exclusion glob matching `path` or one of its directories, or None."""
        return next((glob for glob in self.exclude if _path_matches(glob, path)), None)

    def override(
        self, rule: str, file: str, category: str, severity: str
    ) -> tuple[Severity, SeverityOverride] | None:
        """The severity the configuration gives a finding, and the override that gives it.

        None when no override applies, or the one that matches gives the same severity.
        Keel's own rules are never overridden; a provider credential format is never
        lowered; a security finding is lowered only by an override naming its rule
        exactly (see the module docstring).
        """
        if rule.startswith(KEEL_RULE_PREFIX):
            return None
        for entry in self.severity:
            if not entry.matches(rule, file):
                continue
            lowers = _RANK[entry.severity] < _RANK.get(severity, 0)
            if lowers and rule in _PROVIDER_RULES:
                continue
            if lowers and category == "security" and entry.rule != rule:
                continue
            if entry.severity == severity:
                return None
            return entry.severity, entry
        return None

    def summary(self) -> list[str]:
        """What the configuration set, one line each (for the report)."""
        prefix = f"{self.key}." if self.key else ""
        lines = [f"{prefix}exclude: {', '.join(self.exclude)}"] if self.exclude else []
        lines += [f"{e.key}: {e.describe()}" for e in self.severity]
        if self.min_severity is not None:
            lines.append(f"{prefix}review.min_severity: {self.min_severity}")
        if self.sensitive_paths:
            lines.append(f"{prefix}review.sensitive_paths: {', '.join(self.sensitive_paths)}")
        if self.sample_rate is not None:
            lines.append(f"{prefix}review.sample_rate: {self.sample_rate:g}")
        lines += [
            f"{prefix}specialists.{name}: {'on' if on else 'off'}"
            for name, on in self.specialists.items()
        ]
        return lines

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form (kept in the thread's state, shown in the report)."""
        return {
            "file": self.file,
            "key": self.key,
            "revision": self.revision,
            "where": self.where(),
            "exclude": list(self.exclude),
            "severity": [
                {"rule": e.rule, "path": e.path, "severity": e.severity, "key": e.key}
                for e in self.severity
            ],
            "review": {
                "min_severity": self.min_severity,
                "sensitive_paths": list(self.sensitive_paths),
                "sample_rate": self.sample_rate,
            },
            "specialists": dict(self.specialists),
            "set": self.summary(),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> KeelConfig:
        """Rebuild what `as_dict` wrote (None or {}: Keel's defaults)."""
        if not data:
            return cls()
        review = data.get("review") or {}
        return cls(
            file=data.get("file"),
            key=str(data.get("key") or ""),
            revision=data.get("revision"),
            exclude=tuple(data.get("exclude") or ()),
            severity=tuple(
                SeverityOverride(
                    severity=e["severity"], rule=e.get("rule"), path=e.get("path"), key=e["key"]
                )
                for e in data.get("severity") or ()
            ),
            min_severity=review.get("min_severity"),
            sensitive_paths=tuple(review.get("sensitive_paths") or ()),
            sample_rate=review.get("sample_rate"),
            specialists=dict(data.get("specialists") or {}),
            notes=tuple(data.get("notes") or ()),
        )


def _path_matches(glob: str, path: str) -> bool:
    """`glob` matches `path` or one of its directories (``vendor`` excludes ``vendor/x``)."""
    glob = glob.rstrip("/")
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]
    return any(fnmatch.fnmatchcase(c, glob) for c in candidates)


def effective_review(
    config: KeelConfig, *, min_severity: str, sample_rate: float, sensitive_paths: Sequence[str]
) -> tuple[str, float, tuple[str, ...], list[str]]:
    """Keel's review policy tightened by the repository's (never loosened).

    Returns:
        (minimum severity, sample rate, sensitive paths, notes on what was not applied).
    """
    notes: list[str] = []
    prefix = f"{config.key}." if config.key else ""
    chosen = min_severity
    if config.min_severity is not None:
        if _RANK[config.min_severity] <= _RANK.get(min_severity, _RANK["high"]):
            chosen = config.min_severity
        else:
            notes.append(
                f"{prefix}review.min_severity {config.min_severity} not applied: looser than "
                f"Keel's {min_severity} (a repository may only lower it)"
            )
    rate = sample_rate
    if config.sample_rate is not None:
        if config.sample_rate >= sample_rate:
            rate = config.sample_rate
        else:
            notes.append(
                f"{prefix}review.sample_rate {config.sample_rate:g} not applied: below "
                f"Keel's {sample_rate:g} (a repository may only raise it)"
            )
    paths = tuple(dict.fromkeys([*sensitive_paths, *config.sensitive_paths]))
    return chosen, rate, paths, notes


# ------------------------------------------------------------------ validation


def _type_name(value: object) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string"}.get(
        type(value), "a table" if isinstance(value, Mapping) else "an array"
    )


def _fail(file: str, key: str, problem: str) -> KeelConfigError:
    return KeelConfigError(f"{file}: {key}: {problem}")


def _unknown(file: str, key: str, table: Mapping[str, Any], known: Sequence[str]) -> None:
    for name in table:
        if name not in known:
            raise _fail(
                file, f"{key}.{name}".lstrip("."), f"unknown key (known: {', '.join(known)})"
            )


def _glob(file: str, key: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(file, key, f"must be a non-empty glob string (got {_type_name(value)})")
    posix = PurePosixPath(value.replace("\\", "/"))
    if posix.is_absolute() or ".." in posix.parts:
        raise _fail(file, key, f"must be a repository-relative glob (got {value!r})")
    return value


def _globs(file: str, key: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _fail(file, key, f"must be an array of glob strings (got {_type_name(value)})")
    return tuple(_glob(file, f"{key}[{i}]", item) for i, item in enumerate(value))


def _severity(file: str, key: str, value: object) -> Severity:
    for severity in _SEVERITIES:
        if value == severity:
            return severity
    raise _fail(file, key, f"must be one of {', '.join(_SEVERITIES)} (got {value!r})")


def _table_at(file: str, key: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(file, key, f"must be a table (got {_type_name(value)})")
    return value


def _exclude(file: str, key: str, value: object) -> tuple[str, ...]:
    globs = _globs(file, key, value)
    for i, glob in enumerate(globs):
        if all(_path_matches(glob, probe) for probe in _EVERYTHING_PROBES):
            raise _fail(
                file, f"{key}[{i}]", f"{glob!r} would exclude every file; name what to exclude"
            )
    return globs


def _specialists(file: str, key: str, value: object, team: Team | None) -> dict[str, bool]:
    table = _table_at(file, key, value)
    chosen: dict[str, bool] = {}
    for name, on in table.items():
        where = f"{key}.{name}"
        if team is not None and name not in team.names:
            raise _fail(file, where, f"unknown specialist (known: {', '.join(team.names)})")
        if not isinstance(on, bool):
            raise _fail(file, where, f"must be true or false (got {_type_name(on)})")
        if not on and team is not None and name in team.always_on:
            raise _fail(
                file,
                where,
                f"the {name} specialist cannot be turned off by repository configuration "
                "(Keel's security rules and the reviewer-instructions tripwire always run)",
            )
        chosen[name] = on
    return chosen


def _override(file: str, key: str, value: object) -> SeverityOverride:
    table = _table_at(file, key, value)
    _unknown(file, key, table, _OVERRIDE_KEYS)
    if "severity" not in table:
        raise _fail(file, f"{key}.severity", "missing: each override names the severity to report")
    severity = _severity(file, f"{key}.severity", table["severity"])
    rule = table.get("rule")
    if rule is not None:
        if not isinstance(rule, str) or not rule.strip():
            raise _fail(file, f"{key}.rule", f"must be a non-empty rule id (got {rule!r})")
        if rule.startswith(KEEL_RULE_PREFIX):
            raise _fail(
                file,
                f"{key}.rule",
                f"{rule!r} is one of Keel's own rules, which repository configuration "
                "cannot override",
            )
        if rule in _PROVIDER_RULES and _RANK[severity] < _RANK["high"]:
            raise _fail(
                file,
                f"{key}.severity",
                f"{rule} is a provider credential format; repository configuration cannot lower it",
            )
    path = _glob(file, f"{key}.path", table["path"]) if "path" in table else None
    if rule is None and path is None:
        raise _fail(file, key, "needs a rule, a path or both")
    return SeverityOverride(severity=severity, rule=rule, path=path, key=key)


def _review(file: str, key: str, value: object) -> dict[str, Any]:
    table = _table_at(file, key, value)
    _unknown(file, key, table, _REVIEW_KEYS)
    out: dict[str, Any] = {}
    if "min_severity" in table:
        out["min_severity"] = _severity(file, f"{key}.min_severity", table["min_severity"])
    if "sensitive_paths" in table:
        out["sensitive_paths"] = _globs(file, f"{key}.sensitive_paths", table["sensitive_paths"])
    if "sample_rate" in table:
        rate = table["sample_rate"]
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise _fail(file, f"{key}.sample_rate", f"must be a number from 0 to 1 (got {rate!r})")
        out["sample_rate"] = float(rate)
    return out


def parse_table(
    table: Mapping[str, Any],
    *,
    file: str,
    key: str,
    team: Team | None = None,
    revision: str | None = None,
    notes: Sequence[str] = (),
) -> KeelConfig:
    """Validate Keel's table (the ``[tool.keel]`` table, or a whole ``.keel.toml``).

    Args:
        table: The parsed table.
        file: The file it came from (for messages).
        key: Its key prefix, ``tool.keel`` or "" (for messages).
        team: The specialists; None skips the checks of their names.
        revision: The commit the file was read from (None: the work tree).
        notes: Notes to carry (e.g. a file ignored).

    Raises:
        KeelConfigError: the first problem, naming the key.
    """
    prefix = f"{key}." if key else ""
    _unknown(file, key, table, _TOP_KEYS)
    severity: list[SeverityOverride] = []
    if "severity" in table:
        entries = table["severity"]
        if not isinstance(entries, list):
            raise _fail(
                file,
                f"{prefix}severity",
                f"must be an array of tables ([[{prefix}severity]] with rule and/or path and "
                f"severity), got {_type_name(entries)}",
            )
        severity = [
            _override(file, f"{prefix}severity[{i}]", entry) for i, entry in enumerate(entries)
        ]
    review = _review(file, f"{prefix}review", table["review"]) if "review" in table else {}
    return KeelConfig(
        file=file,
        key=key,
        revision=revision,
        exclude=_exclude(file, f"{prefix}exclude", table["exclude"]) if "exclude" in table else (),
        severity=tuple(severity),
        min_severity=review.get("min_severity"),
        sensitive_paths=review.get("sensitive_paths", ()),
        sample_rate=review.get("sample_rate"),
        specialists=_specialists(file, f"{prefix}specialists", table["specialists"], team)
        if "specialists" in table
        else {},
        notes=tuple(notes),
    )


def _keel_table(name: str, text: str) -> tuple[Mapping[str, Any] | None, str]:
    """Keel's table in a file's text (None: the file has none), and its key prefix.

    Raises:
        KeelConfigError: not valid TOML (a `pyproject.toml` only when it mentions
            ``[tool.keel``).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        if name == "pyproject.toml" and "[tool.keel" not in text:
            return None, "tool.keel"
        raise KeelConfigError(f"{name}: not valid TOML ({exc})") from None
    if name != "pyproject.toml":
        return data, ""
    tool = data.get("tool")
    if not isinstance(tool, Mapping) or "keel" not in tool:
        return None, "tool.keel"
    return _table_at(name, "tool.keel", tool["keel"]), "tool.keel"


def parse_file(
    name: str,
    text: str,
    *,
    team: Team | None = None,
    revision: str | None = None,
    notes: Sequence[str] = (),
) -> KeelConfig | None:
    """Parse one candidate file's text; None when it holds no Keel table.

    Raises:
        KeelConfigError: malformed, naming the key.
    """
    table, key = _keel_table(name, text)
    if table is None:
        return None
    return parse_table(table, file=name, key=key, team=team, revision=revision, notes=notes)


# ------------------------------------------------------------------ reading


_REGULAR: Final = ("100644", "100755")
"""git modes of regular files (a symlinked or missing config file is not read)."""


def _read(root: Path, where: str | None, name: str) -> str | None:
    """A candidate file's text, or None when it is not there (or not a regular file).

    Args:
        root: Repository root.
        where: A commit id; "" the index; None the work tree.
        name: The file name at the root.

    Raises:
        KeelConfigError: the file is over 1 MB, unreadable or not UTF-8.
    """
    if where is None:
        path = root / name
        if path.is_symlink() or not path.is_file():
            return None
        try:
            if path.stat().st_size > _MAX_BYTES:
                raise KeelConfigError(f"{name}: over {_MAX_BYTES:,} bytes, not read")
            data = path.read_bytes()
        except OSError as exc:
            raise KeelConfigError(f"{name}: cannot be read ({exc.strerror or exc})") from None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise KeelConfigError(f"{name}: not UTF-8 text") from None
    if where:
        entry = git.command(root, "ls-tree", where, "--", name)
    else:
        entry = git.command(root, "ls-files", "-s", "--", name)
    if entry.split(" ", 1)[0] not in _REGULAR:
        return None
    size = git.command(root, "cat-file", "-s", f"{where}:{name}").strip()
    if int(size or 0) > _MAX_BYTES:
        raise KeelConfigError(f"{name}: over {_MAX_BYTES:,} bytes, not read")
    return git.command(root, "show", f"{where}:{name}")


def load(root: Path, where: str | None = None, *, team: Team | None = None) -> KeelConfig:
    """The repository's Keel configuration (Keel's defaults when it has none).

    Args:
        root: Repository root.
        where: A commit id; "" the index; None the work tree.
        team: The specialists, for the checks of their names.

    Raises:
        KeelConfigError: the file used is malformed (naming the file and the key).
        GitError: git cannot read `where`.
    """
    chosen: tuple[str, Mapping[str, Any], str] | None = None
    notes: list[str] = []
    for name in CONFIG_FILES:
        text = _read(root, where, name)
        if text is None:
            continue
        if chosen is not None:
            try:
                table, key = _keel_table(name, text)
            except KeelConfigError:
                table, key = {}, "tool.keel"
            if table is not None:
                notes.append(f"{name} [{key}] ignored: {chosen[0]} takes precedence")
            continue
        table, key = _keel_table(name, text)
        if table is not None:
            chosen = (name, table, key)
    if chosen is None:
        return KeelConfig()
    name, table, key = chosen
    return parse_table(table, file=name, key=key, team=team, revision=where or None, notes=notes)


def _settings(config: KeelConfig) -> dict[str, Any]:
    """What a configuration sets, whatever commit it was read from."""
    return {k: v for k, v in config.as_dict().items() if k not in ("revision", "where", "notes")}


def _change_note(root: Path, before: KeelConfig, after_where: str | None, team: Team | None) -> str:
    """A note when the change edits the configuration ("" when it does not)."""
    try:
        after = load(root, after_where, team=team)
    except KeelConfigError as exc:
        return (
            "the change edits Keel's configuration; this review applies the configuration "
            f"from before it, and the new one fails validation: {exc}"
        )
    if _settings(after) == _settings(before):
        return ""
    return (
        f"the change edits Keel's configuration ({after.where()}); this review applies "
        f"the configuration from before it ({before.where()}); the new one applies to later "
        "reviews"
    )


def load_for_task(
    root: Path,
    *,
    mode: str,
    staged: bool = False,
    base: str | None = None,
    head: str | None = None,
    team: Team | None = None,
) -> KeelConfig:
    """The configuration a task is reviewed under (see the module docstring).

    Args:
        root: Repository root.
        mode: ``review`` or ``audit``.
        staged: A staged review (reads HEAD; compares with the index).
        base: A range's base commit (``git.EMPTY_TREE``: nothing before the change).
        head: A range's head commit (None: compare with the work tree).
        team: The specialists, for the checks of their names.

    Raises:
        KeelConfigError: malformed, naming the file and the key.
        GitError: git cannot read a commit.
    """
    if mode == "audit":
        return load(root, None, team=team)
    before_where: str
    after_where: str | None
    if staged:
        try:
            before_where, after_where = git.head_sha(root), ""
        except git.GitError:
            return KeelConfig(notes=("the repository has no commits yet: Keel's defaults apply",))
    elif base is None or base == git.EMPTY_TREE:
        return KeelConfig()
    else:
        before_where, after_where = base, head
    before = load(root, before_where, team=team)
    note = _change_note(root, before, after_where, team)
    return replace(before, notes=(*before.notes, note)) if note else before
