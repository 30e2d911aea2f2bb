"""Built-in plugins. Each subpackage is one plugin; ``_``-prefixed modules are shared helpers."""
