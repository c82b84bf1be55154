"""Keras' ``utils.Config``: a dict-like container of named settings, read and set as attributes or items,
that can be frozen against changes and written as JSON."""
from __future__ import annotations

import copy
import difflib
import json
from typing import Any, Iterator

__all__ = ["Config"]


class Config:
    """Named values: ``config = Config(learning_rate=0.1); config.seed = 123; config["momentum"] = 0.9``.

    Reads and writes go through attributes or items alike; ``keys``, ``values``, ``items``, ``get``, ``pop``,
    ``update``, ``len`` and ``in`` work as on a dict, and iterating gives the names in sorted order (as Keras).
    After ``freeze()`` every change raises a ValueError until ``unfreeze()``. ``as_dict()`` is a shallow
    copy and ``to_json()`` the JSON text of the values.
    """

    def __init__(self, **kwargs: Any):
        object.__setattr__(self, "_config", kwargs)
        object.__setattr__(self, "_frozen", False)

    @property
    def frozen(self) -> bool:
        """Whether changes are refused."""
        return self._frozen

    def freeze(self) -> None:
        """Refuse any change from now on (until ``unfreeze``)."""
        object.__setattr__(self, "_frozen", True)

    def unfreeze(self) -> None:
        """Accept changes again."""
        object.__setattr__(self, "_frozen", False)

    def _raise_if_frozen(self) -> None:
        if self._frozen:
            raise ValueError("Cannot mutate attribute(s) because the config is frozen.")

    def as_dict(self) -> dict:
        return copy.copy(self._config)

    def to_json(self) -> str:
        return json.dumps(self._config)

    def keys(self):
        return self._config.keys()

    def values(self):
        return self._config.values()

    def items(self):
        return self._config.items()

    def pop(self, *args):
        self._raise_if_frozen()
        return self._config.pop(*args)

    def update(self, *args, **kwargs) -> None:
        self._raise_if_frozen()
        self._config.update(*args, **kwargs)

    def get(self, keyname: str, value: Any = None) -> Any:
        return self._config.get(keyname, value)

    def __setattr__(self, name: str, value: Any) -> None:
        # The class's own names (methods, ``frozen``) stay attributes, as in Keras; any other is a setting.
        if hasattr(type(self), name):
            object.__setattr__(self, name, value)
            return
        self._raise_if_frozen()
        self._config[name] = value

    def __getattr__(self, name: str) -> Any:
        # Called only for names that are not real attributes: the settings.
        config = self.__dict__.get("_config", {})
        if name in config:
            return config[name]
        message = f"Unknown attribute: '{name}'."
        closest = difflib.get_close_matches(name, config.keys(), n=1, cutoff=0.7)
        if closest:
            message += f" Did you mean '{closest[0]}'?"
        raise AttributeError(message)

    def __setitem__(self, key: str, item: Any) -> None:
        self._raise_if_frozen()
        self._config[key] = item

    def __getitem__(self, key: str) -> Any:
        return self._config[key]

    def __delitem__(self, key: str) -> None:
        self._raise_if_frozen()
        del self._config[key]

    def __contains__(self, item: object) -> bool:
        return item in self._config

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._config))

    def __len__(self) -> int:
        return len(self._config)

    def __repr__(self) -> str:
        return f"<Config {self._config}>"
