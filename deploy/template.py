"""template.yaml as data: read it, inline its code and definition, write it back out deterministically.

`make package` and the emulator use the same `inline()`, so what the emulator deploys is what `sam deploy` gets.
"""

from __future__ import annotations

import json
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


def inline(template: dict[str, Any], root: Path = ROOT) -> dict[str, Any]:
    """CodeUri -> InlineCode and DefinitionUri -> Definition: one self-contained template."""
    out = json.loads(json.dumps(template))
    out["Globals"]["Function"]["Handler"] = INLINE_HANDLER
    for resource in out["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function" and "CodeUri" in props:
            props["InlineCode"] = function_source(props.pop("CodeUri"), root).read_text()
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
