"""What `pip install refused` gives: the installed wheel, its extension, stubs and docs."""

import importlib.metadata
import sys
from pathlib import Path

import refused


def test_the_package_is_the_installed_wheel_not_the_source_tree():
    location = Path(refused.__file__).resolve()
    assert "site-packages" in location.parts, location
    assert Path(refused._refused.__file__).name.endswith(".abi3.so")
    assert refused.__version__ == importlib.metadata.version("refused")


def test_type_stubs_and_py_typed_are_shipped():
    folder = Path(refused.__file__).parent
    assert (folder / "py.typed").exists()
    stubs = (folder / "__init__.pyi").read_text()
    for name in refused.__all__:
        assert name in stubs, f"{name} has no stub"


def test_docstrings_show_in_help():
    for function in (refused.connect, refused.why, refused.check, refused.wait, refused.scan, refused.explain, refused.install):
        assert function.__doc__ and len(function.__doc__) > 40, function
    assert "ConnectionRefusedError" in refused.connect.__doc__
    assert "(target, port=None, *, timeout=3.0" in refused.connect.__text_signature__


def test_the_pytest_plugin_is_registered_as_an_entry_point():
    points = importlib.metadata.entry_points()
    selected = points.select(group="pytest11") if hasattr(points, "select") else points.get("pytest11", [])
    assert any(p.name == "refused" and p.value == "refused.pytest_plugin" for p in selected)


def test_the_wheel_is_abi3_for_cpython_3_9_on():
    dist = importlib.metadata.distribution("refused")
    wheel = dist.read_text("WHEEL")
    assert "cp39-abi3" in wheel, wheel
    assert sys.version_info >= (3, 9)
