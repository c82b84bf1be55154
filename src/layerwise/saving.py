"""One-file model saving: a safetensors file whose header holds the architecture and compile
settings as JSON and whose tensors are the weights and the optimizer state. No pickle.

Writes go to a temporary file in the same folder, are flushed to disk, then renamed over the
target, so a crash during a save never destroys the previous file. The user's own functions and classes
are recorded by their registered names (``saving_registry.py``) and found again on loading.
"""
from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
import warnings
import zlib

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from layerwise import losses, metrics, optimizers
from layerwise.keras_export import NotKerasDescribable, keras_archive_bytes, weights_h5_bytes
from layerwise.keras_file_editor import KerasFileEditor
from layerwise.keras_models import is_keras_config, load_keras_model, model_from_keras_config
from layerwise.keras_weights import Mismatches, keras_weights_path, load_keras_weights, parse_json
from layerwise.layers.own_weights import OWN
from layerwise.layers.saving_hooks import overrides
from layerwise.saving_registry import (CustomObjectScope, custom_object_scope, deserialize_keras_object,
                                       get_custom_objects, get_registered_name, get_registered_object,
                                       loading_scope, register_keras_serializable, serialize_keras_object)

MODEL_FORMAT = "layerwise.model"
WEIGHTS_FORMAT = "layerwise.weights"
FORMAT_VERSION = "1"


def atomic_write(path: str | os.PathLike, data: bytes, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename (atomic on POSIX and Windows).

    As a plain ``open(path, "wb")`` (Keras' way) would: a symbolic link is written through to its target, an
    existing file keeps its permissions and a new one gets the umask's (``0o666 & ~umask``)."""
    shown = os.fspath(path)
    if not overwrite and os.path.exists(shown):
        raise FileExistsError(f"{shown} exists and overwrite=False.")
    path = os.path.realpath(shown)
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot write {shown}: the folder {folder} does not exist.")
    if os.path.isdir(path):
        raise IsADirectoryError(f"Cannot write {shown}: it is a folder. Give a file name inside it.")
    if os.path.exists(path) and not os.access(path, os.W_OK):  # open(path, "wb") refuses it; a rename would not
        raise PermissionError(errno.EACCES, f"Cannot write {shown}: the file is read-only", shown)
    mode = stat.S_IMODE(os.stat(path).st_mode) if os.path.exists(path) else 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=folder)
    except PermissionError:
        raise PermissionError(errno.EACCES, f"Cannot write {shown}: its folder {folder} is read-only",
                              shown) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # mkstemp makes the file 0o600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _umask() -> int:
    """The process's umask (reading it means setting it: it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class MissingFileError(FileNotFoundError, ValueError):
    """A file to load is not there: a FileNotFoundError, and the ValueError Keras' ``load_model`` raises."""


def model_name_error(filepath) -> str | None:
    """Why ``model.save`` refuses ``filepath``, or None: a ``.h5`` / ``.hdf5`` name asks Keras for its legacy HDF5
    model file, which layerwise does not write (and Keras would not read a layerwise file so named)."""
    name = os.fspath(filepath)
    if not name.endswith((".h5", ".hdf5")):
        return None
    return (f"Cannot save a model to filepath={name}: a name ending in .h5 or .hdf5 is Keras' legacy HDF5 model "
            "format, which layerwise does not write. Use a name ending in .keras (Keras 3's archive, which Keras "
            "loads too) or .lw (layerwise's own file); model.save_weights('....weights.h5') writes Keras' weights "
            "file.")


def weights_name_error(filepath) -> str | None:
    """Why ``model.save_weights`` refuses ``filepath``, or None: the names Keras gives its other files (``.h5``,
    ``.hdf5``, ``.keras``, ``.weights.json``), which would hold a layerwise file neither Keras nor ``load_model``
    reads. ``.weights.h5`` gets Keras' weights file, any other name layerwise's own."""
    name = os.fspath(filepath)
    if name.endswith(".weights.h5") or not name.endswith((".h5", ".hdf5", ".keras", ".weights.json")):
        return None
    return (f"The filename must end in `.weights.h5`. Received: filepath={name} (Keras' weights file; a name Keras "
            "does not use, such as 'weights.lw', gets layerwise's own weights file).")


def weight_tensors(model, prefix: str = "weights") -> dict[str, torch.Tensor]:
    """A model's weights in PyTorch layout, keyed ``<prefix>/<layer index>/<weight key>`` (see ``WeightView.key``).

    A layer shared by a nested model and the model itself is written under both indices, the second a copy
    (safetensors refuses shared memory): rebuilt from its config the model holds two such layers, as in Keras."""
    own = model.own_weight_views()  # a subclassed model's own weights (add_weight), keyed <prefix>/own/<weight>
    tensors = {f"{prefix}/{OWN}/{view.key}": view.tensor.detach().cpu().contiguous() for view in own}
    seen = {id(view.tensor) for view in own}
    for i, layer in enumerate(model.layers):
        for view in layer.weight_views():
            tensor = view.tensor.detach().cpu().contiguous()
            tensors[f"{prefix}/{i}/{view.key}"] = tensor.clone() if id(view.tensor) in seen else tensor
            seen.add(id(view.tensor))
    return tensors


def compile_config(model) -> dict | None:
    """The ``compile`` arguments of ``model`` as JSON-able values (None before ``compile``)."""
    if model.optimizer is None:
        return None
    return {"optimizer": optimizers.serialize(model.optimizer), **model._outputs.config()}


def compile_from_config(model, config: dict) -> None:
    """``model.compile`` with the arguments ``compile_config`` recorded."""
    loss = config["loss"]
    if isinstance(loss, list):
        loss = [_loss_from_config(item) for item in loss]
    elif isinstance(loss, dict) and "class_name" not in loss and "name" not in loss:  # Keras: one per output name
        loss = {key: _loss_from_config(item) for key, item in loss.items()}
    else:
        loss = _loss_from_config(loss)
    model.compile(optimizer=optimizers.deserialize(config["optimizer"]), loss=loss,
                  loss_weights=config.get("loss_weights"), metrics=_metrics_from_config(config["metrics"]),
                  weighted_metrics=_metrics_from_config(config.get("weighted_metrics")),
                  run_eagerly=config.get("run_eagerly", False), jit_compile=config.get("jit_compile", "auto"),
                  steps_per_execution=config.get("steps_per_execution", 1))
    if model.built:  # as Keras: the optimizer's variables exist once the model is loaded (its summary counts them)
        model.optimizer.build_for(model, model.trainable_weights)


def _loss_from_config(item):
    """A saved loss: None (compiled without one: the model adds its own), a name as Keras writes it ("mse",
    which compile resolves) or a config dict."""
    return item if item is None or isinstance(item, str) else losses.deserialize(item)


def _hook_tensors(model, assets: bool = True) -> dict[str, torch.Tensor]:
    """What layers that override ``save_own_variables`` or (with ``assets``) ``save_assets`` save:
    ``own/<layer>/<key>`` arrays and ``assets/<layer>/<file>`` bytes (see ``layers/saving_hooks.py``)."""
    tensors = {}
    for i, layer in enumerate(model.layers):
        if overrides(layer, "save_own_variables"):
            store: dict = {}
            layer.save_own_variables(store)
            for key, value in store.items():
                # a copy: a layer's store may hold read-only arrays, which torch warns about sharing
                value = value.detach().cpu() if isinstance(value, torch.Tensor) else torch.from_numpy(np.array(value))
                tensors[f"own/{i}/{key}"] = value.contiguous()
        if assets and overrides(layer, "save_assets"):
            with tempfile.TemporaryDirectory() as directory:
                layer.save_assets(directory)
                for root, _, files in os.walk(directory):
                    for name in files:
                        path = os.path.join(root, name)
                        with open(path, "rb") as f:
                            data = np.frombuffer(f.read(), dtype=np.uint8).copy()
                        tensors[f"assets/{i}/{os.path.relpath(path, directory)}"] = torch.from_numpy(data)
    return tensors


def _load_hooks(model, tensors: dict[str, torch.Tensor]) -> None:
    """Hand each layer what its ``save_own_variables`` and ``save_assets`` saved."""
    for i, layer in enumerate(model.layers):
        own = {k[len(f"own/{i}/"):]: v.numpy() for k, v in tensors.items() if k.startswith(f"own/{i}/")}
        if own and overrides(layer, "load_own_variables"):
            layer.load_own_variables(own)
        assets = {k[len(f"assets/{i}/"):]: v for k, v in tensors.items() if k.startswith(f"assets/{i}/")}
        if assets and overrides(layer, "load_assets"):
            with tempfile.TemporaryDirectory() as directory:
                for name, data in assets.items():
                    path = os.path.join(directory, name)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "wb") as f:
                        f.write(data.numpy().tobytes())
                layer.load_assets(directory)


def save_model(model, filepath, overwrite: bool = True, zipped: bool | None = None) -> None:
    """Save architecture, weights and (if compiled and trained) optimizer state to ``filepath``: a Keras 3
    ``.keras`` archive for a name ending in ``.keras`` (``keras_export.py``), layerwise's own file otherwise or
    when Keras' form cannot hold the model (a warning says why). ``zipped`` is Keras': files here are always
    single (zipped) files. A model not built yet is saved without weights, as Keras does (with its warning)."""
    if zipped is not None and not zipped:
        raise ValueError(f"model.save({os.fspath(filepath)!r}, zipped=False): layerwise does not write Keras' "
                         "unzipped model folder; leave zipped out (or True) to write one file.")
    error = model_name_error(filepath)
    if error:
        raise ValueError(error)
    if not model.built:
        warnings.warn("You are saving a model that has not yet been built. It might not contain any weights yet. "
                      "Consider building the model first by calling it on some data.", stacklevel=3)
    if os.fspath(filepath).endswith(".keras"):
        try:
            data = keras_archive_bytes(model)
        except NotKerasDescribable as err:
            warnings.warn(f"{os.fspath(filepath)!r} is written in layerwise's own format, which layerwise's "
                          f"load_model reads but Keras cannot: {err}", stacklevel=3)
        else:
            atomic_write(filepath, data, overwrite)
            return
    tensors = {**weight_tensors(model), **_hook_tensors(model), **optimizer_tensors(model)}
    metadata = {"format": MODEL_FORMAT, "version": FORMAT_VERSION,
                "model_config": json.dumps(model._own_spec()),
                "compile_config": json.dumps(_saved_compile_config(model))}
    write_file(filepath, tensors, metadata, overwrite)


def _saved_compile_config(model) -> dict | None:
    """What a layerwise file records of ``compile``: a model class's own ``get_compile_config`` when it defines
    one (its ``compile_from_config`` reads it back, as in Keras' guide), else layerwise's form of the arguments."""
    from layerwise.models.trainer import Trainer
    from layerwise.saving_registry import serialize_keras_object
    own = type(model).get_compile_config is not Trainer.get_compile_config
    # Its values (functions, optimizers...) are written as Keras writes them; compile_from_config deserializes them.
    return serialize_keras_object(model.get_compile_config()) if own else compile_config(model)


_CHECKSUM = "tensors_crc32"


def _tensors_crc32(tensors: dict[str, torch.Tensor]) -> str:
    """CRC-32 of the tensors' bytes in name order, as 8 hex digits."""
    crc = 0
    for name in sorted(tensors):
        crc = zlib.crc32(name.encode(), crc)
        crc = zlib.crc32(tensors[name].detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy(), crc)
    return f"{crc:08x}"


def write_file(filepath, tensors: dict[str, torch.Tensor], metadata: dict[str, str], overwrite: bool = True) -> None:
    """A layerwise (safetensors) file, written atomically, with a checksum of its tensors: a damaged file is
    then reported by ``read_file`` instead of loading wrong weights (safetensors checks shapes, not values)."""
    atomic_write(filepath, save_bytes(tensors, metadata={**metadata, _CHECKSUM: _tensors_crc32(tensors)}), overwrite)


def read_file(filepath, expected_format: str, hint: str = "") -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a layerwise file of ``expected_format``, or a clear error naming the file."""
    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise MissingFileError(f"File not found: filepath={path}. Please ensure the file is an accessible `.keras` "
                               "zip file or a file layerwise wrote.")
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"PK":
        raise ValueError(f"{path!r} is a zip archive (such as a Keras .keras file), not a layerwise file. "
                         "Rebuild the model in layerwise with the same code, then load the file's weights with "
                         "load_weights.")
    try:
        tensors = load_bytes(data)
        header_len = int.from_bytes(data[:8], "little")
        metadata = json.loads(data[8:8 + header_len]).get("__metadata__") or {}
    except (SafetensorError, ValueError, UnicodeDecodeError) as err:
        kinds = "neither a Keras file (it starts as neither a zip archive nor HDF5) nor a layerwise file" \
            if path.endswith((".keras", ".h5", ".hdf5")) else "not a layerwise file"
        raise ValueError(f"{path!r} is truncated or corrupt, or {kinds} ({err}).") from None
    if metadata.get("format") != expected_format:
        raise ValueError(f"{path!r} is not a {expected_format} file (found format "
                         f"{metadata.get('format')!r}).{hint}")
    version = metadata.get("version", FORMAT_VERSION)
    if not version.isdigit() or int(version) > int(FORMAT_VERSION):
        raise ValueError(f"{path!r} was written in {expected_format} version {version}, which this layerwise "
                         f"(it reads version {FORMAT_VERSION}) does not know: upgrade layerwise to load it.")
    checksum = metadata.pop(_CHECKSUM, None)  # files written before checksums have none
    if checksum is not None and checksum != _tensors_crc32(tensors):
        raise ValueError(f"{path!r} is corrupt: its tensors do not match the checksum written with them (bytes "
                         "changed on disk or in transfer). Load a backup copy.")
    return tensors, metadata


def model_from_json(json_string: str, custom_objects: dict | None = None, *, source: str = "the JSON"):
    """The model ``model.to_json()`` described, with new weights; the user's objects it names (a subclassed
    model's class too) are looked up in ``custom_objects`` too. Keras' own JSON (Keras 3's or 2's) is read too."""
    from layerwise.models.model import deserialize_layer

    spec = json.loads(json_string)
    if is_keras_config(spec) or (isinstance(spec, dict) and "registered_name" in spec):  # or a subclassed model
        return model_from_keras_config(spec, custom_objects)
    if not isinstance(spec, dict) or spec.get("class_name") not in ("Sequential", "Functional"):
        name = spec.get("class_name") if isinstance(spec, dict) else type(spec).__name__
        raise ValueError(f"{source} holds a {name}, not a Sequential or functional model from "
                         "model.to_json(); this version cannot rebuild it.")
    with loading_scope(custom_objects, "model_from_json"):
        return deserialize_layer(spec)


def _metrics_from_config(value):
    """Saved metric entries (nested lists of names and configs, or a dict of them per output) as ``compile``
    takes them."""
    if value is None:
        return None
    if isinstance(value, list):
        return [_metrics_from_config(item) for item in value]
    if isinstance(value, dict) and "class_name" not in value and "config" not in value:
        return {key: _metrics_from_config(item) for key, item in value.items()}
    return metrics.deserialize(value)


def load_model(filepath, custom_objects: dict | None = None, compile: bool = True, safe_mode: bool = True):
    """Rebuild a model saved with ``model.save``; it predicts exactly as the saved one did.

    ``custom_objects`` (``{"name": function or class}``) names the user's objects the file refers to, as
    ``custom_object_scope`` does. ``safe_mode`` is accepted for Keras code: layerwise files never hold code.
    A model file Keras wrote (``.keras``, or a legacy ``.h5`` of Keras 2) is rebuilt too (``keras_models.py``).
    """
    keras_file = keras_weights_path(filepath)
    if keras_file is not None:
        return load_keras_model(keras_file, custom_objects, compile)
    tensors, metadata = read_file(filepath, MODEL_FORMAT)
    if "model_config" not in metadata:
        raise ValueError(f"{str(filepath)!r} is corrupt: its header has no model_config.")
    parse_json(metadata["model_config"], filepath, "model_config")  # damage reported by the file's name
    saved_compile_config = parse_json(metadata.get("compile_config") or "null", filepath, "compile_config")
    with loading_scope(custom_objects, "load_model"):
        model = model_from_json(metadata["model_config"], source=repr(str(filepath)))
        if model.built or any(key.startswith("weights/") for key in tensors):  # else saved before it was built
            load_weight_tensors(model, tensors, filepath)
            _load_hooks(model, tensors)
        if compile and saved_compile_config:
            model.compile_from_config(saved_compile_config)
            load_optimizer_tensors(model, tensors, filepath)
    return model


def optimizer_tensors(model) -> dict[str, torch.Tensor]:
    """The compiled model's optimizer state (slots in PyTorch's layout), keyed ``optimizer/<name>``; empty before
    the optimizer's first step."""
    if model.optimizer is None or not model.optimizer.built:
        return {}
    return {f"optimizer/{k}": v.detach().cpu().contiguous() for k, v in model.optimizer.state_tensors().items()}


def load_optimizer_tensors(model, tensors: dict[str, torch.Tensor], filepath) -> None:
    """Restore what ``optimizer_tensors`` saved into the (just compiled) model's optimizer, refusing slots that do
    not fit its weights."""
    slots = {k[len("optimizer/"):]: v for k, v in tensors.items() if k.startswith("optimizer/")}
    if not slots or model.optimizer is None:
        return
    model.optimizer.build_for(model)
    mine = model.optimizer.state_tensors()
    if set(slots) < set(mine):  # a layer shared with a nested model comes back as two layers (as in Keras)
        warnings.warn(f"{str(filepath)!r}: skipping the optimizer state, as Keras does when counts differ: the "
                      f"rebuilt model's {type(model.optimizer).__name__} has {len(mine)} state tensors, the file "
                      f"{len(slots)}. Training goes on from a fresh optimizer state.", stacklevel=3)
        return
    for key, value in slots.items():
        if key not in mine or tuple(mine[key].shape) != tuple(value.shape):
            raise ValueError(f"{str(filepath)!r}: the optimizer state {key!r} does not fit the model's optimizer "
                             f"({type(model.optimizer).__name__}); load with compile=False to skip it.")
    model.optimizer.load_state_tensors({k: v.to(model.device()) for k, v in slots.items()})


def load_weight_tensors(model, tensors: dict[str, torch.Tensor], filepath, prefix: str = "weights",
                        skip_mismatch: bool = False) -> None:
    """Copy ``weight_tensors``-style entries into a built model, refusing any that do not fit (with
    ``skip_mismatch``, leaving such a layer as it was and naming it in one warning, as Keras does)."""
    if not model.built:
        raise ValueError(f"{filepath!r}: the saved model has no input shape, so it cannot be rebuilt.")
    skips = Mismatches(skip_mismatch)
    skips.load(model, _load_own_tensors, model, tensors, filepath, prefix)
    for i, layer in enumerate(model.layers):
        skips.load(layer, _load_layer_tensors, layer, i, tensors, filepath, prefix)
    skips.warn()


def _load_own_tensors(model, tensors: dict[str, torch.Tensor], filepath, prefix: str) -> None:
    """The weights a subclassed model made itself (``add_weight``), keyed ``<prefix>/own/<weight>``."""
    _copy_checked([(view, f"{prefix}/{OWN}/{view.key}") for view in model.own_weight_views()], tensors, filepath)


def _load_layer_tensors(layer, i: int, tensors: dict[str, torch.Tensor], filepath, prefix: str) -> None:
    """The weights of ``layer``, the model's ``i``-th, checked before any is copied."""
    keyed = []
    for view in layer.weight_views():
        key = f"{prefix}/{i}/{view.key}"
        keyed.append((view, key if key in tensors else f"{prefix}/{i}/{view.name}"))  # files keyed by weight name
    _copy_checked(keyed, tensors, filepath)


def _copy_checked(keyed: list, tensors: dict[str, torch.Tensor], filepath) -> None:
    """Copy ``tensors[key]`` into each ``(view, key)``'s tensor, after checking that every one is there and fits."""
    found = []
    for view, key in keyed:
        if key not in tensors:
            raise ValueError(f"{str(filepath)!r} does not match the model: it has no weight {key!r}.")
        if tensors[key].shape != view.tensor.shape:
            raise ValueError(f"{str(filepath)!r} does not match the model: weight {key!r} has shape "
                             f"{tuple(tensors[key].shape)} in the file, the model's is {tuple(view.tensor.shape)}.")
        found.append((view, tensors[key]))
    with torch.no_grad():
        for view, tensor in found:
            view.tensor.copy_(tensor)


def save_weights(model, filepath, overwrite: bool = True, max_shard_size: float | None = None) -> None:
    """The weights to ``filepath``: Keras 3's weights file for a name ending in ``.weights.h5``, layerwise's own for
    a name Keras does not use (the others are refused, see ``weights_name_error``). ``max_shard_size`` is Keras':
    files here are never split into shards."""
    if max_shard_size is not None:
        raise ValueError(f"save_weights({os.fspath(filepath)!r}, max_shard_size={max_shard_size!r}): layerwise does "
                         "not split weights into shards (Keras' .weights.json); leave max_shard_size out.")
    error = weights_name_error(filepath)
    if error:
        raise ValueError(error)
    if not model.built:
        raise ValueError(f"Model '{model.name}' is not built yet, so it has no weights to save; build it (or "
                         "call or fit it) first.")
    if os.fspath(filepath).endswith(".weights.h5"):  # Keras 3's weights file, which Keras loads too
        atomic_write(filepath, weights_h5_bytes(model, optimizer=True), overwrite)
        return
    metadata = {"format": WEIGHTS_FORMAT, "version": FORMAT_VERSION}
    # As Keras' weights files: what layers keep through save_own_variables (buffers...) too, not assets.
    tensors = {**weight_tensors(model), **_hook_tensors(model, assets=False)}
    write_file(filepath, tensors, metadata, overwrite)


def load_weights(model, filepath, skip_mismatch: bool = False) -> None:
    """Weights from a layerwise weights file or, for a model built as the Keras one was, from a file Keras wrote
    (``.weights.h5``, ``.keras``, legacy ``.h5``; see ``keras_weights``). With ``skip_mismatch`` a layer whose
    weights are missing or of other shapes keeps its own, as in Keras, and a warning names it."""
    if not model.built:
        raise ValueError(f"Model '{model.name}' is not built yet, so it has no weights to load {str(filepath)!r} "
                         "into: call it on a batch of data (or build it) first, then load the weights.")
    keras_file = keras_weights_path(filepath)
    if keras_file is not None:
        load_keras_weights(model, keras_file, skip_mismatch)
        return
    tensors, _ = read_file(filepath, WEIGHTS_FORMAT)
    load_weight_tensors(model, tensors, filepath, skip_mismatch=skip_mismatch)
    _load_hooks(model, tensors)


__all__ = ["MissingFileError", "atomic_write", "load_model", "load_optimizer_tensors", "load_weight_tensors",
           "load_weights", "optimizer_tensors", "read_file", "save_model", "save_weights", "weight_tensors",
           "write_file"]
__all__ += ["KerasFileEditor"]
__all__ += ["CustomObjectScope", "custom_object_scope", "deserialize_keras_object", "get_custom_objects",
            "get_registered_name", "get_registered_object", "model_from_json", "register_keras_serializable",
            "serialize_keras_object"]
