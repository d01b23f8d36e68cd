"""The clause table (POLICY.md) with, per clause, what implements it and which tests cover it.

Implementations are the flag rules citing the clause and every ``basis: Pxx`` comment or docstring in
assetreg/; tests are the test functions (or test modules, when only the module's docstring says it)
naming the clause id or a rule that carries it. Pure file reading: no database."""

from __future__ import annotations

import ast
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path

from .policy_clauses import CLAUSES
from .rules import RULES

PACKAGE = Path(__file__).resolve().parent.parent
REPO = PACKAGE.parent
SHARED_POLICY = REPO.parent / "shared" / "POLICY.md"
_ROW = re.compile(r"^\|\s*(P\d\d)\s*\|(.*)\|\s*$")
_BASIS = re.compile(r"basis:\s*((?:P\d\d[\s,，、/]*)+)")
_ID = re.compile(r"\bP\d\d\b")


@dataclass
class Clause:
    id: str
    seed: str
    text: str
    carried_by: str
    rules: list[str] = field(default_factory=list)
    code: list[str] = field(default_factory=list)  # "assetreg/x/y.py:12"
    tests: list[str] = field(default_factory=list)  # "tests/test_x.py::test_y"

    @property
    def complete(self) -> bool:
        return bool(self.rules or self.code) and bool(self.tests)


def parse_policy(text: str) -> list[tuple[str, str, str, str]]:
    """The rows of POLICY.md's clause table: (id, seed, clause, carried by)."""
    rows = []
    for line in text.splitlines():
        m = _ROW.match(line)
        if m:
            cells = [c.strip() for c in m.group(2).split("|")]
            if len(cells) == 3:
                rows.append((m.group(1), *cells))
    return rows


def load_clauses(path: Path | None = None) -> tuple[list[tuple[str, str, str, str]], str]:
    """The shared POLICY.md when it is there (../shared next to the repository), else the copy kept in
    policy_clauses.py; and which one was read."""
    path = path or SHARED_POLICY
    if path.is_file():
        rows = parse_policy(path.read_text(encoding="utf-8"))
        if rows:
            return rows, str(path)
    return list(CLAUSES), "assetreg/flags/policy_clauses.py"


def scan_code(root: Path = PACKAGE) -> dict[str, list[str]]:
    """Clause id → "file:line" of every ``basis: P..`` in the package (comments and docstrings)."""
    out: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).as_posix()
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for m in _BASIS.finditer(line):
                for cid in _ID.findall(m.group(1)):
                    out.setdefault(cid, [])
                    if f"{rel}:{no}" not in out[cid]:
                        out[cid].append(f"{rel}:{no}")
    return out


def scan_tests(words: set[str], root: Path = REPO / "tests") -> dict[str, list[str]]:
    """Word (a clause id or a rule id) → the tests naming it: "file::test" for a test function whose source
    names it, "file" when only the module docstring does."""
    out: dict[str, list[str]] = {}
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, words))) + r")\b") if words else None
    if pattern is None or not root.is_dir():
        return out
    for path in sorted(root.rglob("test_*.py")):
        rel = path.relative_to(root.parent).as_posix()
        source = path.read_text(encoding="utf-8")
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        lines = source.splitlines()
        doc = ast.get_docstring(tree) or ""
        for w in set(pattern.findall(doc)):
            out.setdefault(w, []).append(rel)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
                body = "\n".join(lines[node.lineno - 1: node.end_lineno])
                for w in set(pattern.findall(body)):
                    out.setdefault(w, []).append(f"{rel}::{node.name}")
    return out


def clause_table(path: Path | None = None) -> tuple[list[Clause], str]:

    rows, source = load_clauses(path)
    code = scan_code()
    rules_by_clause: dict[str, list[str]] = {}
    rule_code: dict[str, list[str]] = {}
    for rid, r in RULES.items():
        where = f"{Path(inspect.getsourcefile(r.evaluate)).relative_to(REPO).as_posix()}:" \
                f"{inspect.getsourcelines(r.evaluate)[1]}"
        for cid in r.basis:
            rules_by_clause.setdefault(cid, []).append(rid)
            rule_code.setdefault(cid, []).append(where)
    words = {cid for cid, *_ in rows} | set(RULES)
    tests = scan_tests(words)
    out = []
    for cid, seed, text, carried in rows:
        c = Clause(cid, seed, text, carried, rules=rules_by_clause.get(cid, []),
                   code=rule_code.get(cid, []) + [x for x in code.get(cid, []) if x not in rule_code.get(cid, [])])
        found = list(tests.get(cid, []))
        for rid in c.rules:
            found.extend(tests.get(rid, []))
        c.tests = sorted(set(found))
        out.append(c)
    return out, source
