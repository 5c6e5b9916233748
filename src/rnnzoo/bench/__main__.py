"""``python -m rnnzoo.bench``: the same as ``rnnzoo bench``."""

import sys

from rnnzoo.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
