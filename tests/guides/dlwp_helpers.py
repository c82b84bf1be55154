"""Helpers for the "Deep Learning with Python" (3rd edition) chapter tests, beside ``guide_helpers``."""
from __future__ import annotations

import layerwise
from layerwise.backend import clear_session


def fresh(lib) -> None:
    """Restart the library's automatic layer names (``dense``, ``dense_1``...) as ``guide_helpers.fresh`` does, without
    its garbage collection (a third of a second per call with both libraries loaded, and these tests make many
    small models)."""
    if lib is layerwise:
        clear_session(free_memory=False)
    else:
        lib.utils.clear_session(free_memory=False)
