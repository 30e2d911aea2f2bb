"""Plugin discovery through all four routes, with plugins that live outside the package."""

from __future__ import annotations

import os
import re
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from aiforge.config.loading import build_experiment_config
from aiforge.config.model_configs import ModelSpecificConfig, SimpleNNConfig
from aiforge.core.base_model import BaseModel
from aiforge.core.data_pipeline import BaseDataset, BasePreprocessor
from aiforge.core.plugins import (
    PluginLocation,
    available_names,
    builtin_names,
    call_plugin,
    describe_plugins,
    load_class,
    locate,
    model_config_class,
)
from aiforge.data.scaling import FeatureScaler
from aiforge.errors import ConfigError, PluginError
from aiforge.plugins.simple_nn.dataset import Dataset as SimpleDataset
from aiforge.plugins.simple_nn.model import Model as SimpleModel
from plugin_builders import make_entry_point_plugin, make_folder_plugin

BUILTINS = [
    "breast_cancer",
    "cnn",
    "diabetes",
    "digits",
    "digits_png",
    "image_folder",
    "iris",
    "simple_nn",
    "tabular",
    "text",
    "text_classifier",
    "torchvision_model",
    "wine",
]
EP_PACKAGES = ("ext_plugin_pkg", "other_pkg")
GOOD_MODEL = """
from aiforge.config.model_configs import ModelSpecificConfig
from aiforge.core.base_model import BaseModel


class Model(BaseModel):
    def forward(self, x):
        return x
"""


def unique(prefix: str) -> str:
    """A package name no other test (or earlier run in this process) has imported."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def write_package(root: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: source}``; every folder on the way gets an ``__init__.py``."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        folder = path.parent
        while folder != root and folder.is_relative_to(root):
            (folder / "__init__.py").touch()
            folder = folder.parent
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


def forget(*packages: str) -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in packages:
            del sys.modules[name]


@pytest.fixture(autouse=True)
def no_user_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither the caller's AIFORGE_PLUGINS_DIR nor a .env in the working directory leaks in."""
    for name in list(os.environ):
        if name.upper().startswith("AIFORGE_"):
            monkeypatch.delenv(name)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh sys.path entry standing in for site-packages; its packages are forgotten afterwards."""
    root = tmp_path / "site"
    root.mkdir()
    forget(*EP_PACKAGES)
    monkeypatch.syspath_prepend(str(root))
    yield root
    forget(*EP_PACKAGES)


@pytest.fixture
def extplug(site: Path) -> str:
    return make_entry_point_plugin(site)


@pytest.fixture
def plugins_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir()
    return folder


# --- built-in --------------------------------------------------------------------------------


def test_builtin_location() -> None:
    assert locate("simple_nn") == PluginLocation("simple_nn", "aiforge.plugins.simple_nn", "built-in")
    assert builtin_names() == BUILTINS  # private helpers such as _sklearn are not plugins


def test_builtin_classes() -> None:
    assert load_class("simple_nn", "model") is SimpleModel
    assert load_class("simple_nn", "dataset") is SimpleDataset
    assert load_class("simple_nn", "preprocessor") is FeatureScaler
    assert model_config_class("simple_nn") is SimpleNNConfig
    for name in BUILTINS:
        dataset = load_class(name, "dataset", required=False)
        if dataset is None:  # a model-only plugin
            assert issubclass(load_class(name, "model"), BaseModel)
            continue
        assert issubclass(dataset, BaseDataset)
        assert issubclass(load_class(name, "preprocessor"), BasePreprocessor)


def test_dataset_only_plugin_has_no_model() -> None:
    assert load_class("digits", "model", required=False) is None
    with pytest.raises(
        PluginError,
        match=r"^plugin 'digits' \(built-in\) has no Model class: "
        r"expected aiforge\.plugins\.digits\.model\.Model \(a model\.py module defining class Model\)$",
    ):
        load_class("digits", "model")


def test_private_builtin_module_is_not_a_plugin() -> None:
    with pytest.raises(PluginError, match=r"^unknown plugin '_sklearn'"):
        locate("_sklearn")


# --- entry point (an installed distribution) ------------------------------------------------------


def test_entry_point_plugin_is_found_and_loaded(extplug: str) -> None:
    assert extplug == "extplug"
    location = locate("extplug")
    assert location.origin.startswith("entry point")
    assert location == PluginLocation("extplug", "ext_plugin_pkg", "entry point (ext-plugin-pkg 0.1)")
    assert "extplug" in available_names()
    model_class = load_class("extplug", "model")
    dataset_class = load_class("extplug", "dataset")
    assert issubclass(model_class, BaseModel) and model_class.__module__ == "ext_plugin_pkg.model"
    assert issubclass(dataset_class, BaseDataset) and dataset_class.__module__ == "ext_plugin_pkg.dataset"
    assert load_class("extplug", "preprocessor", required=False) is None
    with pytest.raises(
        PluginError, match=r"plugin 'extplug' \(entry point \(ext-plugin-pkg 0\.1\)\) has no Preprocessor"
    ):
        load_class("extplug", "preprocessor")


def test_entry_point_plugin_declares_its_own_config_class(extplug: str) -> None:
    config_class = model_config_class(extplug)
    assert config_class.__name__ == "ExtConfig" and config_class.__module__ == "ext_plugin_pkg.model"
    assert issubclass(config_class, ModelSpecificConfig)
    assert config_class is load_class(extplug, "model").config_class
    config = build_experiment_config(
        {"model_plugin": extplug, "dataset_plugin": extplug, "model_config": {"width": 3}}
    )
    assert type(config.model_specific_config) is config_class
    assert config.model_specific_config.width == 3
    with pytest.raises(ConfigError, match=r"  model_config\.widht: unknown key \(did you mean 'width'\?\)"):
        build_experiment_config(
            {"model_plugin": extplug, "dataset_plugin": extplug, "model_config": {"widht": 3}}
        )


def test_entry_point_plugin_really_works(extplug: str) -> None:
    dataset = load_class(extplug, "dataset")()
    dataset.load_data(None, num_samples=10, input_dim=4)
    assert len(dataset) == 10 and dataset[0]["features"].shape == (4,)
    config = model_config_class(extplug)(input_dim=4, output_dim=2, width=5)
    model = load_class(extplug, "model")(config)
    assert model(dataset.as_tensors()["features"]).shape == (10, 2)


def test_builtin_name_wins_over_an_entry_point(site: Path) -> None:
    make_entry_point_plugin(site, name="simple_nn")
    assert locate("simple_nn").origin == "built-in"


def test_duplicate_entry_point_names_name_both_distributions(site: Path) -> None:
    make_entry_point_plugin(site)
    make_entry_point_plugin(site, package="other_pkg", dist="other-dist")
    expected = (
        r"^plugin name 'extplug' is registered twice in entry-point group 'aiforge\.plugins': "
        r"(?=.*ext_plugin_pkg \(ext-plugin-pkg 0\.1\))(?=.*other_pkg \(other-dist 0\.1\))"
        r".*; uninstall one of them$"
    )
    with pytest.raises(PluginError, match=expected):
        locate("extplug")
    with pytest.raises(ConfigError, match=r"  model_plugin: plugin name 'extplug' is registered twice"):
        build_experiment_config({"model_plugin": "extplug", "dataset_plugin": "simple_nn"})


def test_duplicate_entry_point_does_not_break_other_plugins(site: Path, plugins_dir: Path) -> None:
    # Regression: the duplicate used to raise from every lookup past the built-ins, and made
    # describe_plugins (``aiforge plugins``) crash instead of reporting the one bad name.
    make_entry_point_plugin(site)
    make_entry_point_plugin(site, package="other_pkg", dist="other-dist")
    make_entry_point_plugin(site / "more", name="fine", package="fine_pkg", dist="fine-dist")
    sys.path.insert(0, str(site / "more"))
    try:
        assert locate("fine").origin == "entry point (fine-dist 0.1)"
        make_folder_plugin(plugins_dir, "folderplug")
        assert locate("folderplug", plugins_dir).origin.startswith("folder ")
        with pytest.raises(
            PluginError, match=r"unknown plugin 'nope'\. Available: .*extplug, fine, folderplug"
        ):
            locate("nope", plugins_dir)
        infos = {info.location.name: info for info in describe_plugins(plugins_dir)}
        assert "registered twice" in (infos["extplug"].error or "")
        assert infos["fine"].error is None and "Model" in infos["fine"].classes
    finally:
        sys.path.remove(str(site / "more"))
        forget("fine_pkg")


# --- folder (AIFORGE_PLUGINS_DIR) --------------------------------------------------------------


def test_folder_plugin_via_argument_with_relative_imports(plugins_dir: Path) -> None:
    make_folder_plugin(plugins_dir, "myplug")
    location = locate("myplug", plugins_dir)
    assert location.origin == f"folder {plugins_dir / 'myplug'}"
    model_class = load_class("myplug", "model", plugins_dir)
    assert issubclass(model_class, BaseModel)
    assert issubclass(load_class("myplug", "dataset", plugins_dir), BaseDataset)
    config_class = model_config_class("myplug", plugins_dir)
    assert config_class.__name__ == "FolderConfig"
    model = model_class(config_class(input_dim=3, output_dim=2, width=4))
    assert isinstance(model.net[1], torch.nn.Tanh)  # built by layers.make_layers, a relative import
    assert model(torch.zeros(5, 3)).shape == (5, 2)
    assert "myplug" in available_names(plugins_dir)


def test_folder_plugin_via_environment(plugins_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_folder_plugin(plugins_dir, "envplug")
    with pytest.raises(PluginError, match=r"unknown plugin 'envplug'.*AIFORGE_PLUGINS_DIR \(not set\)"):
        locate("envplug")
    monkeypatch.setenv("AIFORGE_PLUGINS_DIR", str(plugins_dir))
    assert locate("envplug").origin == f"folder {plugins_dir / 'envplug'}"
    assert model_config_class("envplug").__name__ == "FolderConfig"
    config = build_experiment_config(
        {"model_plugin": "envplug", "dataset_plugin": "envplug", "model_config": {"width": 2}}
    )
    assert config.model_specific_config.width == 2


def test_same_folder_plugin_name_in_two_folders_is_two_plugins(tmp_path: Path) -> None:
    # Regression: the module was cached under the plugin name alone, so a second folder
    # holding 'myplug' silently got the first folder's classes.
    first, second = tmp_path / "a", tmp_path / "b"
    make_folder_plugin(first, "myplug")
    make_folder_plugin(second, "myplug")
    model_py = second / "myplug" / "model.py"
    model_py.write_text(
        model_py.read_text().replace("width: PositiveInt", "depth: int = 2\n    width: PositiveInt")
    )
    assert "depth" not in model_config_class("myplug", first).model_fields
    assert "depth" in model_config_class("myplug", second).model_fields
    assert load_class("myplug", "model", first) is not load_class("myplug", "model", second)


def test_folder_without_init_is_not_a_plugin(plugins_dir: Path) -> None:
    (plugins_dir / "loose").mkdir()
    (plugins_dir / "loose" / "model.py").write_text(GOOD_MODEL)
    with pytest.raises(
        PluginError, match=rf"unknown plugin 'loose'.*AIFORGE_PLUGINS_DIR \({re.escape(str(plugins_dir))}\)"
    ):
        locate("loose", plugins_dir)


def test_entry_point_wins_over_a_folder(extplug: str, plugins_dir: Path) -> None:
    make_folder_plugin(plugins_dir, extplug)
    assert locate(extplug, plugins_dir).origin.startswith("entry point")


# --- dotted import path -----------------------------------------------------------------------------


def test_dotted_import_path(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    top = unique("extpkg")
    make_folder_plugin(site / top / "sub", "myplugin")
    (site / top / "__init__.py").touch()
    (site / top / "sub" / "__init__.py").touch()
    name = f"{top}.sub.myplugin"
    try:
        assert locate(name) == PluginLocation(name, name, "import path")
        model_class = load_class(name, "model")
        assert model_class.__module__ == f"{name}.model"
        assert issubclass(load_class(name, "dataset"), BaseDataset)
        assert model_config_class(name).__name__ == "FolderConfig"
        config = build_experiment_config({"model_plugin": name, "dataset_plugin": name})
        assert config.model_specific_config.width == 8
    finally:
        forget(top)


def test_dotted_path_to_a_single_module(site: Path) -> None:
    top = unique("onefile")
    write_package(site, {f"{top}/plugin.py": GOOD_MODEL})
    try:
        model_class = load_class(f"{top}.plugin", "model")
        assert model_class.__module__ == f"{top}.plugin"
        assert load_class(f"{top}.plugin", "dataset", required=False) is None
    finally:
        forget(top)


def test_dotted_path_to_a_missing_module() -> None:
    with pytest.raises(
        PluginError, match=r"^plugin 'json\.nope' \(import path\): module json\.nope not found$"
    ):
        load_class("json.nope", "model")
    with pytest.raises(PluginError, match=r"^unknown plugin 'no_such_top_pkg\.x'"):
        locate("no_such_top_pkg.x")


# --- errors ------------------------------------------------------------------------------------------


def test_unknown_name_lists_available_and_suggests(plugins_dir: Path) -> None:
    make_folder_plugin(plugins_dir, "mine")
    with pytest.raises(PluginError) as info:
        locate("simpel_nn", plugins_dir)
    message = str(info.value)
    assert message.startswith("unknown plugin 'simpel_nn' (did you mean 'simple_nn'?). Available: ")
    available = re.search(r"Available: (.*?)\. A plugin", message)
    assert available is not None
    assert set(BUILTINS) | {"mine"} <= set(available.group(1).split(", "))
    assert message.endswith(
        "A plugin is a built-in name, an installed entry point in group 'aiforge.plugins', a package folder "
        f"in AIFORGE_PLUGINS_DIR ({plugins_dir}), or a dotted import path"
    )


@pytest.mark.parametrize("name", ["", ".x", "..", "a..b", "x/y"])
def test_malformed_names(name: str) -> None:
    with pytest.raises(PluginError, match=r"^(a plugin name must be a non-empty string|unknown plugin)"):
        locate(name)


def test_missing_third_party_module_is_a_failed_import(plugins_dir: Path) -> None:
    write_package(plugins_dir, {"needsdep/model.py": "import not_installed_lib_xyz  # noqa\n" + GOOD_MODEL})
    assert locate("needsdep", plugins_dir).origin.startswith("folder")
    with pytest.raises(
        PluginError,
        match=r"^plugin 'needsdep' failed to import \(_aiforge_user_plugin_needsdep\w*\.model\): "
        r"ModuleNotFoundError: No module named 'not_installed_lib_xyz'$",
    ):
        load_class("needsdep", "model", plugins_dir)


def test_broken_package_init_is_a_failed_import_and_not_cached(plugins_dir: Path) -> None:
    write_package(plugins_dir, {"badinit/__init__.py": "raise RuntimeError('boom')\n"})
    for _ in range(2):  # the half-imported module must not be left in sys.modules
        with pytest.raises(
            PluginError,
            match=rf"^plugin 'badinit' \({re.escape(str(plugins_dir / 'badinit'))}\) "
            r"failed to import: RuntimeError: boom$",
        ):
            locate("badinit", plugins_dir)


def test_syntax_error_in_plugin_is_a_failed_import(plugins_dir: Path) -> None:
    write_package(plugins_dir, {"typo/dataset.py": "class Dataset(:\n"})
    with pytest.raises(PluginError, match=r"^plugin 'typo' failed to import \(.*\.dataset\): SyntaxError"):
        load_class("typo", "dataset", plugins_dir)


def test_model_not_subclassing_base_model(plugins_dir: Path) -> None:
    write_package(
        plugins_dir, {"plain/model.py": "from torch import nn\n\nclass Model(nn.Module):\n    pass\n"}
    )
    with pytest.raises(
        PluginError,
        match=r"^plugin 'plain': Model \(_aiforge_user_plugin_plain\w*\.model\.Model\) must be a subclass of "
        r"aiforge\.core\.base_model\.BaseModel$",
    ):
        load_class("plain", "model", plugins_dir)


def test_dataset_and_preprocessor_must_subclass_their_bases(plugins_dir: Path) -> None:
    write_package(
        plugins_dir,
        {
            "wrongbase/dataset.py": "class Dataset:\n    pass\n",
            "wrongbase/preprocessor.py": "Preprocessor = 3\n",
        },
    )
    with pytest.raises(
        PluginError,
        match=r"Dataset \(.*\.dataset\.Dataset\) must be a subclass of "
        r"aiforge\.core\.data_pipeline\.BaseDataset$",
    ):
        load_class("wrongbase", "dataset", plugins_dir)
    with pytest.raises(
        PluginError, match=r"must be a subclass of aiforge\.core\.data_pipeline\.BasePreprocessor$"
    ):
        load_class("wrongbase", "preprocessor", plugins_dir)


def test_model_py_without_model_class(plugins_dir: Path) -> None:
    write_package(plugins_dir, {"nomodel/model.py": "class Net:\n    pass\n"})
    with pytest.raises(
        PluginError,
        match=rf"^plugin 'nomodel' \(folder {re.escape(str(plugins_dir / 'nomodel'))}\) has no Model class: "
        r"expected _aiforge_user_plugin_nomodel\w*\.model\.Model "
        r"\(a model\.py module defining class Model\)$",
    ):
        load_class("nomodel", "model", plugins_dir)


@pytest.mark.parametrize(
    ("declaration", "shown"),
    [
        ("config_class = dict", "<class 'dict'>"),
        ("config_class = None", "None"),
        ("config_class = PlainSettings", "<class '.*PlainSettings'>"),
    ],
)
def test_config_class_must_be_a_model_specific_config(
    plugins_dir: Path, declaration: str, shown: str
) -> None:
    name = unique("badcfg")
    model = GOOD_MODEL.replace(
        "class Model(BaseModel):",
        "import pydantic\n\nclass PlainSettings(pydantic.BaseModel):\n    width: int = 1\n\n\n"
        f"class Model(BaseModel):\n    {declaration}",
    )
    write_package(plugins_dir, {f"{name}/model.py": model})
    expected = (
        rf"plugin '{name}': Model\.config_class must be a subclass of ModelSpecificConfig, got {shown}$"
    )
    with pytest.raises(PluginError, match="^" + expected):
        model_config_class(name, plugins_dir)
    with pytest.raises(ConfigError, match="  model_plugin: " + expected):
        build_experiment_config(
            {"model_plugin": name, "dataset_plugin": "simple_nn"}, plugins_dir=plugins_dir
        )


def test_model_without_config_class_takes_no_settings(plugins_dir: Path) -> None:
    write_package(plugins_dir, {"bare/model.py": GOOD_MODEL})
    assert model_config_class("bare", plugins_dir) is ModelSpecificConfig
    with pytest.raises(ConfigError, match=r"  model_config\.hidden_dim: unknown key"):
        build_experiment_config(
            {"model_plugin": "bare", "dataset_plugin": "simple_nn", "model_config": {"hidden_dim": 3}},
            plugins_dir=plugins_dir,
        )


# --- describe_plugins (aiforge plugins) ----------------------------------------------------------------


def test_describe_plugins_lists_builtins_and_reports_broken_ones(plugins_dir: Path) -> None:
    make_folder_plugin(plugins_dir, "goodplug")
    write_package(plugins_dir, {"brokenplug/model.py": "import not_installed_lib_xyz\n"})
    infos = {info.location.name: info for info in describe_plugins(plugins_dir)}
    assert set(BUILTINS) | {"goodplug", "brokenplug"} <= set(infos)
    assert list(infos) == sorted(infos)

    simple = infos["simple_nn"]
    assert simple.error is None and simple.location.origin == "built-in"
    assert simple.classes == {
        "Model": "aiforge.plugins.simple_nn.model.Model",
        "Dataset": "aiforge.plugins.simple_nn.dataset.Dataset",
        "Preprocessor": "aiforge.data.scaling.FeatureScaler",
    }
    assert list(simple.config_fields) == list(SimpleNNConfig.model_fields)
    assert simple.config_fields["hidden_dim"] == "int"
    assert simple.config_fields["dropout_rate"] == "float"
    assert "ReLU" in simple.config_fields["activation_fn"]

    digits = infos["digits"]
    assert set(digits.classes) == {"Dataset", "Preprocessor"} and digits.config_fields == {}

    good = infos["goodplug"]
    assert good.error is None and good.location.origin.startswith("folder")
    assert set(good.classes) == {"Model", "Dataset"} and "width" in good.config_fields

    broken = infos["brokenplug"]
    assert broken.error is not None
    assert re.match(r"plugin 'brokenplug' failed to import \(.*\): ModuleNotFoundError", broken.error)


def test_describe_plugins_reads_the_environment(plugins_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_folder_plugin(plugins_dir, "fromenv")
    assert "fromenv" not in {info.location.name for info in describe_plugins()}
    monkeypatch.setenv("AIFORGE_PLUGINS_DIR", str(plugins_dir))
    assert "fromenv" in {info.location.name for info in describe_plugins()}


def test_an_unknown_config_argument_lists_only_what_the_config_may_set() -> None:
    def fit(features, scaler_type="standard", *rest):
        return None

    def bare(features):
        return None

    with pytest.raises(ConfigError, match=r"it accepts scaler_type$"):
        call_plugin("p", "preprocess_args", fit, [1], scaler=1)  # not features: AIForge passes it
    with pytest.raises(ConfigError, match=r"it accepts no arguments from the config$"):
        call_plugin("p", "preprocess_args", bare, [1], scaler=1)
