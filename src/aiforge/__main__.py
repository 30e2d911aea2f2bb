"""``python -m aiforge``: the same as the ``aiforge`` command."""

import sys

from aiforge._script_path import drop_working_directory

drop_working_directory()  # before anything else is imported: the script has no such entry

from aiforge.cli import console_main  # noqa: E402

sys.exit(console_main())
