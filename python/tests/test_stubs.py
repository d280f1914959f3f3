"""The type stubs cover the extension: every public class, function and
member has a stub, so editors complete the whole API."""

import ast
import inspect
import pathlib

import pagekv
from pagekv import _pagekv

STUB = pathlib.Path(pagekv.__file__).with_name("_pagekv.pyi")


def stub_names():
    tree = ast.parse(STUB.read_text())
    names = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            members = set()
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AnnAssign)):
                    members.add(item.name if isinstance(item, ast.FunctionDef)
                                else item.target.id)
            names[node.name] = members
        elif isinstance(node, ast.FunctionDef):
            names[node.name] = set()
    return names


def test_every_public_name_has_a_stub():
    stubs = stub_names()
    for name in dir(_pagekv):
        if name.startswith("_"):
            continue
        assert name in stubs, f"{name} has no stub in {STUB.name}"
        obj = getattr(_pagekv, name)
        if inspect.isclass(obj):
            for member in vars(obj):
                if not member.startswith("_"):
                    assert member in stubs[name], \
                        f"{name}.{member} has no stub"


def test_every_public_name_has_a_docstring():
    for name in pagekv.__all__:
        obj = getattr(pagekv, name)
        if inspect.isclass(obj) or inspect.isfunction(obj) or \
                inspect.isbuiltin(obj):
            assert (obj.__doc__ or "").strip(), f"{name} has no docstring"
