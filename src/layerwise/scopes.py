"""Keras' ``keras.name_scope``: nested names, ``"outer/inner"``, for the code run inside.

Keras prefixes the paths of the variables made in a scope with it. layerwise records the scopes and gives
their path through ``current_path()``, but its variable paths stay ``<layer name>/<weight name>``
(``Variable.path``): a scope opened around a layer does not rename its weights.
"""
from __future__ import annotations

import threading
from typing import Any

__all__ = ["current_path", "name_scope"]

# Like Keras' global state, each thread has its own stack of open scopes.
_state = threading.local()


def _stack() -> list[name_scope]:
    if not hasattr(_state, "stack"):
        _state.stack = []
    return _state.stack


class name_scope:
    """``with keras.name_scope("block"):`` opens the scope ``block`` under the ones already open.

    ``caller``: the object opening it; with ``deduplicate``, a scope of the same name by the same caller
    directly inside itself is not entered twice. ``override_parent``: an absolute path replacing the
    enclosing scopes (Keras takes it from ``caller._parent_path`` when the caller has one).
    """

    def __init__(self, name: str, caller: Any = None, deduplicate: bool = True,
                 override_parent: str | None = None) -> None:
        if not isinstance(name, str) or "/" in name:
            raise ValueError("Argument `name` of name_scope must be a string and cannot contain character `/`. "
                             f"Received: name={name!r}")
        self.name = name
        self.caller = caller
        self.deduplicate = deduplicate
        self.override_parent = override_parent
        if override_parent is None and deduplicate and getattr(caller, "_parent_path", None) is not None:
            self.override_parent = caller._parent_path
        self._pop_on_exit = False

    def __enter__(self) -> name_scope:
        stack = _stack()
        if self.deduplicate and stack and self.caller is not None:
            parent = stack[-1]
            if self.caller is parent.caller and self.name == parent.name:
                return self
        stack.append(self)
        self._pop_on_exit = True
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._pop_on_exit and _stack():
            _stack().pop()
            self._pop_on_exit = False


def current_path() -> str:
    """The open scopes joined by ``/`` (``""`` outside any), as Keras' ``current_path``."""
    parts: list[str] = []
    for scope in _stack():
        if scope.override_parent is not None:
            parts = [p for p in scope.override_parent.split("/") if p]
        parts.append(scope.name)
    return "/".join(parts)
