"""``python -m aiforge.main``: the seed's entry point, kept as an alias of the CLI."""

import sys

from aiforge.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["run"]))
