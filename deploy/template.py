"""template.yaml as data: read it, inline its code and definition, write it back out deterministically.

`make package` and the emulator use the same `inline()`, so what the emulator deploys is what `sam deploy` gets.
"""

from __future__ import annotations

import ast
import io
import json
import tokenize
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
INLINE_HANDLER = "index.lambda_handler"  # CloudFormation stores inline code as index.py


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML with CloudFormation's short forms: `!Ref X` is {"Ref": X}, `!Sub s` {"Fn::Sub": s}, `!GetAtt A.B`
    {"Fn::GetAtt": ["A", "B"]} (CloudFormation User Guide, "Intrinsic function reference"), as cfn-lint reads them."""


def _short_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_Loader.add_multi_constructor("!", _short_form)


def load(path: Path = ROOT / "template.yaml") -> dict[str, Any]:
    """The template with short-form tags (!Ref, !Sub ...) turned into plain long-form dicts."""
    plain: dict[str, Any] = yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - a safe loader plus CloudFormation's tags
    return plain


def function_source(code_uri: str, root: Path = ROOT) -> Path:
    return root / code_uri / "app.py"


def docstrings(tree: ast.Module) -> dict[tuple[int, int], bool]:
    """Where each docstring starts (line, column), and whether it is its body's only statement."""
    found: dict[tuple[int, int], bool] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                found[(first.lineno, first.col_offset)] = len(node.body) == 1
    return found


def strip_comments(source: str) -> str:
    """The same code without its comments, docstrings and blank lines, read with Python's own tokenizer and parser: what
    Python compiles is unchanged (a body that held only a docstring holds `pass`; strings, blank lines inside them
    included, are untouched). tests/static/test_definition_and_template.py compares the syntax trees of every handler."""
    starts = docstrings(ast.parse(source))
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    data_lines: set[int] = set()  # lines inside a string that stays (their blank lines are the string's)
    cuts: list[tuple[int, int, str]] = []  # (start, end, replacement) in the source's characters
    string_start = getattr(tokenize, "FSTRING_START", None)  # Python 3.12+ tokenizes an f-string in parts
    opened: list[int] = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        (row, col), (end_row, end_col) = token.start, token.end
        start, end = offsets[row - 1] + col, offsets[end_row - 1] + end_col
        if token.type == tokenize.COMMENT:
            cuts.append((start, end, ""))
        elif token.type == tokenize.STRING and (row, col) in starts:
            # the line breaks stay, so every other token keeps its line until blank lines go
            cuts.append((start, end, ("pass" if starts[(row, col)] else "") + "\n" * (end_row - row)))
        elif token.type == tokenize.STRING:
            data_lines.update(range(row + 1, end_row + 1))
        elif string_start is not None and token.type == string_start:
            opened.append(row)
        elif token.type == getattr(tokenize, "FSTRING_END", None) and opened:
            data_lines.update(range(opened.pop() + 1, end_row + 1))
    text = source
    for start, end, replacement in reversed(cuts):
        text = text[:start] + replacement + text[end:]
    kept = [line.rstrip() + "\n" for number, line in enumerate(text.splitlines(), start=1) if line.strip() or number in data_lines]
    return "".join(kept)


def inline(template: dict[str, Any], root: Path = ROOT) -> dict[str, Any]:
    """CodeUri -> InlineCode and DefinitionUri -> Definition: one self-contained template. The inline code is each
    handler's file without its comments, docstrings and blank lines (strip_comments): the same code, in less room."""
    out = json.loads(json.dumps(template))
    out["Globals"]["Function"]["Handler"] = INLINE_HANDLER
    for resource in out["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function" and "CodeUri" in props:
            props["InlineCode"] = strip_comments(function_source(props.pop("CodeUri"), root).read_text())
        if resource["Type"] == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            props["Definition"] = json.loads((root / props.pop("DefinitionUri")).read_text())
    inlined: dict[str, Any] = out
    return inlined


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(template: dict[str, Any]) -> str:
    return yaml.dump(template, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)
