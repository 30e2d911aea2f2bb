"""The run folder: its files (atomic, no symlinks followed), lock, placement, records, resume."""
