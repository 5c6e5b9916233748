"""``python -m rnnzoo.bench``: the same as ``rnnzoo bench``."""

import sys

from rnnzoo.bench.cli import main

sys.exit(main())
