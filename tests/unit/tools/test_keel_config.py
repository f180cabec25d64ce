"""Per-repository Keel configuration: parsing, validation, Keel's own limits, reading."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.tools.git import EMPTY_TREE
from keel.tools.keel_config import (
    KeelConfig,
    KeelConfigError,
    Team,
    effective_review,
    load,
    load_for_task,
    parse_file,
)
from tests.support.gitrepo import commit_files, git, init_repo

TEAM = Team(names=("security", "style", "correctness"), always_on=("security",))

FULL = """
[project]
name = "x"

[tool.keel]
exclude = ["vendor", "docs/*.py"]
specialists = { style = false, correctness = true }

[[tool.keel.severity]]
rule = "B101"
path = "tests/*"
severity = "info"

[[tool.keel.severity]]
rule = "E5*"
severity = "low"

[[tool.keel.severity]]
path = "legacy/*"
severity = "info"

[tool.keel.review]
min_severity = "medium"
sensitive_paths = ["billing/*"]
sample_rate = 0.25
"""


def _parse(text: str, name: str = "pyproject.toml") -> KeelConfig | None:
    return parse_file(name, text, team=TEAM)


def _error(text: str, name: str = "pyproject.toml") -> str:
    with pytest.raises(KeelConfigError) as info:
        _parse(text, name)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_full_configuration_is_read_and_summarised() -> None:
    config = _parse(FULL)
    assert config is not None
    assert config.file == "pyproject.toml" and config.key == "tool.keel"
    assert config.exclude == ("vendor", "docs/*.py")
    assert config.off == {"style"}
    assert (config.min_severity, config.sample_rate) == ("medium", 0.25)
    assert config.sensitive_paths == ("billing/*",)
    assert config.summary() == [
        "tool.keel.exclude: vendor, docs/*.py",
        "tool.keel.severity[0]: rule B101, path tests/* -> info",
        "tool.keel.severity[1]: rule E5* -> low",
        "tool.keel.severity[2]: path legacy/* -> info",
        "tool.keel.review.min_severity: medium",
        "tool.keel.review.sensitive_paths: billing/*",
        "tool.keel.review.sample_rate: 0.25",
        "tool.keel.specialists.style: off",
        "tool.keel.specialists.correctness: on",
    ]
    assert KeelConfig.from_dict(config.as_dict()) == config  # the state's round trip


def test_no_keel_table_is_keel_defaults() -> None:
    assert _parse('[project]\nname = "x"\n') is None
    assert _parse("[tool.ruff]\nline-length = 99\n") is None
    assert _parse("[tool.ruff\nbroken") is None  # not Keel's business
    assert KeelConfig.from_dict(None) == KeelConfig()


@pytest.mark.parametrize(
    ("body", "key", "problem"),
    [
        ('exlude = ["x"]', "tool.keel.exlude", "unknown key (known: exclude, review,"),
        ("exclude = 3", "tool.keel.exclude", "must be an array of glob strings (got a number)"),
        ('exclude = ["/abs"]', "tool.keel.exclude[0]", "must be a repository-relative glob"),
        ('exclude = ["ok", "../up"]', "tool.keel.exclude[1]", "repository-relative"),
        ('exclude = ["**"]', "tool.keel.exclude[0]", "would exclude every file"),
        ('exclude = ["*"]', "tool.keel.exclude[0]", "would exclude every file"),
        ('review = { min_severity = "urgent" }', "tool.keel.review.min_severity", "got 'urgent'"),
        ("review = { sample_rate = 1.5 }", "tool.keel.review.sample_rate", "from 0 to 1"),
        ("review = { sample_rate = true }", "tool.keel.review.sample_rate", "from 0 to 1"),
        ("review = { sensitive = [] }", "tool.keel.review.sensitive", "unknown key"),
        ("review = 1", "tool.keel.review", "must be a table (got a number)"),
        ("specialists = { docs = false }", "tool.keel.specialists.docs", "unknown specialist"),
        ('specialists = { style = "no" }', "tool.keel.specialists.style", "true or false"),
        (
            "specialists = { security = false }",
            "tool.keel.specialists.security",
            "cannot be turned off by repository configuration",
        ),
        ('severity = { B101 = "low" }', "tool.keel.severity", "must be an array of tables"),
        ('[[tool.keel.severity]]\nrule = "B101"', "tool.keel.severity[0].severity", "missing"),
        ('[[tool.keel.severity]]\nseverity = "low"', "tool.keel.severity[0]", "needs a rule"),
        (
            '[[tool.keel.severity]]\nrule = "B1"\nseverity = "low"\nwhy = "x"',
            "tool.keel.severity[0].why",
            "unknown key",
        ),
        (
            '[[tool.keel.severity]]\nrule = "keel.tainted-sql"\nseverity = "low"',
            "tool.keel.severity[0].rule",
            "one of Keel's own rules",
        ),
        (
            '[[tool.keel.severity]]\nrule = "keel.reviewer-instructions"\nseverity = "high"',
            "tool.keel.severity[0].rule",
            "cannot override",
        ),
        (
            '[[tool.keel.severity]]\nrule = "detect-secrets.aws-access-key"\nseverity = "low"',
            "tool.keel.severity[0].severity",
            "provider credential format",
        ),
    ],
)
def test_a_malformed_configuration_names_the_key(body: str, key: str, problem: str) -> None:
    message = _error(f"[tool.keel]\n{body}\n")
    assert message.startswith(f"pyproject.toml: {key}: "), message
    assert problem in message


def test_keel_toml_names_keys_without_the_tool_prefix() -> None:
    assert _error("exclude = 3\n", ".keel.toml") == (
        ".keel.toml: exclude: must be an array of glob strings (got a number)"
    )
    assert _error("[tool.keel]\nexclude = []\n", ".keel.toml").startswith(
        ".keel.toml: tool: unknown key"
    )
    assert _error("not = toml = x\n", ".keel.toml").startswith(".keel.toml: not valid TOML")
    assert _error("[tool.keel\nexclude = 1\n").startswith("pyproject.toml: not valid TOML")


def test_exclusion_matches_a_file_or_one_of_its_directories() -> None:
    config = _parse('[tool.keel]\nexclude = ["vendor", "gen/*.py", "build/"]\n')
    assert config is not None
    assert config.excluded_by("vendor/a/b.py") == "vendor"
    assert config.excluded_by("gen/x.py") == "gen/*.py"
    assert config.excluded_by("build/out/x.py") == "build/"
    assert config.excluded_by("src/vendor.py") is None
    assert config.excluded_by("vendored/x.py") is None


def test_severity_overrides_within_keels_limits() -> None:
    config = _parse(FULL)
    assert config is not None
    # an exact rule lowers a security finding
    assert config.override("B101", "tests/t.py", "security", "low") == (
        "info",
        config.severity[0],
    )
    assert config.override("B101", "src/t.py", "security", "low") is None  # path differs
    # a rule glob and a path-only override change style/correctness...
    assert config.override("E501", "a.py", "style", "medium") == ("low", config.severity[1])
    assert config.override("F401", "legacy/a.py", "style", "low") == ("info", config.severity[2])
    # ...but never lower a security finding, and never touch Keel's own rules
    assert config.override("B602", "legacy/a.py", "security", "high") is None
    assert config.override("keel.tainted-sql", "legacy/a.py", "security", "high") is None
    raising = _parse(
        '[tool.keel]\n[[tool.keel.severity]]\npath = "legacy/*"\nseverity = "critical"\n'
    )
    assert raising is not None
    assert raising.override("B602", "legacy/a.py", "security", "high") == (
        "critical",
        raising.severity[0],
    )
    assert raising.override("keel.reviewer-instructions", "legacy/a", "security", "medium") is None
    provider = _parse(
        '[tool.keel]\n[[tool.keel.severity]]\nrule = "detect-secrets.*"\nseverity = "low"\n'
    )
    assert provider is not None
    assert provider.override("detect-secrets.aws-access-key", "a.py", "security", "high") is None
    entropy = "detect-secrets.hex-high-entropy-string"
    assert provider.override(entropy, "a.py", "security", "high") is None  # a glob: no lowering
    assert provider.override(entropy, "a.py", "style", "high") == ("low", provider.severity[0])


def test_the_review_policy_only_tightens() -> None:
    strict = _parse(FULL)
    assert strict is not None
    assert effective_review(
        strict, min_severity="high", sample_rate=0.0, sensitive_paths=("*auth*",)
    ) == ("medium", 0.25, ("*auth*", "billing/*"), [])
    loose = _parse('[tool.keel]\nreview = { min_severity = "critical", sample_rate = 0.0 }\n')
    assert loose is not None
    severity, rate, paths, notes = effective_review(
        loose, min_severity="high", sample_rate=0.1, sensitive_paths=()
    )
    assert (severity, rate, paths) == ("high", 0.1, ())
    assert notes == [
        "tool.keel.review.min_severity critical not applied: looser than Keel's high "
        "(a repository may only lower it)",
        "tool.keel.review.sample_rate 0 not applied: below Keel's 0.1 (a repository may "
        "only raise it)",
    ]


# ------------------------------------------------------------------ reading


def _repo(tmp_path: Path, files: dict[str, str]) -> Path:
    root = init_repo(tmp_path / "repo")
    commit_files(root, files, "one")
    return root


def test_keel_toml_wins_over_pyproject(tmp_path: Path) -> None:
    root = _repo(
        tmp_path,
        {
            ".keel.toml": 'exclude = ["a"]\n',
            "pyproject.toml": '[tool.keel]\nexclude = ["b"]\n',
        },
    )
    config = load(root, None, team=TEAM)
    assert (config.file, config.key, config.exclude) == (".keel.toml", "", ("a",))
    assert config.notes == ("pyproject.toml [tool.keel] ignored: .keel.toml takes precedence",)
    assert config.where() == ".keel.toml (work tree)"
    head = git(root, "rev-parse", "HEAD").strip()
    at_head = load(root, head, team=TEAM)
    assert at_head.revision == head and at_head.where() == f".keel.toml at {head[:12]}"


def test_a_review_reads_the_configuration_from_before_the_change(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"pyproject.toml": '[tool.keel]\nexclude = ["vendor"]\n'})
    base = git(root, "rev-parse", "HEAD").strip()
    commit_files(root, {"pyproject.toml": '[tool.keel]\nexclude = ["src"]\n'}, "two")
    head = git(root, "rev-parse", "HEAD").strip()
    config = load_for_task(root, mode="review", base=base, head=head, team=TEAM)
    assert config.exclude == ("vendor",)  # the change cannot exclude itself
    (note,) = config.notes
    assert note.startswith("the change edits Keel's configuration (pyproject.toml [tool.keel] at")
    assert "the new one applies to later reviews" in note
    assert load_for_task(root, mode="audit", team=TEAM).exclude == ("src",)  # the work tree
    # an unchanged configuration says nothing; a broken new one says why
    commit_files(root, {"a.py": "x = 1\n"}, "three")
    same = load_for_task(
        root, mode="review", base=head, head=git(root, "rev-parse", "HEAD").strip()
    )
    assert same.notes == ()
    commit_files(root, {"pyproject.toml": "[tool.keel]\nexclude = 1\n"}, "four")
    last = git(root, "rev-parse", "HEAD").strip()
    broken = load_for_task(root, mode="review", base=f"{last}~1", head=last, team=TEAM)
    assert broken.exclude == ("src",)
    assert (
        "fails validation: pyproject.toml: tool.keel.exclude: must be an array" in broken.notes[0]
    )
    with pytest.raises(KeelConfigError, match=r"tool\.keel\.exclude"):
        load_for_task(root, mode="audit", team=TEAM)


def test_a_staged_review_reads_head_and_notes_a_staged_edit(tmp_path: Path) -> None:
    root = _repo(tmp_path, {".keel.toml": 'exclude = ["a"]\n'})
    (root / ".keel.toml").write_text('exclude = ["b"]\n', encoding="utf-8")
    assert load_for_task(root, mode="review", staged=True, team=TEAM).notes == ()  # unstaged
    git(root, "add", ".keel.toml")
    config = load_for_task(root, mode="review", staged=True, team=TEAM)
    assert config.exclude == ("a",) and "the change edits Keel's configuration" in config.notes[0]


def test_a_first_commit_has_no_configuration_before_it(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"pyproject.toml": "[tool.keel]\nexclude = 1\n"})
    head = git(root, "rev-parse", "HEAD").strip()
    assert load_for_task(root, mode="review", base=EMPTY_TREE, head=head) == KeelConfig()


def test_a_symlinked_configuration_is_not_read(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    (tmp_path / "elsewhere.toml").write_text("exclude = 1\n", encoding="utf-8")
    (root / ".keel.toml").symlink_to(tmp_path / "elsewhere.toml")
    commit_files(root, {"a.py": "x = 1\n"}, "one")
    assert load(root, None) == KeelConfig()
    assert load(root, git(root, "rev-parse", "HEAD").strip()) == KeelConfig()
