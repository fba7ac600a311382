"""`make package`: print template.yaml with every function's code and the state machine definition inline.

The result deploys with `sam deploy --template-file packaged.yaml` or a CloudFormation console upload, with no
artifact bucket, and is byte-for-byte the same on every run.
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
