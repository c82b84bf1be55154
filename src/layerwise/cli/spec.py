"""Models described in a JSON (or YAML) file with Keras' layer names and arguments.

    {"layers": [{"class_name": "Dense", "config": {"units": 64, "activation": "relu"}},
                {"Dropout": {"rate": 0.2}},
                ["Dense", {"units": 10, "activation": "softmax"}]],
     "compile": {"optimizer": "adam", "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}}

A bare list is the layer list. The input shape comes from the data. YAML needs PyYAML installed.
"""
from __future__ import annotations

import json
import os

from layerwise import layers as layers_module
from layerwise.cli.errors import UserError
from layerwise.models import Sequential

SPEC_EXTENSIONS = (".json", ".yaml", ".yml")


def is_spec_path(recipe: str) -> bool:
    return recipe.lower().endswith(SPEC_EXTENSIONS)


def read_spec(path: str) -> dict:
    """The parsed file as ``{"layers": [...], "compile": {...}}``."""
    if not os.path.isfile(path):
        raise UserError(f"{path}: no such model description file.")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.lower().endswith(".json"):
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as err:
            raise UserError(f"{path}, line {err.lineno}: invalid JSON ({err.msg}).") from None
    else:
        try:
            import yaml
        except ImportError:
            raise UserError(f"{path}: YAML model files need PyYAML (pip install pyyaml); "
                            "or write the same description as JSON.") from None
        try:
            spec = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise UserError(f"{path}: invalid YAML ({' '.join(str(err).split())}).") from None
    if isinstance(spec, list):
        spec = {"layers": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("layers"), list) or not spec["layers"]:
        raise UserError(f"{path}: expected a list of layers, or an object with a non-empty 'layers' list.")
    if not isinstance(spec.get("compile") or {}, dict):
        raise UserError(f"{path}: 'compile' must be an object such as {{\"optimizer\": \"adam\"}}; "
                        f"got {spec['compile']!r}.")
    return spec


def _layer_entry(entry, number: int, path: str) -> tuple[str, dict]:
    """``(class name, arguments)`` from any of the three accepted spellings of one layer."""
    if isinstance(entry, dict) and "class_name" in entry:
        name, args = entry["class_name"], entry.get("config")
    elif isinstance(entry, dict) and len(entry) == 1:
        name, args = next(iter(entry.items()))
    elif isinstance(entry, list) and len(entry) in (1, 2) and isinstance(entry[0], str):
        name, args = entry[0], entry[1] if len(entry) == 2 else None
    else:
        raise UserError(f"{path}: layer {number} must be {{\"class_name\": ..., \"config\": {{...}}}}, "
                        f"{{\"Dense\": {{...}}}} or [\"Dense\", {{...}}]; got {entry!r}.")
    if not isinstance(args or {}, dict):
        raise UserError(f"{path}: layer {number} ({name}): the arguments must be an object such as "
                        f"{{\"units\": 64}}; got {args!r}.")
    return name, dict(args or {})


def build_from_spec(spec: dict, input_shape: tuple[int, ...], path: str) -> Sequential:
    """A built Sequential: ``Input(input_shape)`` followed by the described layers."""
    model = Sequential([layers_module.Input(tuple(input_shape))], name=os.path.splitext(os.path.basename(path))[0])
    for number, entry in enumerate(spec["layers"], start=1):
        name, args = _layer_entry(entry, number, path)
        if name == "InputLayer" and number == 1:
            continue  # Keras' get_config()["layers"] starts with one; the data decides the input shape
        if name not in layers_module.LAYER_CLASSES or name in ("Layer", "InputLayer"):
            known = sorted(n for n in layers_module.__all__
                           if n in layers_module.LAYER_CLASSES and n not in ("Layer", "InputLayer"))
            raise UserError(f"{path}: layer {number}: unknown layer {name!r}; known layers: {', '.join(known)}.")
        args.pop("input_shape", None)  # the data decides the input shape
        try:
            layer = layers_module.get(name)(**args)
        except TypeError as err:
            raise UserError(f"{path}: layer {number} ({name}): {err}.") from None
        except ValueError as err:
            raise UserError(f"{path}: layer {number} ({name}): {err}") from None
        try:
            model.add(layer)
        except ValueError as err:
            raise UserError(f"{path}: layer {number} ({name}) does not fit: {err}") from None
    return model
