"""`make package`: print template.yaml with every function's code and the state machine definitions inline.

Each function's code is its file without comments, docstrings and blank lines (deploy/template.py, strip_comments): the
same code for Python, in less of the template's room. The result needs no code artifacts and is byte-for-byte the same
on every run. It is larger than the 51,200 bytes CloudFormation takes as a template body, so CloudFormation reads it
from S3: `sam deploy --template-file packaged.yaml` (SAM's managed bucket), `aws cloudformation deploy ...
--s3-bucket <bucket>`, or a console upload (README, Deploy).
"""

from __future__ import annotations

import sys
from pathlib import Path

from deploy import template


def main(argv: list[str]) -> int:
    source = Path(argv[0]) if argv else template.ROOT / "template.yaml"
    sys.stdout.write(template.dump(template.inline(template.load(source), source.resolve().parent)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
