"""The kinds of flaw the real-world set is graded by, and the kind of a reported finding.

A case names one kind (its `category`); a finding counts for it only when it is a
security finding of the same kind on the flawed lines. A bandit "subprocess call" note on
the line of an SQL injection is on the line but of the wrong kind, and does not count.

The kind of a finding comes, in this order, from its rule id (bandit and ruff test ids;
Keel's semgrep rules, whose `metadata.vulnerability_class` in the rule pack names it;
detect-secrets), from a CWE number in its title, then from words in its rule and title
(for a model's own findings). A finding none of these place has no
kind and counts for nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from keel.tools.severity_class import pack_classes

__all__ = ["KINDS", "finding_kind"]

KINDS: Final = (
    "command-injection",
    "argument-injection",
    "sql-injection",
    "path-traversal",
    "archive-extraction",
    "xxe",
    "deserialization",
    "code-eval",
    "template-injection",
    "ssrf",
    "tls-verification",
    "weak-crypto",
    "weak-random",
    "timing-compare",
    "jwt-verification",
    "hardcoded-secret",
    "insecure-tempfile",
    "logic",
)
"""Every case category, in the order the report lists them."""

_BANDIT: Final[dict[str, str]] = {
    **dict.fromkeys(("102", "307"), "code-eval"),
    **dict.fromkeys(("108", "306"), "insecure-tempfile"),
    **dict.fromkeys(("105", "106", "107"), "hardcoded-secret"),
    "202": "archive-extraction",
    **dict.fromkeys(("301", "302", "403", "506", "614"), "deserialization"),
    **dict.fromkeys(("303", "304", "305", "324", "413", "505"), "weak-crypto"),
    "310": "ssrf",
    "311": "weak-random",
    **dict.fromkeys(
        ("313", "314", "315", "316", "317", "318", "319", "320", "405", "406", "407"),
        "xxe",
    ),
    **dict.fromkeys(("408", "409", "410"), "xxe"),
    **dict.fromkeys(("323", "501", "502", "503", "504", "507"), "tls-verification"),
    **dict.fromkeys(("601", "602", "604", "605", "609"), "command-injection"),
    **dict.fromkeys(("608", "610", "611"), "sql-injection"),
}
"""Bandit test numbers (ruff's flake8-bandit `S` codes share them) by kind.

Left out on purpose: B603/B606/B607 (a subprocess call, whatever its data), B701-B704
(cross-site scripting, not a kind of this set), B104, B110, B113 and the other hygiene
checks."""


_KEEL: Final = {
    rule: c.vulnerability_class
    for rule, c in pack_classes().items()
    if c.vulnerability_class in KINDS
}
"""Keel's semgrep rules by kind: the pack's `metadata.vulnerability_class` is the one source
(`keel.subprocess-without-timeout` and other non-security rules have none)."""

_CWE: Final[dict[int, str]] = {
    22: "path-traversal",
    23: "path-traversal",
    36: "path-traversal",
    73: "path-traversal",
    77: "command-injection",
    78: "command-injection",
    88: "argument-injection",
    89: "sql-injection",
    94: "code-eval",
    95: "code-eval",
    1336: "template-injection",
    611: "xxe",
    776: "xxe",
    502: "deserialization",
    918: "ssrf",
    295: "tls-verification",
    297: "tls-verification",
    326: "weak-crypto",
    327: "weak-crypto",
    328: "weak-crypto",
    916: "weak-crypto",
    330: "weak-random",
    338: "weak-random",
    208: "timing-compare",
    347: "jwt-verification",
    259: "hardcoded-secret",
    321: "hardcoded-secret",
    798: "hardcoded-secret",
    377: "insecure-tempfile",
    379: "insecure-tempfile",
}
"""CWE numbers by kind, for tools that name a CWE and rules this module does not list."""

_WORDS: Final = (
    (r"argument injection|option injection|end-of-options|without `?--`?", "argument-injection"),
    (r"command injection|shell injection|os\.system|shell=true", "command-injection"),
    (r"sql", "sql-injection"),
    (r"tar ?file|zip ?slip|extractall", "archive-extraction"),
    (r"path traversal|directory traversal|\.\./", "path-traversal"),
    (r"xxe|external entit|xml", "xxe"),
    (r"pickle|unpickl|deserializ|yaml\.load|marshal|shelve", "deserialization"),
    (r"template injection|ssti|sandbox", "template-injection"),
    (r"\beval\b|\bexec\b|code injection", "code-eval"),
    (r"ssrf|server-side request", "ssrf"),
    (r"verify ?= ?false|certificate|tls|ssl", "tls-verification"),
    (r"timing|constant[- ]time|compare_digest", "timing-compare"),
    (r"jwt|signature", "jwt-verification"),
    (r"md5|sha1|weak (hash|crypt)", "weak-crypto"),
    (r"random", "weak-random"),
    (r"hard-?coded|secret key|password|credential|api key|token", "hardcoded-secret"),
    (r"mktemp|temporary file", "insecure-tempfile"),
)
"""Last resort, for a model's own findings: the first pattern found in rule + title."""

_TEST_ID = re.compile(r"^(?:B|S)(\d{3})$")
_CWE_REF = re.compile(r"CWE-(\d+)")
_TOOL_CODE = re.compile(r"^[A-Z]{1,4}\d{2,4}$")


def finding_kind(finding: Mapping[str, Any]) -> str | None:
    """The kind of a reported finding, or None when nothing places it.

    Args:
        finding: A report finding (or an analyzer issue): `rule`, `title` or `message`.

    Returns:
        One of `KINDS` (never "logic": no finding is graded as a logic bug), or None.
    """
    rule = str(finding.get("rule") or "")
    text = str(finding.get("title") or finding.get("message") or "")
    test = _TEST_ID.match(rule)
    if test:
        return _BANDIT.get(test.group(1))
    if rule in _KEEL:
        return _KEEL[rule]
    if rule.startswith("detect-secrets."):
        return "hardcoded-secret"
    for number in _CWE_REF.findall(text):
        if int(number) in _CWE:
            return _CWE[int(number)]
    if rule.startswith("keel.") or _TOOL_CODE.match(rule):
        return None  # a tool's rule of no kind here: its words prove nothing
    words = f"{rule} {text}".lower()
    for pattern, kind in _WORDS:
        if re.search(pattern, words):
            return kind
    return None
