"""`make package`: print template.yaml with every function's code and the state machine definitions inline.

Each function's code is its file without comments, docstrings and blank lines (deploy/template.py, strip_comments): the
same code for Python, in less of the template's room; the template is written as compact JSON without checkov's
suppressions. The result needs no code artifacts and is byte-for-byte the same
on every run. It is larger than the 51,200 bytes CloudFormation takes as a template body, so CloudFormation reads it
from S3: `sam deploy --template-file packaged.yaml` (SAM's managed bucket), `aws cloudformation deploy ...
--s3-bucket <bucket>`, or a console upload (README, Deploy).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from deploy import template


def packaged(source: Path) -> str:
    """The template with everything inline, as compact JSON (JSON is YAML too: `sam deploy --template-file packaged.yaml`
    reads it; the YAML form's indentation alone took a quarter of the room), without the checkov suppressions of
    `Metadata` (the scanners read template.yaml; CloudFormation ignores them)."""
    inlined = template.inline(template.load(source), source.resolve().parent)
    for resource in inlined["Resources"].values():
        metadata = resource.get("Metadata")
        if isinstance(metadata, dict):
            metadata.pop("checkov", None)
            if not metadata:
                del resource["Metadata"]
    return json.dumps(inlined, separators=(",", ":"), ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    source = Path(argv[0]) if argv else template.ROOT / "template.yaml"
    sys.stdout.write(packaged(source))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
