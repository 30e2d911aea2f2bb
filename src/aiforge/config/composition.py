"""Compose a config from ``base:`` files, ``-o`` overrides and ``${...}`` references.

Why its own module: composition is the only place that needs OmegaConf, and OmegaConf costs
about 0.1 s to import; it is imported only when a file names a base or holds ``${``. The merge
itself is done here (mappings merged deeply, lists and scalars replaced, as ``OmegaConf.merge``
does) so that every key path remembers the file (or override) that set it: an error names that
file, not only the file given on the command line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiforge.errors import ConfigError

BASE_KEY = "base"
INTERPOLATION = "${"
# Resolvers a config may call: reading an environment variable is what Hydra users expect;
# the others (oc.create, oc.decode, oc.select, custom ones) are not part of AIForge's format.
ALLOWED_RESOLVERS = frozenset({"oc.env"})
MAX_BASE_DEPTH = 50
# Base files read for one config, counting repeats: a file may be named by several others, but
# bases that each name the one below twice (no cycle) would otherwise be read 2**depth times.
MAX_BASE_FILES = 500
# Characters (and values) that the references may expand to: "${a}${a}" at each of 30 levels would
# otherwise build 2**30 copies before any check (the "billion laughs" of references).
MAX_EXPANDED_SIZE = 1_000_000
_SIMPLE_REFERENCE = re.compile(r"\$\{([A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*)\}")  # ${a.b.0}

KeyPath = tuple[str, ...]
# Keys that validation writes from another form (config.class_paths): an error about one names
# the file that wrote the other form, e.g. training_config.optimizer: {class_path: ...}.
TRANSLATED_KEYS: dict[KeyPath, KeyPath] = {
    ("training_config", "optimizer_name"): ("training_config", "optimizer"),
    ("training_config", "optimizer_args"): ("training_config", "optimizer"),
    ("training_config", "loss_fn_name"): ("training_config", "loss"),
    ("training_config", "loss_fn_args"): ("training_config", "loss"),
    ("training_config", "scheduler", "name"): ("training_config", "scheduler", "class_path"),
    ("training_config", "scheduler", "args"): ("training_config", "scheduler", "init_args"),
}
Reader = Callable[[Path], dict[str, Any]]  # a config file's top-level mapping (loading.read_config_file)
Overrider = Callable[[dict[str, Any], list[str]], dict[str, Any]]  # loading.apply_overrides


@dataclass
class ComposedConfig:
    """The merged, resolved data and where each key path's value came from."""

    data: dict[str, Any]
    source: str
    origins: dict[KeyPath, str] = field(default_factory=dict)
    base_reads: int = field(default=0, repr=False)

    def origin(self, path: Iterable[Any]) -> str:
        """The file or override that set ``path`` (or the nearest level above it that was set)."""
        parts = tuple(str(part) for part in path)
        for canonical, written in TRANSLATED_KEYS.items():
            if (
                parts[: len(canonical)] == canonical
                and not self._recorded(canonical)
                and self._recorded(written)
            ):
                parts = written + parts[len(canonical) :]
                break
        for end in range(len(parts), 0, -1):
            found = self.origins.get(parts[:end])
            if found is not None:
                return found
        return self.source

    def file_of(self, path: Iterable[Any]) -> Path:
        """The config file whose folder a relative path at ``path`` is relative to."""
        found = self.origin(path)
        return Path(found) if found in self._files else Path(self.source)

    def _recorded(self, path: KeyPath) -> bool:
        return any(key[: len(path)] == path for key in self.origins)

    @property
    def _files(self) -> set[str]:
        return {origin for origin in self.origins.values() if not origin.startswith("override ")}


def compose(
    path: Path,
    overrides: Iterable[str],
    read_config_file: Reader,
    apply_overrides: Overrider,
    *,
    run_folder: bool = False,
) -> ComposedConfig:
    """Read ``path`` with its bases, apply ``overrides``, resolve references.

    ``run_folder``: the file is a run folder's saved config, which is data: a ``base:`` key is
    refused (it could point anywhere) and ``${`` is kept as literal text, as it was saved.
    """
    overrides = list(overrides)
    for override in overrides:
        if override.partition("=")[0].strip().split(".")[0] == BASE_KEY:
            raise ConfigError(
                f"override '{_clip(override)}': overrides cannot name base files; write "
                f"{BASE_KEY}: in a config file (or give the other file's keys as -o overrides)"
            )
    data = read_config_file(path)
    source = str(path)
    if run_folder:
        if BASE_KEY in data:
            raise ConfigError(
                f"{path}: a run folder's config names base files (base: {data[BASE_KEY]!r}); a run "
                "folder is data, so AIForge does not follow it. A run saves its config fully "
                "resolved: restore config.yaml from the run, or start a new run from your own file"
            )
        return ComposedConfig(apply_overrides(_unescaped(data), overrides), source)
    composed = ComposedConfig(data, source)  # a file with no base: every value is its own
    if BASE_KEY in data:
        composed = ComposedConfig({}, source)
        _merge_file(composed, path, data, (path.resolve(),), read_config_file)
    if overrides:
        composed.data = apply_overrides(composed.data, overrides)
    for override in overrides:
        key = tuple(override.partition("=")[0].strip().split("."))
        _set_origin(composed.origins, key, f"override '{_clip(override)}'")
    if _holds_reference(composed.data):
        composed.data = _resolve(composed)
    return composed


def _unescaped(value: Any) -> Any:
    """A run folder's data with ``\\${`` (a literal ``${``, escaped when the run saved it) as ``${``:
    the text is not resolved there, so the escape is undone by hand."""
    if isinstance(value, str):
        return value.replace("\\" + INTERPOLATION, INTERPOLATION)
    if isinstance(value, dict):
        return {key: _unescaped(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unescaped(item) for item in value]
    return value


def _merge_file(
    composed: ComposedConfig, path: Path, data: dict[str, Any], chain: tuple[Path, ...], read: Reader
) -> None:
    """Merge ``path``'s bases (each with its own bases first), then ``data`` itself."""
    data = dict(data)
    for base in _base_paths(path, data.pop(BASE_KEY, None)):
        try:
            resolved = base.resolve()
        except (OSError, ValueError, RuntimeError):  # a symlink loop, a NUL in the name
            resolved = base.absolute()
        if resolved in chain:
            names = " -> ".join(str(p) for p in (*chain, resolved))
            raise ConfigError(f"{path}: base: the config files name each other in a cycle: {names}")
        if len(chain) >= MAX_BASE_DEPTH:
            raise ConfigError(
                f"{path}: base: more than {MAX_BASE_DEPTH} files deep (a base of a base of ...)"
            )
        if not _is_file(base):
            raise ConfigError(
                f"{path}: base: {base} is not a file (base paths are relative to {path.parent})"
            )
        composed.base_reads += 1
        if composed.base_reads > MAX_BASE_FILES:
            raise ConfigError(
                f"{path}: base: {composed.source} reads more than {MAX_BASE_FILES} base files in all "
                "(bases that name the same files again and again?)"
            )
        try:
            base_data = read(base)
        except ConfigError as err:
            raise ConfigError(f"{path}: base: cannot read {base}: {err}") from None
        _merge_file(composed, base, base_data, (*chain, resolved), read)
    _merge(composed.data, data, str(path), (), composed.origins)


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False for a name no file can have (a NUL, too long)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _base_paths(path: Path, value: Any) -> list[Path]:
    """The files ``base:`` names, relative to the folder of ``path``."""
    if value is None:
        return []
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(name, str) and name.strip() for name in names):
        raise ConfigError(
            f"{path}: base: expected a file name or a list of file names, got {value!r} "
            "(e.g. base: [common.yaml, model/large.yaml])"
        )
    result = []
    for name in names:
        base = Path(name).expanduser()
        result.append(base if base.is_absolute() else path.parent / base)
    return result


def _merge(dest: dict[str, Any], src: Mapping[str, Any], label: str, prefix: KeyPath, origins: dict) -> None:
    """Merge ``src`` into ``dest`` in place: mappings deeply, anything else replaced."""
    for key, value in src.items():
        path = (*prefix, key)
        if (
            isinstance(value, dict)
            and isinstance(dest.get(key), dict)
            and not _other_class(dest[key], value, path)
        ):
            mapping_origin = origins.pop(path, None)  # the mapping now has keys from two files:
            if mapping_origin is not None:  # its keys so far keep the file that wrote them
                for child in dest[key]:
                    origins.setdefault((*path, child), mapping_origin)
            _merge(dest[key], value, label, path, origins)
            continue
        if key in dest:
            _set_origin(origins, path, label)  # a replaced value: nothing below it stays
        else:
            origins[path] = label
        dest[key] = _copy(value)


# Mappings where ``name`` (not only ``class_path``) names the class the other keys configure.
NAMED_CLASS_PATHS: frozenset[KeyPath] = frozenset({("training_config", "scheduler")})


def _other_class(base: Mapping[str, Any], later: Mapping[str, Any], path: KeyPath) -> bool:
    """Whether ``later`` names another class than ``base`` does: then it replaces ``base`` whole
    (as Lightning's CLI drops init_args when class_path changes), so the base's arguments are not
    given to a class they were not written for."""

    def named(mapping: Mapping[str, Any]) -> Any:
        if "class_path" in mapping:
            return mapping["class_path"]
        return mapping.get("name") if path in NAMED_CLASS_PATHS else None

    later_class = named(later)
    return later_class is not None and later_class != named(base)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _set_origin(origins: dict[KeyPath, str], path: KeyPath, label: str) -> None:
    """``path`` (and everything below it) now comes from ``label``."""
    for key in [key for key in origins if key[: len(path)] == path]:
        del origins[key]
    origins[path] = label


def _holds_reference(value: Any) -> bool:
    if isinstance(value, str):
        return INTERPOLATION in value
    if isinstance(value, dict):
        return any(_holds_reference(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_reference(item) for item in value)
    return False


def _references(value: Any, path: KeyPath = ()) -> Iterable[tuple[KeyPath, str]]:
    """Each text value holding ``${`` with its key path (list items by index)."""
    if isinstance(value, str):
        if INTERPOLATION in value:
            yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _references(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _references(item, (*path, str(index)))


def _resolve(composed: ComposedConfig) -> dict[str, Any]:
    """The data with every ``${...}`` replaced by its value (``\\${`` stays as literal ``${``)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    references = list(_references(composed.data))
    for path, text in references:
        for name in _resolver_names(text, composed, path):
            if name not in ALLOWED_RESOLVERS:
                raise _reference_error(
                    composed,
                    path,
                    text,
                    f"unknown resolver '{name}': only ${{oc.env:VAR}} (or ${{oc.env:VAR,default}}) and "
                    "references to other keys (${training_config.batch_size}) are allowed; write "
                    "\\${ for a literal ${",
                )
    _refuse_expansion(composed, references)
    config = OmegaConf.create(composed.data)
    for path, text in references:  # one at a time, so a failure names its key path
        node: Any = config
        try:
            for part in path:
                node = node[int(part)] if isinstance(node, list) or OmegaConf.is_list(node) else node[part]
        except OmegaConfBaseException as err:
            raise _reference_error(composed, path, text, _problem(err)) from None
        except RecursionError:
            raise _reference_error(composed, path, text, "the references form a cycle") from None
    try:
        resolved = OmegaConf.to_container(config, resolve=True)
    except OmegaConfBaseException as err:  # reached only by values no single key held
        raise ConfigError(
            f"{composed.source}: cannot resolve the config's references: {_problem(err)}"
        ) from None
    return resolved  # type: ignore[return-value]  # a mapping: the data was one


def _refuse_expansion(composed: ComposedConfig, references: list[tuple[KeyPath, str]]) -> None:
    """A ConfigError when the references would expand to more than ``MAX_EXPANDED_SIZE``, estimated
    without resolving anything (each key's size once, from the sizes of the keys it names)."""
    texts = {".".join(path): text for path, text in references}
    sizes: dict[str, int] = {}
    on_path: set[str] = set()

    def size_of(key: str) -> int:
        if key in sizes:
            return sizes[key]
        if key in on_path:  # a cycle: OmegaConf names it
            return 0
        on_path.add(key)
        try:
            if key in texts:
                text = texts[key]
                found = _SIMPLE_REFERENCE.findall(text)
                size = len(_SIMPLE_REFERENCE.sub("", text)) + sum(size_of(name) for name in found)
            else:
                size = _size_of_value(_at(composed.data, key.split(".")), key, size_of)
        finally:
            on_path.discard(key)
        sizes[key] = size
        if size > MAX_EXPANDED_SIZE:
            path = tuple(key.split("."))
            raise _reference_error(
                composed,
                path,
                texts.get(key, key),
                f"the references expand to more than "
                f"{MAX_EXPANDED_SIZE:,} characters or values (references that repeat other references?)",
            )
        return size

    try:
        for key in texts:
            size_of(key)
    except RecursionError:  # a chain of references too long to follow: OmegaConf reports it
        return


def _at(data: Any, parts: list[str]) -> Any:
    """The value at ``parts`` (list items by index), None where there is none."""
    for part in parts:
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _size_of_value(value: Any, key: str, size_of: Callable[[str], int]) -> int:
    if isinstance(value, dict):
        return 1 + sum(size_of(f"{key}.{name}") for name in value)
    if isinstance(value, list):
        return 1 + sum(size_of(f"{key}.{index}") for index in range(len(value)))
    return 1 + len(str(value))


def _resolver_names(text: str, composed: ComposedConfig, path: KeyPath) -> list[str]:
    from omegaconf.errors import GrammarParseError
    from omegaconf.grammar.gen.OmegaConfGrammarParser import OmegaConfGrammarParser
    from omegaconf.grammar_parser import parse

    try:
        tree = parse(text)
    except GrammarParseError as err:
        raise _reference_error(composed, path, text, f"not a valid reference: {_problem(err)}") from None
    names: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, OmegaConfGrammarParser.ResolverNameContext):
            names.append(node.getText())
        for child in getattr(node, "children", None) or []:
            walk(child)

    walk(tree)
    return names


def _reference_error(composed: ComposedConfig, path: KeyPath, text: str, problem: str) -> ConfigError:
    key = ".".join(path)
    return ConfigError(f"{composed.origin(path)}: {key}: cannot resolve {_clip(text)!r}: {problem}")


def _problem(err: Exception) -> str:
    """OmegaConf's message without its ``full_key:``/``object_type=`` lines."""
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if first.startswith("Interpolation key ") and first.endswith(" not found"):
        key = first.removeprefix("Interpolation key ").removesuffix(" not found")
        return (
            f"no key {key} in the config files or -o overrides (a reference names an absolute key "
            "path that is written there; schema defaults are not seen: write the key to refer to it)"
        )
    if first.startswith("Recursive interpolation"):
        return "the references form a cycle"
    return first


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
