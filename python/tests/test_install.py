"""The documented install command puts an importable package in place:
`cmake --install <build> --component python`, here under a DESTDIR."""

import os
import pathlib
import subprocess
import sys

import pytest


def test_install_component_is_importable(tmp_path):
    build = os.environ.get("PAGEKV_BUILD_DIR")
    cmake = os.environ.get("PAGEKV_CMAKE", "cmake")
    if not build:
        pytest.skip("PAGEKV_BUILD_DIR is not set (run through ctest)")
    env = dict(os.environ, DESTDIR=str(tmp_path))
    subprocess.run([cmake, "--install", build, "--component", "python"],
                   check=True, env=env, capture_output=True)
    [init] = list(tmp_path.rglob("pagekv/__init__.py"))
    site = init.parent.parent
    assert (site / "pagekv" / "_pagekv.pyi").exists()
    assert (site / "pagekv" / "py.typed").exists()
    out = subprocess.run(
        [sys.executable, "-c",
         "import pagekv; print(pagekv.__file__, pagekv.__version__)"],
        check=True, capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=str(site)))
    path, version = out.stdout.split()
    assert pathlib.Path(path).is_relative_to(tmp_path)
    assert version.count(".") == 2
