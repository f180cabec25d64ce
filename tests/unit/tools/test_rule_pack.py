"""Keel's semgrep rule pack, rule by rule: a positive and a negative fixture for each.

Every fixture is a small module written into one repository, and semgrep runs once over
all of them (about 5 s). A positive fixture names the lines its rule must report; a
negative fixture is the same code made safe, where the rule must report nothing. The last
tests hold the pack to its severity-by-class promise (docs/evals-realworld.md): a
CVE-class flaw that a function parameter, a route or a request reaches is `high`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML comes with langchain-core; no stubs here

from keel.tools import run_semgrep
from keel.tools.issues import Issue, Severity
from keel.tools.semgrep import RULE_PACK
from keel.tools.severity_class import CVE_CLASSES, REACHING_SOURCES, class_severity, pack_classes

MakeRepo = Callable[[dict[str, str]], Path]

# (rule, fixture file, source, lines the rule must report; () = it must report nothing)
CASES: list[tuple[str, str, str, tuple[int, ...]]] = [
    (
        "keel.argument-injection",
        "argv_pos.py",
        "import subprocess\n"
        "\n"
        "\n"
        "class HgRepo:\n"
        "    def __init__(self, url, path):\n"
        "        self.url = url\n"
        "        self.path = path\n"
        "\n"
        "    def obtain(self):\n"
        '        self.run(["clone", "--noupdate", "-q", self.url, self.path])\n'
        "\n"
        "\n"
        "def fetch(remote):\n"
        '    subprocess.run(["git", "fetch", remote], check=True, timeout=60)\n'
        "\n"
        "\n"
        "def clone(git, url, path):\n"
        "    return git.clone(url, path, v=True)\n",
        (10, 14, 18),
    ),
    (
        "keel.argument-injection",
        "argv_neg.py",
        "import subprocess\n"
        "\n"
        "\n"
        "class HgRepo:\n"
        "    def __init__(self, url, path, hexsha):\n"
        "        self.url = url\n"
        "        self.path = path\n"
        "        self.hexsha = hexsha\n"
        "\n"
        "    def obtain(self):\n"
        '        self.run(["clone", "--noupdate", "-q", "--", self.url, self.path])\n'
        '        self.run(["log", self.hexsha])\n'
        "\n"
        "\n"
        "def fetch(remote, *flags):\n"
        '    subprocess.run(["git", "fetch", "--", remote], check=True, timeout=60)\n'
        '    subprocess.run(["git", "status", *flags], check=True, timeout=60)\n'
        '    subprocess.run(["ls", remote], check=True, timeout=60)\n'
        "\n"
        "\n"
        "def clone(git, url, path):\n"
        '    return git.clone("--", url, path, v=True)\n',
        (),
    ),
    (
        "keel.tainted-shell",
        "shell_pos.py",
        "import subprocess\n"
        "\n"
        "\n"
        "def export(source):\n"
        '    subprocess.check_output("java -jar x.jar {}".format(source), shell=True, timeout=9)\n',
        (5,),
    ),
    (
        "keel.tainted-shell",
        "shell_neg.py",
        "import shlex\n"
        "import subprocess\n"
        "\n"
        "\n"
        "def export(source):\n"
        "    cmd = 'java -jar x.jar ' + shlex.quote(source)\n"
        "    subprocess.check_output(cmd, shell=True, timeout=9)\n"
        '    subprocess.check_output(["java", "-jar", "x.jar", source], timeout=9)\n',
        (),
    ),
    (
        "keel.tainted-sql",
        "sql_pos.py",
        "PC_QUERY = \"SELECT * FROM codes WHERE fsa='%s'\"\n"
        "\n"
        "\n"
        "class Db:\n"
        "    def get(self, pc):\n"
        "        return self.manager.query(PC_QUERY % pc)\n"
        "\n"
        "    def seen(self, filename):\n"
        "        self.curs.execute(\"SELECT 1 FROM d WHERE name = '%s'\" % filename)\n",
        (6, 9),
    ),
    (
        "keel.tainted-sql",
        "sql_neg.py",
        'PC_QUERY = "SELECT * FROM codes WHERE fsa=?"\n'
        'GREETING = "Hello %s"\n'
        "\n"
        "\n"
        "class Db:\n"
        "    def get(self, pc):\n"
        "        return self.manager.query(PC_QUERY, (pc,))\n"
        "\n"
        "    def seen(self, filename, size, urls):\n"
        '        self.curs.execute("SELECT 1 FROM d WHERE name = ?", (filename,))\n'
        "        marks = ','.join('?' * len(urls))\n"
        '        self.curs.execute(f"SELECT id FROM links WHERE url IN ({marks})", urls)\n'
        '        return GREETING % filename, "SELECT %d" % int(size)\n',
        (),
    ),
    (
        "keel.tainted-code-eval",
        "eval_pos.py",
        "def evaluate(expression):\n    return eval(expression)\n",
        (2,),
    ),
    (
        "keel.tainted-code-eval",
        "eval_neg.py",
        "import ast\n"
        "\n"
        "\n"
        "def evaluate(expression, path):\n"
        '    tree = compile(expression, path, "exec", ast.PyCF_ONLY_AST)\n'
        "    return ast.literal_eval(expression), tree\n"
        "\n"
        "\n"
        "def compile(restrictions):\n"
        "    return dict(restrictions)\n"
        "\n"
        "\n"
        "def restrict(restrictions):\n"
        "    return compile(restrictions)\n",
        (),
    ),
    (
        "keel.tainted-import",
        "import_pos.py",
        "import importlib\n"
        "\n"
        "from flask import request\n"
        "\n"
        "\n"
        "def plugin():\n"
        '    return importlib.import_module(request.args["name"])\n',
        (7,),
    ),
    (
        "keel.tainted-import",
        "import_neg.py",
        "import importlib\n"
        "\n"
        "PLUGINS = {'csv': 'app.csv_plugin'}\n"
        "\n"
        "\n"
        "def plugin(name):\n"
        "    return importlib.import_module(PLUGINS.get(name, 'app.default'))\n",
        (),
    ),
    (
        "keel.template-injection",
        "ssti_pos.py",
        "import jinja2\n"
        "from jinja2 import Environment, Template\n"
        "\n"
        "\n"
        "class Formatter:\n"
        "    def __init__(self, template):\n"
        "        self.template = template\n"
        "        self.env = jinja2.Environment(\n"
        "            loader=jinja2.BaseLoader(),\n"
        "        ).from_string(self.template)\n"
        "\n"
        "\n"
        "def step(selector):\n"
        "    env = Environment()\n"
        "    return env.from_string(selector).render()\n"
        "\n"
        "\n"
        "def changelog(template):\n"
        "    return Template(template, trim_blocks=True).render()\n",
        (10, 15, 19),
    ),
    (
        "keel.template-injection",
        "ssti_neg.py",
        "import jinja2\n"
        "from jinja2.sandbox import ImmutableSandboxedEnvironment\n"
        "\n"
        "\n"
        "def step(selector):\n"
        "    env = ImmutableSandboxedEnvironment()\n"
        "    return env.from_string(selector).render()\n"
        "\n"
        "\n"
        "def greeting(name):\n"
        '    return jinja2.Template("Hello {{ name }}").render(name=name)\n',
        (),
    ),
    (
        "keel.tainted-xml",
        "xml_pos.py",
        "try:\n"
        "    from xml.etree import cElementTree as ElementTree\n"
        "except ImportError:\n"
        "    from elementtree import ElementTree\n"
        "from lxml import etree\n"
        "\n"
        "\n"
        "def saml(xml_string):\n"
        "    return ElementTree.fromstring(xml_string)\n"
        "\n"
        "\n"
        "def prov(stream):\n"
        "    return etree.parse(stream).getroot()\n"
        "\n"
        "\n"
        "def load_svg_file(path):\n"
        "    parser = etree.XMLParser(remove_comments=True, recover=True)\n"
        "    return etree.parse(path, parser=parser)\n",
        (9, 13, 18),
    ),
    (
        "keel.tainted-xml",
        "xml_neg.py",
        "from defusedxml import ElementTree\n"
        "from lxml import etree\n"
        "\n"
        "PARSER = etree.XMLParser(resolve_entities=False, no_network=True)\n"
        "\n"
        "\n"
        "def saml(xml_string):\n"
        "    return ElementTree.fromstring(xml_string)\n"
        "\n"
        "\n"
        "def prov(stream):\n"
        "    return etree.parse(stream, parser=PARSER).getroot()\n"
        "\n"
        "\n"
        "def load_svg_file(path):\n"
        "    parser = etree.XMLParser(remove_comments=True, resolve_entities=False)\n"
        "    return etree.parse(path, parser=parser)\n",
        (),
    ),
    (
        "keel.xml-resolves-entities",
        "entities_pos.py",
        "import xml.sax\n"
        "\n"
        "from lxml import etree\n"
        "\n"
        "PARSER = etree.XMLParser(remove_blank_text=True, recover=True)\n"
        "\n"
        "\n"
        "def sax_parser():\n"
        "    parser = xml.sax.make_parser()\n"
        "    parser.setFeature(xml.sax.handler.feature_external_ges, True)\n"
        "    return parser\n",
        (5, 10),
    ),
    (
        "keel.xml-resolves-entities",
        "entities_neg.py",
        "import xml.sax\n"
        "\n"
        "from lxml import etree\n"
        "\n"
        "PARSER = etree.XMLParser(recover=True, resolve_entities=False)\n"
        "\n"
        "\n"
        "def sax_parser():\n"
        "    parser = xml.sax.make_parser()\n"
        "    parser.setFeature(xml.sax.handler.feature_external_ges, False)\n"
        "    return parser\n",
        (),
    ),
    (
        "keel.tainted-deserialization",
        "deser_pos.py",
        "import codecs\n"
        "import pickle\n"
        "\n"
        "\n"
        "def load_source(source):\n"
        "    import yaml\n"
        "\n"
        "    with codecs.open(source, 'r', encoding='utf8') as f:\n"
        "        return yaml.load(f)\n"
        "\n"
        "\n"
        "def deserialize(binary):\n"
        "    return pickle.loads(binary)\n",
        (9, 13),
    ),
    (
        "keel.tainted-deserialization",
        "deser_neg.py",
        "import json\n"
        "import pickle\n"
        "\n"
        "import yaml\n"
        "\n"
        "\n"
        "def load_source(source):\n"
        "    return yaml.safe_load(source), yaml.load(source, Loader=yaml.SafeLoader)\n"
        "\n"
        "\n"
        "def deserialize(binary):\n"
        "    return json.loads(binary), pickle.loads(b'\\x80\\x04K\\x01.')\n",
        (),
    ),
    (
        "keel.tainted-path",
        "path_pos.py",
        "from flask import request, send_from_directory\n"
        "\n"
        "\n"
        "def download():\n"
        '    return send_from_directory(request.args["dir"], "report.pdf")\n',
        (5,),
    ),
    (
        "keel.tainted-path",
        "path_neg.py",
        "from flask import request, send_from_directory\n"
        "\n"
        "\n"
        "def download():\n"
        '    return send_from_directory("/srv/reports", request.args["name"])\n',
        (),
    ),
    (
        "keel.served-path",
        "served_pos.py",
        "import os\n"
        "\n"
        "from flask import Flask, send_file, send_from_directory\n"
        "\n"
        "app = Flask(__name__)\n"
        "\n"
        "\n"
        '@app.route("/<path:url>/<path:filename>")\n'
        "def downloader(url, filename):\n"
        "    dirpath = os.path.join(app.root_path, url)\n"
        "    return send_from_directory(dirpath, filename)\n"
        "\n"
        "\n"
        '@app.get("/list/<path:req_path>")\n'
        "def listing(req_path):\n"
        '    return send_file(os.path.join("/srv", req_path))\n'
        "\n"
        "\n"
        "def report(request, name):\n"
        '    return open(os.path.join("/srv/reports", name), "rb")\n',
        (11, 16, 20),
    ),
    (
        "keel.served-path",
        "served_neg.py",
        "import os\n"
        "\n"
        "from flask import Flask, send_file, send_from_directory\n"
        "from werkzeug.utils import secure_filename\n"
        "\n"
        "app = Flask(__name__)\n"
        "\n"
        "\n"
        '@app.route("/<path:filename>")\n'
        "def downloader(filename):\n"
        '    return send_from_directory(os.path.join(app.root_path, "files"), filename)\n'
        "\n"
        "\n"
        '@app.get("/list/<req_path>")\n'
        "def listing(req_path):\n"
        '    return send_file(os.path.join("/srv", secure_filename(req_path)))\n'
        "\n"
        "\n"
        "@expose\n"
        "def scan(pyfile):\n"
        "    os.remove(pyfile)\n",
        (),
    ),
    (
        "keel.tls-verification-disabled",
        "tls_pos.py",
        "import ssl\n"
        "\n"
        "import requests\n"
        "\n"
        "\n"
        "def session():\n"
        "    s = requests.session()\n"
        "    s.verify = False\n"
        "    ctx = ssl.create_default_context()\n"
        "    ctx.verify_mode = ssl.CERT_NONE\n"
        "    return s, ctx\n",
        (8, 10),
    ),
    (
        "keel.tls-verification-disabled",
        "tls_neg.py",
        "import ssl\n"
        "\n"
        "import requests\n"
        "\n"
        "\n"
        "def session(bundle):\n"
        "    s = requests.session()\n"
        "    s.verify = bundle\n"
        "    ctx = ssl.create_default_context()\n"
        "    ctx.verify_mode = ssl.CERT_REQUIRED\n"
        "    return s, ctx\n",
        (),
    ),
    (
        "keel.timing-unsafe-compare",
        "timing_pos.py",
        "def validate_state(request_state, state):\n"
        "    if not request_state == state:\n"
        '        raise ValueError("state")\n'
        "\n"
        "\n"
        "def check(signature, expected_signature):\n"
        "    return signature != expected_signature\n",
        (2, 7),
    ),
    (
        "keel.timing-unsafe-compare",
        "timing_neg.py",
        "import hmac\n"
        "\n"
        "\n"
        "def validate_state(request_state, state, child, token):\n"
        "    if not hmac.compare_digest(request_state, state):\n"
        '        raise ValueError("state")\n'
        "    return child.token == token or request_state == 'pending'\n",
        (),
    ),
    (
        "keel.jwt-unverified",
        "jwt_pos.py",
        "import jwt\n"
        "\n"
        "\n"
        "def claims(token):\n"
        '    return jwt.decode(token, options={"verify_signature": False})\n',
        (5,),
    ),
    (
        "keel.jwt-unverified",
        "jwt_neg.py",
        "import jwt\n"
        "\n"
        "\n"
        "def claims(token, key):\n"
        '    return jwt.decode(token, key, algorithms=["RS256"])\n',
        (),
    ),
    (
        "keel.hardcoded-secret-key",
        "secret_pos.py",
        "from flask import Flask\n"
        "\n"
        "app = Flask(__name__)\n"
        'app.config["SECRET_KEY"] = "Dtale"\n'
        'app.secret_key = "changeme-please"\n',
        (4, 5),
    ),
    (
        "keel.hardcoded-secret-key",
        "secret_neg.py",
        "import os\n"
        "\n"
        "from flask import Flask\n"
        "\n"
        "app = Flask(__name__)\n"
        'app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]\n'
        "app.secret_key = os.urandom(32)\n",
        (),
    ),
]


@pytest.fixture(scope="module")
def found(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[tuple[str, int]]]:
    """(rule, line) pairs semgrep reports, by fixture file: one scan of every fixture."""
    root = tmp_path_factory.mktemp("rules")
    for _rule, name, source, _lines in CASES:
        (root / name).write_text(source, encoding="utf-8")
    by_file: dict[str, set[tuple[str, int]]] = {name: set() for _r, name, _s, _l in CASES}
    for issue in run_semgrep(root, [name for _r, name, _s, _l in CASES]):
        by_file[issue["file"]].add((issue["rule"], issue["line"]))
    return by_file


@pytest.mark.parametrize(
    ("rule", "name", "lines"),
    [(rule, name, lines) for rule, name, _source, lines in CASES],
    ids=[name.removesuffix(".py") for _rule, name, _source, _lines in CASES],
)
def test_rule_fixture(
    found: dict[str, set[tuple[str, int]]], rule: str, name: str, lines: tuple[int, ...]
) -> None:
    reported = sorted(line for r, line in found[name] if r == rule)
    assert reported == sorted(set(lines)), found[name]


def test_every_new_rule_has_a_positive_and_a_negative_fixture() -> None:
    positives = {rule for rule, _n, _s, lines in CASES if lines}
    negatives = {rule for rule, _n, _s, lines in CASES if not lines}
    assert positives == negatives
    for rule in NEW_RULES:
        assert rule in positives, rule


NEW_RULES = (
    "keel.argument-injection",
    "keel.template-injection",
    "keel.tainted-import",
    "keel.xml-resolves-entities",
    "keel.served-path",
    "keel.tls-verification-disabled",
    "keel.timing-unsafe-compare",
    "keel.jwt-unverified",
    "keel.hardcoded-secret-key",
)
"""Rules added for the real-world set (evals/datasets/realworld.jsonl)."""


def _pack() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = yaml.safe_load(RULE_PACK.read_text(encoding="utf-8"))["rules"]
    return rules


def test_cve_class_flaws_reached_from_a_parameter_or_request_are_high() -> None:
    checked = []
    for rule in _pack():
        meta = rule.get("metadata") or {}
        if meta.get("category") != "security":
            continue
        assert "vulnerability_class" in meta, rule["id"]
        reached = REACHING_SOURCES & set(meta.get("sources") or [])
        if meta["vulnerability_class"] in CVE_CLASSES and reached:
            assert rule["severity"] == "ERROR", rule["id"]
            checked.append(rule["id"])
    assert len(checked) >= 9, checked


def test_every_security_rule_names_its_cwe_and_class() -> None:
    for rule in _pack():
        meta = rule.get("metadata") or {}
        if meta.get("category") == "security":
            assert meta.get("cwe"), rule["id"]
            assert isinstance(meta.get("sources"), list), rule["id"]


def _issue(rule: str, severity: Severity, tool: str = "semgrep") -> Issue:
    return Issue(
        tool=tool, rule=rule, file="a.py", line=1, end_line=1, col=None, message="",
        severity=severity, category="security", confidence=0.9, code="", fixable=False,
    )  # fmt: skip


def test_class_severity_floors_cve_classes_reached_by_callers_and_says_why() -> None:
    assert class_severity(_issue("keel.tainted-xml", "medium")) == (
        "high",
        "severity medium -> high: xxe is a CVE class and caller data reaches it "
        "(parameter, request)",
    )
    kept, why = class_severity(_issue("keel.argument-injection", "high"))
    assert (kept, why.startswith("argument-injection is a CVE class")) == ("high", True)
    assert class_severity(_issue("keel.tainted-path-parameter", "medium")) == ("medium", "")
    assert class_severity(_issue("keel.xml-resolves-entities", "medium")) == ("medium", "")
    assert class_severity(_issue("keel.timing-unsafe-compare", "medium")) == ("medium", "")
    assert class_severity(_issue("B506", "medium", tool="bandit")) == ("medium", "")


def test_pack_classes_agree_with_the_rules_severity() -> None:
    for rule in pack_classes().values():
        if rule.floored:
            assert rule.severity == "high", rule.rule
