"""One truth for shared values, and an emulator that does not know the answers.

Each handler ships inline in the template, so a value or a rule several handlers need is copied into each: one test
finds every name defined in more than one handler (or in a handler and the command line) and asserts the copies agree,
but for a short list of reasoned differences. And the emulator must get its behaviour from AWS's documentation, never
from the handlers: it imports none of them and repeats none of their constants.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from tests.support import ROOT, load_function

UNITS = {"MINUTE", "HOUR", "DAY", "MB", "GB"}  # units of measure, not assumptions
HANDLERS = {path.parent.name: path for path in sorted((ROOT / "functions").glob("*/app.py"))}
EMULATOR = sorted((ROOT / "emulator").rglob("*.py"))


def constants(path: Path, source: str | None = None) -> dict[str, Any]:
    """Module-level UPPER_CASE constants whose value is a literal, arithmetic on literals, or built from the module's
    earlier constants (`250 * MB`), annotated or not."""
    found: dict[str, Any] = {}
    for node in ast.parse(source if source is not None else path.read_text()).body:
        for target, value in _pairs(node):
            if target.isupper():
                try:
                    found[target] = eval(compile(ast.Expression(value), str(path), "eval"), {"__builtins__": {}}, dict(found))  # noqa: S307
                except (NameError, TypeError, AttributeError, ZeroDivisionError):
                    continue  # built from something else than constants
    return found


def _pairs(node: ast.stmt) -> list[tuple[str, ast.expr]]:
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
        return [(node.target.id, node.value)]
    if not isinstance(node, ast.Assign):
        return []
    target = node.targets[0]
    if isinstance(target, ast.Name):
        return [(target.id, node.value)]
    if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
        return [(t.id, v) for t, v in zip(target.elts, node.value.elts, strict=True) if isinstance(t, ast.Name)]
    return []


# Facts both sides take from AWS's documentation, not from each other (each with its source).
DOCUMENTED = {
    ("LARGE_OBJECT_BYTES", repr(250 * 10**6)): "S3 User Guide: Expedited's 1-5 min hold 'for all but the largest (250 MB+)'",
    ("TAG_VALUE_MAX", repr(256)): "EC2 API Reference, S3ObjectTag: a CreateStoreImageTask object tag's value is up to 256 characters",
}


def repeated(handler_sources: dict[str, str], emulator_sources: dict[str, str]) -> list[str]:
    """Emulator constants that repeat a handler's: same name and value, or a handler's table under any name."""
    handler_values = {
        (name, repr(v))
        for path, text in handler_sources.items()
        for name, v in constants(Path(path), text).items()
        if _has_number(v) and name not in UNITS and (name, repr(v)) not in DOCUMENTED
    }
    composites = {r for _, r in handler_values if r.startswith(("(", "{", "["))}
    return [
        f"{path}: {name}"
        for path, text in emulator_sources.items()
        for name, value in constants(Path(path), text).items()
        if (name, repr(value)) in handler_values or repr(value) in composites
    ]


def _has_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    if isinstance(value, dict):
        return any(_has_number(v) for v in [*value.keys(), *value.values()])
    if isinstance(value, tuple | list):
        return any(_has_number(v) for v in value)
    return False


def test_the_emulator_imports_no_handler() -> None:
    for path in EMULATOR:
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(n == "functions" or n.startswith("functions.") for n in names), path.name


def test_the_emulator_repeats_no_handler_constant() -> None:
    # Given every numeric constant of every handler / Then no emulator module defines one with the same name and value
    # (but the documented facts listed above), and no composite one (a window table, a range) under any name
    handlers = {str(p): p.read_text() for p in HANDLERS.values()}
    assert repeated(handlers, {str(p): p.read_text() for p in EMULATOR}) == []


def test_the_repetition_check_catches_a_planted_copy() -> None:
    # Given a handler constant built from a unit, and an emulator that copies it, and another that copies a table
    handler = {"functions/x/app.py": "MB = 10**6\nTHROUGHPUT: int = 50 * MB\nWINDOWS = {('A', 'B'): (60, 300)}\n"}
    copies = {"emulator/a.py": "MB = 10**6\nTHROUGHPUT = 50 * 10**6\n", "emulator/b.py": "OTHER_NAME = {('A', 'B'): (60, 300)}\n"}
    # Then both are reported
    assert repeated(handler, copies) == ["emulator/a.py: THROUGHPUT", "emulator/b.py: OTHER_NAME"]


def test_the_emulated_windows_share_only_what_aws_documents_with_the_handlers_planning_windows() -> None:
    from emulator.world import DOCUMENTED_RESTORE_WINDOW

    windows = load_function("check_restore_status").WINDOWS
    # AWS documents no lower bound for Deep Archive: the handler assumes one, the emulator does not
    assert [k for k in windows if DOCUMENTED_RESTORE_WINDOW[k][0] is None] == [("DEEP_ARCHIVE", "Standard"), ("DEEP_ARCHIVE", "Bulk")]
    assert {k: windows[k] for k in windows if k[0] == "GLACIER"} == {
        k: v for k, v in DOCUMENTED_RESTORE_WINDOW.items() if k[0] == "GLACIER"
    }


# --- Copies forced by inline packaging: one name, one value ---------------------------------------------------------

# The command line installs on its own, so it copies some of the handlers' rules (glacier_ami_restore/validation.py
# copies Validate Input's): a name it shares with a handler is a copy too. Two of its own modules share by import.
COPIES = {str(p.relative_to(ROOT)): p for p in [*HANDLERS.values(), *sorted((ROOT / "glacier_ami_restore").glob("*.py"))]}
EACH = ("*",)  # every copy is its own: one name for a different thing in each file

# (name, files) -> why those copies differ. The files are one group of copies that may differ from the name's other
# copies (inside the group, and among the others, the copies still agree); EACH: every copy may differ.
DIFFERENCES: dict[tuple[str, tuple[str, ...]], str] = {
    ("lambda_handler", EACH): "each handler's entry point, one line calling its own work",
    ("key_problem", ("glacier_ami_restore/validation.py",)): "the same rules in the command line's words (its argument, not a field)",
    ("THROTTLING_CODES", ("functions/check_image_state/app.py", "functions/restore_image/app.py")): "EC2's codes (the others: S3's)",
    ("THREADS", EACH): "each handler's own pool: Plan Batch's HEAD and RestoreObject calls, Resolve Selection's tag reads",
    ("deadline_seconds", EACH): "the copy's deadline (by window and size) and the image's (by size)",
    ("next_check_seconds", EACH): "the copy's schedule and the image's",
    ("poll_schedule", EACH): "the copy's schedule and the image's",
    ("step_seconds", EACH): "the copy's schedule and the image's",
    ("quota_wait", EACH): "Restore Image's wait before its next request, Check Image State's for an image that failed over the quota",
    ("request_restore", EACH): "Plan Batch requests a batch's restores up front (never raises); Request Restore requests one",
    ("console_url", EACH): "an AMI in the EC2 console (the email) and an execution in the Step Functions console (the command line)",
    ("when", ("glacier_ami_restore/cli.py",)): "the command line's short terminal time (2026-01-05 09:00Z), not the emails' format",
    ("duration", EACH): "the batch email's elapsed time (always minutes) and the estimate's rounded one; both tested on exact text",
    ("image_seconds", EACH): "the batch plan's pessimistic 50 MB/s and the estimate's typical figure from prices.json",
    ("parse_date", EACH): "a selector's archivedBefore (an offset required) and an archive tag's date (UTC when none)",
}


def definitions(source: str) -> dict[str, tuple[str, Any]]:
    """Every module-level UPPER_CASE constant and top-level function: ("value", the constant's value) when it is built
    from literals, re.compile and the module's earlier constants, else ("expression", its syntax tree); ("function", its
    syntax tree, docstring and annotations included, comments and layout not)."""
    found: dict[str, tuple[str, Any]] = {}
    values: dict[str, Any] = {"re": re}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found[node.name] = ("function", ast.dump(node))
        for target, expression in _pairs(node):
            if not target.isupper():
                continue
            try:
                values[target] = eval(compile(ast.Expression(expression), "<constant>", "eval"), {"__builtins__": {}}, values)  # noqa: S307
                found[target] = ("value", values[target])
            except (NameError, TypeError, AttributeError, ZeroDivisionError):
                found[target] = ("expression", ast.dump(expression))
    return found


def disagreements(sources: dict[str, str], differences: dict[tuple[str, tuple[str, ...]], str]) -> list[str]:
    """Every name a handler (functions/*/app.py) shares with another file whose copies differ beyond `differences`, and
    every difference listed that is no longer one."""
    by_name: dict[str, dict[str, tuple[str, Any]]] = {}
    for path, text in sources.items():
        for name, value in definitions(text).items():
            by_name.setdefault(name, {})[path] = value
    found = []
    for name, copies in sorted(by_name.items()):
        if len(copies) < 2 or not any(path.startswith("functions/") for path in copies):
            continue
        listed = [files for (n, files) in differences if n == name]
        if EACH in listed:
            if all(value == next(iter(copies.values())) for value in copies.values()):
                found.append(f"{name}: listed as different, but every copy is the same")
            continue
        groups = [[p for p in copies if p in files] for files in listed]
        rest = [p for p in copies if not any(p in files for files in listed)]
        for group in [*groups, rest]:
            if any(copies[p] != copies[group[0]] for p in group):
                found.append(f"{name} differs in {', '.join(group)}")
        for files, group in zip(listed, groups, strict=True):
            if not rest or not group or all(copies[p] == copies[rest[0]] for p in group):
                found.append(f"{name}: listed as different in {', '.join(files)}, but it is not (or no longer there)")
    found += [f"{name}: listed, but defined in at most one file" for name, _ in differences if len(by_name.get(name, {})) < 2]
    return found


def test_every_copy_of_a_name_is_the_same_but_the_reasoned_differences() -> None:
    # Given every module-level constant and function of the handlers, and of the command line's modules
    sources = {path: file.read_text() for path, file in COPIES.items()}
    # Then a name defined in a handler and in another file has one value (a constant) or one source (a function) in all
    # of them, but where DIFFERENCES says why not
    assert disagreements(sources, DIFFERENCES) == []


def test_the_copy_check_catches_a_planted_disagreement() -> None:
    # Given two handlers and the command line sharing a limit, a list, a pattern and a function, one copy of each changed
    sources = {
        "functions/a/app.py": 'import re\nLIMIT = 10\nCODES = ("A", "B")\nKEY = re.compile(r"[a-z]+")\ndef rule(x):\n    return x + 1\n',
        "functions/b/app.py": 'import re\nLIMIT = 5 * 2\nCODES = ("A", "B")\nKEY = re.compile(r"[a-z]*")\ndef rule(x):\n    return x + 2\n',
        "glacier_ami_restore/c.py": 'CODES = ("B", "A")\nLIMIT = 10\n',
        "glacier_ami_restore/d.py": "ONLY_THE_COMMAND_LINE = 1\n",
        "glacier_ami_restore/e.py": "ONLY_THE_COMMAND_LINE = 2\n",
    }
    # Then each is reported (10 and 5 * 2 are the same value); copies inside the command line alone are not its business
    assert disagreements(sources, {}) == [
        "CODES differs in functions/a/app.py, functions/b/app.py, glacier_ami_restore/c.py",
        "KEY differs in functions/a/app.py, functions/b/app.py",
        "rule differs in functions/a/app.py, functions/b/app.py",
    ]
    # And a reasoned difference silences exactly its group, while one that no longer differs is reported
    reasons: dict[tuple[str, tuple[str, ...]], str] = {
        ("CODES", ("glacier_ami_restore/c.py",)): "ordered otherwise",
        ("LIMIT", EACH): "no longer different",
    }
    assert disagreements(sources, reasons) == [
        "KEY differs in functions/a/app.py, functions/b/app.py",
        "LIMIT: listed as different, but every copy is the same",
        "rule differs in functions/a/app.py, functions/b/app.py",
    ]


def test_the_restore_header_parser_reads_both_forms() -> None:
    # (its three copies are one source: test_every_copy_of_a_name_is_the_same_but_the_reasoned_differences); the expiry
    # in ISO 8601, as every time of the restore record
    parse = load_function("extend_copy").parse_restore_header
    assert parse('ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"') == (False, "2012-12-21T00:00:00+00:00")
    assert (parse('ongoing-request="true"'), parse(None)) == ((True, None), (False, None))
