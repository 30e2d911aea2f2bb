"""``python -m aiforge``: the same as the ``aiforge`` command."""

import sys

from aiforge.cli import main

sys.exit(main())
