"""Commands that use a finished run: ``evaluate``, ``predict``, ``export``, ``runs`` and ``compare``.

Importing this package (and its ``cli`` module) is cheap: torch, pandas and the rest are
imported only when a command runs.
"""
