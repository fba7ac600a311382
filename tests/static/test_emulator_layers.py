"""The emulator's layers, read from its source: the world (AWS's behaviour, plain Python), the adapters (the only code
that touches moto), the facade on top; no import circle, no module-global state outside the two places made for it, and
every private name of moto and botocore the adapters touch listed for the versions it was reviewed for."""

from __future__ import annotations

import ast
import importlib.metadata
import subprocess
import sys
from pathlib import Path

from emulator.adapters.moto_review import PRIVATE_NAMES, REVIEWED_VERSIONS

ROOT = Path(__file__).resolve().parents[2]
EMULATOR = ROOT / "emulator"
# Where module-level mutable state may live, and why (the modules' docstrings say more).
STATEFUL = {
    "emulator.adapters.process": "what the process has only once: time, IAM enforcement, os.environ, threads",
    "emulator.adapters.speed": "the caches of the patches that only save time (switchable)",
}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text()) for p in sorted(EMULATOR.rglob("*.py"))}


def imports(name: str, tree: ast.Module) -> set[str]:
    """Every module an emulator module imports (absolute names; relative imports resolved)."""
    package = name.split(".") if name.endswith(("emulator", "world", "adapters")) else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return found


def layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ("world", "adapters") else "facade"


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), and modules importing themselves."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in edges[v]:
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def internal_edges() -> dict[str, set[str]]:
    trees = modules()
    return {name: {m for m in imports(name, tree) if m in trees and m != name} for name, tree in trees.items()}


def test_the_cycle_finder_finds_a_planted_circle() -> None:
    # Given a -> b -> c -> a and d -> a / Then the circle is found, d is not in it
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_emulator_module_imports_another_in_a_circle() -> None:
    assert cycles(internal_edges()) == []


def test_the_world_imports_only_the_world_and_the_adapters_never_the_facade() -> None:
    trees = modules()
    libraries = ("emulator", "moto", "botocore", "boto3", "time_machine", "werkzeug")
    outside_world = {
        name: sorted(m for m in imports(name, tree) if m.split(".")[0] in libraries and layer(m) != "world")
        for name, tree in trees.items()
        if layer(name) == "world"
    }
    assert {k: v for k, v in outside_world.items() if v} == {}
    into_facade = {
        name: sorted(m for m in imports(name, tree) if m in trees and layer(m) == "facade")
        for name, tree in trees.items()
        if layer(name) == "adapters"
    }
    assert {k: v for k, v in into_facade.items() if v} == {}


def test_only_the_adapters_import_moto() -> None:
    trees = modules()
    importing = sorted(name for name, tree in trees.items() if any(m.split(".")[0] == "moto" for m in imports(name, tree)))
    assert [name for name in importing if layer(name) != "adapters"] == []


def test_the_world_loads_and_works_without_moto() -> None:
    # Given a fresh interpreter that imports the whole world and restores an archived object with a store of its own
    script = """
import sys
from datetime import datetime, UTC
from emulator.world.clock import VirtualClock
from emulator.world.draws import World
from emulator.world.s3 import S3Model
class Objects:
    def storage_class(self, bucket, key): return "DEEP_ARCHIVE"
    def etag(self, bucket, key): return "e"
    def tags(self, bucket, key): return {}
    def put(self, bucket, key, tags): pass
import emulator.world.ec2, emulator.world.events, emulator.world.faults, emulator.world.awslambda
clock = VirtualClock(datetime(2026, 1, 5, 9, tzinfo=UTC))
world = World(seed=1)
world.restore_seconds["ami-1.bin"] = 3600
s3 = S3Model(world, clock, Objects())
status = s3.restore_object("b", "ami-1.bin", "DEEP_ARCHIVE", 1, "Bulk")
clock.advance(3600)
print(status, s3.is_readable("b", "ami-1.bin", "DEEP_ARCHIVE"), s3.restore("b", "ami-1.bin").expiry.isoformat(),
      sorted(m for m in sys.modules if m.split(".")[0] in ("moto", "botocore", "boto3", "time_machine")))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    # Then the restore answered 202, the copy is readable after the hour, expires at the midnight after a day, and no
    # module of moto, botocore, boto3 or time-machine was loaded
    assert done.stdout.strip() == "202 True 2026-01-07T00:00:00+00:00 []"


# Calls that make values nobody can change: module-level names bound to them are constants.
IMMUTABLE_CALLS = {"re.compile", "frozenset", "TypeVar", "datetime", "object", "timedelta", "tuple"}
MUTATORS = {"append", "extend", "update", "setdefault", "pop", "popitem", "clear", "add", "discard", "remove", "insert"}


def module_state(tree: ast.Module) -> list[str]:
    """Module-level names bound to mutable values (containers, objects made by a call), `global` statements and
    functools caches: state a module keeps between calls. UPPER_CASE literals are constants if nothing mutates them."""
    found: list[str] = []
    constants: set[str] = set()
    for statement in tree.body:
        annotated = [statement.target] if isinstance(statement, ast.AnnAssign) else []
        targets = statement.targets if isinstance(statement, ast.Assign) else annotated
        value = statement.value if isinstance(statement, ast.Assign | ast.AnnAssign) else None
        for target in targets:
            if not isinstance(target, ast.Name) or value is None or target.id == "__all__":
                continue
            literal = isinstance(value, ast.Dict | ast.List | ast.Set | ast.DictComp | ast.ListComp | ast.SetComp)
            immutable = isinstance(value, ast.Call) and ast.unparse(value.func) in IMMUTABLE_CALLS
            if immutable or (target.id.isupper() and (literal or isinstance(value, ast.Constant | ast.Tuple | ast.BinOp))):
                constants.add(target.id)
            elif literal or isinstance(value, ast.Call):
                found.append(f"{target.id} = ...")
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            found.append(f"global {', '.join(node.names)}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS:
            if isinstance(node.func.value, ast.Name) and node.func.value.id in constants:
                found.append(f"{node.func.value.id}.{node.func.attr}(...)")
        elif isinstance(node, ast.Assign | ast.AugAssign):
            for written in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(written, ast.Subscript) and isinstance(written.value, ast.Name) and written.value.id in constants:
                    found.append(f"{written.value.id}[...] =")
        if isinstance(node, ast.FunctionDef):
            found += [f"@{ast.unparse(d)} {node.name}" for d in node.decorator_list if "cache" in ast.unparse(d)]
    return found


def test_the_state_finder_finds_planted_state() -> None:
    planted = ast.parse(
        "import functools, re\nSEEN = {}\n_count = [0]\nlogger = get()\n@functools.cache\ndef f(): pass\n"
        "def g():\n    global _count\n    SEEN['x'] = 1\n    SEEN.update(y=2)\nLIMITS = (1, 2)\nNAME = re.compile('x')\n"
    )
    assert sorted(module_state(planted)) == sorted(
        ["_count = ...", "logger = ...", "@functools.cache f", "global _count", "SEEN[...] =", "SEEN.update(...)"]
    )


def test_no_module_keeps_state_but_the_two_made_for_it() -> None:
    stateful = {name: state for name, tree in modules().items() if (state := module_state(tree))}
    assert sorted(stateful) == sorted(STATEFUL), stateful


def private_names(source: str) -> set[str]:
    """Names with a leading underscore the source reaches on objects it did not define: attributes, private modules
    of moto, and strings naming attributes (for getattr, setattr, __dict__)."""
    tree = ast.parse(source)
    own: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in ast.walk(node):
                if isinstance(item, ast.FunctionDef):
                    own.add(item.name)
                stored = isinstance(item, ast.Attribute) and isinstance(item.ctx, ast.Store)
                if stored and isinstance(item.value, ast.Name) and item.value.id == "self":  # type: ignore[attr-defined]
                    own.add(item.attr)  # type: ignore[attr-defined]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") and node.attr not in own:
            found.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and (module := node.module or "").startswith("moto"):
            if any(part.startswith("_") for part in module.split(".")):
                found.add(module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier() and node.value[:1] == "_":
            found |= set() if node.value.startswith("__") else {node.value}
    return found


def test_the_private_name_finder_skips_names_of_the_adapters_own_classes() -> None:
    source = (
        "from moto.moto_api._internal import x\nclass Mine:\n    def __init__(self):\n        self._own = 1\n    def _helper(self): pass\n"
        "def patched(self):\n    return self._get_param('a'), getattr(self, '_hidden'), self._own\n"
    )
    assert private_names(source) == {"moto.moto_api._internal", "_get_param", "_hidden"}


def test_every_private_name_the_adapters_touch_is_reviewed() -> None:
    touched = set().union(*(private_names(p.read_text()) for p in (EMULATOR / "adapters").glob("*.py")))
    assert sorted(touched - set(PRIVATE_NAMES)) == []  # touched, not reviewed
    assert sorted(set(PRIVATE_NAMES) - touched) == []  # reviewed, no longer touched


def test_the_installed_moto_and_botocore_are_the_reviewed_versions() -> None:
    installed = {name: importlib.metadata.version(name) for name in REVIEWED_VERSIONS}
    assert installed == REVIEWED_VERSIONS, "an upgrade: review emulator/adapters/moto_review.py's names first"
