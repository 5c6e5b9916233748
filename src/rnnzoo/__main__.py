"""``python -m rnnzoo``: the ``rnnzoo`` command line (:mod:`rnnzoo.cli`)."""

import sys

from rnnzoo.cli import main

if __name__ == "__main__":
    sys.exit(main())
