"""One truth for shared values, and an emulator that does not know the answers.

Each handler ships inline in the template, so a value several handlers need is copied into each: these tests assert
the copies agree. And the emulator must get its behaviour from AWS's documentation, never from the handlers: it
imports none of them and repeats none of their constants.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, load_function

UNITS = {"MINUTE", "HOUR", "DAY", "MB", "GB"}  # units of measure, not assumptions
HANDLERS = {path.parent.name: path for path in sorted((ROOT / "functions").glob("*/app.py"))}
EMULATOR = sorted((ROOT / "emulator").glob("*.py"))


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


@pytest.mark.parametrize(
    "names, handlers",
    [
        (("THROTTLING_CODES",), ("check_storage_class", "request_restore", "check_restore_status", "extend_copy")),  # S3
        (("THROTTLING_CODES",), ("restore_image", "check_image_state")),  # EC2
        (("ARCHIVED_CLASSES",), ("check_storage_class", "extend_copy")),
        (("IMAGE_STARTUP_SECONDS", "IMAGE_PLANNED_BYTES_PER_SECOND"), ("check_image_state", "extend_copy")),
        (("QUOTA_RETRY_SECONDS", "QUOTA_RETRY_MAX_SECONDS", "QUOTA_WAIT_SECONDS"), ("restore_image", "check_image_state")),
    ],
)
def test_copies_forced_by_inline_packaging_agree(names: tuple[str, ...], handlers: tuple[str, ...]) -> None:
    values = {handler: tuple(constants(HANDLERS[handler])[n] for n in names) for handler in handlers}
    assert len(set(values.values())) == 1, values


def test_every_copy_of_the_restore_header_parser_is_the_same_code() -> None:
    sources = {
        h: inspect.getsource(load_function(h).parse_restore_header) for h in ("check_storage_class", "check_restore_status", "extend_copy")
    }
    assert len(set(sources.values())) == 1, sources.keys()
    parse = load_function("extend_copy").parse_restore_header
    assert parse('ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"') == (False, "Fri, 21 Dec 2012 00:00:00 GMT")
    assert (parse('ongoing-request="true"'), parse(None)) == ((True, None), (False, None))
