"""The fields of the protocol's dataclasses, with the docstring written under each one.

The payload and settings classes document every field with a string literal
right below it (STYLE: "a docstring per field").  Python keeps no trace of
those at run time, so the generator reads them back from the source with
:mod:`ast`, the way Sphinx's autodoc does: the docstring stays the one place
a field is described, in Python, TypeScript, Lua and docs/server.md alike.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import itertools
import textwrap
import typing as t


@dataclasses.dataclass(frozen=True)
class Field:
    """One field of a protocol dataclass, as the generator sees it."""

    name: str
    annotation: str
    """The annotation as written (``str | None``): the classes use ``from __future__ import annotations``."""
    doc: str
    """The field's docstring, whitespace collapsed; empty when it has none."""
    optional: bool
    """It has a default: a payload may leave it out."""


@functools.cache
def fields_of(cls: type) -> tuple[Field, ...]:
    """``cls``'s dataclass fields in order, each with its annotation and docstring."""
    docs = _docstrings(cls)
    out = []
    for f in dataclasses.fields(cls):
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        annotation = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", repr(f.type))
        out.append(Field(f.name, annotation, docs.get(f.name, ""), has_default))
    return tuple(out)


def doc_of(cls: type) -> str:
    """The first paragraph of ``cls``'s docstring, on one line."""
    text = inspect.getdoc(cls) or ""
    return " ".join(text.split("\n\n")[0].split())


def _docstrings(cls: type) -> dict[str, str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = t.cast("ast.ClassDef", tree.body[0]).body
    docs: dict[str, str] = {}
    for node, after in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs
