"""Keras' ``FeatureSpace``: one object that preprocesses and encodes the columns of a table, built on
layerwise's preprocessing layers (Normalization, Discretization, IntegerLookup, StringLookup, Hashing,
HashedCrossing, CategoryEncoding).

Keras adapts it on a ``tf.data.Dataset`` of dicts and maps it over that dataset; layerwise users have arrays,
so ``adapt`` takes a dict of columns (numpy arrays, lists, tensors), a pandas DataFrame, or an iterable of dict
batches (a list of dicts, a generator), and a call on the same kinds of dict gives the encoded tensor to pass
to ``fit``. The pieces (feature specs, data handling, saving preprocessors) are in ``feature_space_specs.py``.

Other differences from Keras: columns the features do not name are ignored (Keras raises a KeyError); string
features cannot go through ``get_inputs()`` / ``get_encoded_features()`` (layerwise models take tensors); in a
functional model the FeatureSpace is one layer (in Keras its preprocessors are), whose weights are those of its
preprocessors in the order Keras' model lists them (an adapted Normalization's mean, variance and count), so
``get_weights()`` lines up with Keras' model, though a standalone Keras FeatureSpace lists them in the order of
``features``; ``save`` writes a layerwise
file that ``FeatureSpace.load`` reads (Keras: a ``.keras`` file for ``keras.models.load_model``); and
``float_discretized(bin_boundaries=...)`` works (Keras rejects it).
"""
from __future__ import annotations

import json

import torch
from torch import nn

from layerwise.backend import unique_name
from layerwise.layers.base import Layer, Shape
from layerwise.layers.categorical import CategoryEncoding, Discretization, Hashing, IntegerLookup
from layerwise.layers.core import Input, Rescaling
from layerwise.layers.hashed_crossing import HashedCrossing
from layerwise.layers.preprocessing import Normalization
from layerwise.layers.reshaping import Identity
from layerwise.layers.symbolic import is_symbolic
from layerwise.layers.weights import WeightView
from layerwise.preprocessing.lookup import StringLookup
from layerwise.preprocessing.text import TextVectorization
from layerwise.saving import read_file, write_file
from layerwise.utils.feature_space_specs import (Cross, Feature, adapt_batches, as_column_batch, column, columns_of,
                                                 to_tensor)

FILE_FORMAT = "layerwise.feature_space"
_FEATURE_TYPES = ("float", "float_discretized", "float_normalized", "float_rescaled", "integer_categorical",
                  "integer_hashed", "string_categorical", "string_hashed")


def _device_of(module) -> torch.device | None:
    """Where a layer's weights or buffers live (None for a layer without any, or a preprocessor on numpy)."""
    if not isinstance(module, nn.Module):
        return None
    tensor = next(iter(module.parameters()), None)
    tensor = tensor if tensor is not None else next(iter(module.buffers()), None)
    return None if tensor is None else tensor.device


def _naming(err: Exception, message: str) -> Exception:
    """``message`` (which names the feature) as an error of ``err``'s base kind: TypeError, ValueError or
    RuntimeError (subclasses may take other constructor arguments)."""
    kind = next(k for k in (TypeError, ValueError, RuntimeError) if isinstance(err, k))
    return kind(message)


class FeatureSpace(Layer):
    """Preprocesses and encodes the features of a table, as Keras' ``FeatureSpace``.

    ``features`` maps each column name to a type: a name ("float", "float_rescaled", "float_normalized",
    "float_discretized", "integer_categorical", "string_categorical", "integer_hashed", "string_hashed", with
    default arguments) or ``FeatureSpace.<type>(...)`` / ``FeatureSpace.feature(dtype, preprocessor,
    output_mode)``. ``crosses`` lists tuples of feature names (or ``FeatureSpace.cross(...)``) whose ids are
    hashed together into ``crossing_dim`` bins. After ``adapt(data)``, a call on a dict of columns (or a
    DataFrame) of ``batch`` rows gives one float32 tensor ``(batch, dim)`` ("concat": features in sorted
    name order, then crosses in sorted name order) or a dict of ``(batch, d)`` tensors ("dict"); a dict of
    scalars (one sample) gives ``(dim,)``. Categorical features are one-hot rows, floats one column each.

    Keras' ``dataset.map(lambda x, y: (feature_space(x), y))`` becomes, on arrays::

        feature_space = FeatureSpace({"age": "float_discretized", "sex": "integer_categorical",
                                      "thal": "string_categorical", "chol": "float_normalized"},
                                     crosses=[("sex", "age")], crossing_dim=32)
        feature_space.adapt(train_df)                       # a DataFrame, a dict of arrays, or dict batches
        x_train = feature_space(train_df)                   # (n, dim) float32
        model = Sequential([Input((x_train.shape[1],)), Dense(32, activation="relu"),
                            Dense(1, activation="sigmoid")])
        model.fit(x_train, y_train)
        model.predict(feature_space(new_rows))

    Without string features, Keras' functional pattern works too: ``encoded =
    feature_space.get_encoded_features(); out = Dense(1)(encoded); model = Model(feature_space.get_inputs(),
    out)`` is a model on dicts of raw columns, and ``Model(encoded, out)`` the same layers on encoded arrays.
    Strings cannot enter a layerwise model (its inputs are tensors), so with string features encode the data
    first, as above.
    """

    # ---- feature types, as Keras' class methods --------------------------------------------------------------
    @classmethod
    def cross(cls, feature_names, crossing_dim: int, output_mode: str = "one_hot") -> Cross:
        return Cross(feature_names, crossing_dim, output_mode=output_mode)

    @classmethod
    def feature(cls, dtype: str, preprocessor, output_mode: str) -> Feature:
        """Any preprocessor (a layer, StringLookup, TextVectorization...) on raw values of ``dtype``."""
        return Feature(dtype, preprocessor, output_mode)

    @classmethod
    def float(cls, name: str | None = None) -> Feature:
        """Float values as they are."""
        name = name or unique_name("float")
        return Feature("float32", Identity(name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_rescaled(cls, scale=1.0, offset=0.0, name: str | None = None) -> Feature:
        """``value * scale + offset``."""
        name = name or unique_name("float_rescaled")
        return Feature("float32", Rescaling(scale=scale, offset=offset, name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_normalized(cls, name: str | None = None) -> Feature:
        """``(value - mean) / std`` with the mean and variance that ``adapt`` learns."""
        name = name or unique_name("float_normalized")
        return Feature("float32", Normalization(axis=-1, name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_discretized(cls, num_bins: int, bin_boundaries=None, output_mode: str = "one_hot",
                          name: str | None = None) -> Feature:
        """Bin ids of ``num_bins`` quantile bins learned by ``adapt``, or of the given ``bin_boundaries``."""
        name = name or unique_name("float_discretized")
        options = {"bin_boundaries": bin_boundaries} if bin_boundaries is not None else {"num_bins": num_bins}
        return Feature("float32", Discretization(name=f"{name}_preprocessor", **options), output_mode)

    @classmethod
    def integer_categorical(cls, max_tokens: int | None = None, num_oov_indices: int = 1,
                            output_mode: str = "one_hot", name: str | None = None) -> Feature:
        """Vocabulary ids of integers (an IntegerLookup that ``adapt`` fills)."""
        name = name or unique_name("integer_categorical")
        lookup = IntegerLookup(name=f"{name}_preprocessor", max_tokens=max_tokens, num_oov_indices=num_oov_indices)
        return Feature("int32", lookup, output_mode)

    @classmethod
    def string_categorical(cls, max_tokens: int | None = None, num_oov_indices: int = 1,
                           output_mode: str = "one_hot", name: str | None = None) -> Feature:
        """Vocabulary ids of strings (a StringLookup that ``adapt`` fills)."""
        name = name or unique_name("string_categorical")
        lookup = StringLookup(name=f"{name}_preprocessor", max_tokens=max_tokens, num_oov_indices=num_oov_indices)
        return Feature("string", lookup, output_mode)

    @classmethod
    def string_hashed(cls, num_bins: int, output_mode: str = "one_hot", name: str | None = None) -> Feature:
        """Strings hashed into ``num_bins`` bins."""
        name = name or unique_name("string_hashed")
        return Feature("string", Hashing(name=f"{name}_preprocessor", num_bins=num_bins), output_mode)

    @classmethod
    def integer_hashed(cls, num_bins: int, output_mode: str = "one_hot", name: str | None = None) -> Feature:
        """Integers hashed into ``num_bins`` bins."""
        name = name or unique_name("integer_hashed")
        return Feature("int32", Hashing(name=f"{name}_preprocessor", num_bins=num_bins), output_mode)

    # ---- construction ----------------------------------------------------------------------------------------
    def __init__(self, features: dict, output_mode: str = "concat", crosses=None, crossing_dim: int = 32,
                 hashing_dim: int = 32, num_discretization_bins: int = 32, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        if not isinstance(features, dict) or not features:
            raise ValueError(f"FeatureSpace: features must be a non-empty dict (feature name -> type), got "
                             f"{features!r:.200}.")
        if output_mode not in ("concat", "dict"):
            raise ValueError(f"FeatureSpace: output_mode must be 'concat' or 'dict', got {output_mode!r}.")
        self.output_mode, self.crossing_dim = output_mode, crossing_dim
        self.hashing_dim, self.num_discretization_bins = hashing_dim, num_discretization_bins
        self.features = {key: self._standardize_feature(key, value) for key, value in features.items()}
        self.crosses = [self._standardize_cross(cross) for cross in crosses or []]
        self.crosses_by_name = {cross.name: cross for cross in self.crosses}
        self.preprocessors = {key: feature.preprocessor for key, feature in self.features.items()}
        self.crossers = {cross.name: HashedCrossing(cross.crossing_dim, name=cross.name) for cross in self.crosses}
        self.one_hot_encoders: dict[str, CategoryEncoding] = {}
        # Registered so that .to(device) moves them; a list, as feature names need not be valid module names.
        self._preprocessing_layers = nn.ModuleList(
            [p for p in self.preprocessors.values() if isinstance(p, nn.Module)] + list(self.crossers.values()))
        self._encoder_layers = nn.ModuleList()
        self._feature_names, self._cross_names = sorted(self.features), sorted(self.crosses_by_name)
        # Given their state at construction (Keras skips them too): a Normalization with mean and variance, a
        # TextVectorization with a vocabulary, and (unlike Keras, which cannot adapt it) a Discretization with
        # bin_boundaries.
        self._fixed = {key for key, p in self.preprocessors.items() if
                       isinstance(p, Normalization) and p.input_mean is not None or
                       isinstance(p, Discretization) and p.num_bins is None or
                       isinstance(p, TextVectorization) and p.get_vocabulary(include_special_tokens=False)}
        self._cardinalities: dict[str, int] | None = None
        self._is_adapted = False
        self.inputs: dict | None = None
        self.encoded_features = None

    def _standardize_feature(self, name: str, value) -> Feature:
        if isinstance(value, Feature):
            return value
        if isinstance(value, dict):
            return Feature.from_config(value)
        makers = {"float": lambda: self.float(name=name),
                  "float_rescaled": lambda: self.float_rescaled(name=name),
                  "float_normalized": lambda: self.float_normalized(name=name),
                  "float_discretized": lambda: self.float_discretized(self.num_discretization_bins, name=name),
                  "integer_categorical": lambda: self.integer_categorical(name=name),
                  "string_categorical": lambda: self.string_categorical(name=name),
                  "integer_hashed": lambda: self.integer_hashed(self.hashing_dim, name=name),
                  "string_hashed": lambda: self.string_hashed(self.hashing_dim, name=name)}
        if not isinstance(value, str) or value not in makers:
            raise ValueError(f"FeatureSpace: feature {name!r} has an unknown type {value!r}; expected one of "
                             f"{list(_FEATURE_TYPES)}, or a spec such as FeatureSpace.float_normalized() or "
                             "FeatureSpace.feature(dtype, preprocessor, output_mode).")
        return makers[value]()

    def _standardize_cross(self, cross) -> Cross:
        if isinstance(cross, dict):
            cross = Cross.from_config(cross)
        elif not isinstance(cross, Cross):
            if not self.crossing_dim:
                raise ValueError("FeatureSpace: crosses given as feature names need crossing_dim (the number of "
                                 f"hashing bins), got crossing_dim={self.crossing_dim!r}.")
            cross = Cross(cross, crossing_dim=self.crossing_dim)
        unknown = [key for key in cross.feature_names if key not in self.features]
        if unknown:
            raise ValueError(f"FeatureSpace: cross {list(cross.feature_names)} names unknown feature(s) {unknown}; "
                             f"the features are {list(self.features)}.")
        return cross

    # ---- adapting --------------------------------------------------------------------------------------------
    def _adaptable(self) -> list[str]:
        return [key for key, p in self.preprocessors.items() if hasattr(p, "adapt") and key not in self._fixed]

    def adapt(self, data) -> None:
        """Learn each preprocessor's state (vocabularies, means and variances, bin boundaries) from ``data``: a
        dict of columns or a DataFrame (adapted in batches of 32 rows, as Keras batches the dataset it makes of
        a dict), or an iterable of dict batches or of ``(dict, labels)`` pairs (a list, a generator: read once),
        or of single rows (dicts of scalars, grouped by 32). Keras takes a ``tf.data.Dataset`` or a dict."""
        names = self._adaptable()
        if names:
            owner = f"FeatureSpace '{self.name}'.adapt"
            batches = adapt_batches(data, {key: self.features[key] for key in names}, owner)
            for key in names:
                preprocessor = self.preprocessors[key]
                try:
                    preprocessor.adapt(iter(batches[key]))
                except (TypeError, ValueError, RuntimeError) as err:
                    raise _naming(err, f"FeatureSpace '{self.name}': adapting feature {key!r} "
                                       f"({type(preprocessor).__name__}) failed: {err}") from err
        self._is_adapted = True
        self._build_encoders()
        self.inputs = self.encoded_features = None  # built again on request: sizes may have changed

    def _check_ready(self) -> None:
        if not self._is_adapted:
            pending = self._adaptable()
            if pending:
                raise ValueError(f"FeatureSpace '{self.name}' is not adapted: call feature_space.adapt(data) before "
                                 f"using it; feature(s) {pending} learn their vocabulary, statistics or bins from "
                                 "the data.")
            self._is_adapted = True
        if self._cardinalities is None:
            self._build_encoders()

    def _cardinality(self, name: str, preprocessor) -> int:
        """The number of ids a preprocessor gives, for its one-hot rows."""
        if isinstance(preprocessor, (IntegerLookup, StringLookup)):
            return preprocessor.vocabulary_size()
        if isinstance(preprocessor, CategoryEncoding):
            return preprocessor.num_tokens
        if isinstance(preprocessor, Discretization):  # given boundaries: one bin more than boundaries
            return preprocessor.num_bins or len(preprocessor.bin_boundaries) + 1
        if isinstance(preprocessor, (HashedCrossing, Hashing)):
            return preprocessor.num_bins
        raise ValueError(f"FeatureSpace: feature {name!r} has output_mode='one_hot', but its preprocessor "
                         f"({type(preprocessor).__name__}) is not a standard one, so the number of its ids is not "
                         "known and it cannot be one-hot encoded; use output_mode='int'.")

    def _build_encoders(self) -> None:
        specs = {**{key: (f, self.preprocessors[key]) for key, f in self.features.items()},
                 **{key: (c, self.crossers[key]) for key, c in self.crosses_by_name.items()}}
        self._cardinalities = {key: self._cardinality(key, p) for key, (spec, p) in specs.items()
                               if spec.output_mode == "one_hot"}
        self.one_hot_encoders = {key: CategoryEncoding(num_tokens=n, output_mode="multi_hot")
                                 for key, n in self._cardinalities.items()}
        self._encoder_layers = nn.ModuleList(self.one_hot_encoders.values())

    # ---- calling ---------------------------------------------------------------------------------------------
    def __call__(self, data, *args, **kwargs):
        if is_symbolic(data):
            self._check_model_ready()
            out = super().__call__(data, *args, **kwargs)
            return dict(zip(self._output_names(), out)) if self.output_mode == "dict" else out
        return self.forward(data)

    def _output_names(self) -> list[str]:
        return self._feature_names + self._cross_names

    def forward(self, data) -> torch.Tensor | dict[str, torch.Tensor]:
        """Encode a dict of columns (arrays, lists, tensors, or scalars for one sample) or a DataFrame."""
        self._check_ready()
        owner = f"FeatureSpace '{self.name}'"
        if not isinstance(data, dict) and not (hasattr(data, "columns") and hasattr(data, "iloc")):
            raise ValueError(f"{owner} is called on a dict of columns (feature name -> values) or a pandas "
                             f"DataFrame, got {type(data).__name__}.")
        columns = columns_of(data, owner)
        missing = [key for key in self.features if key not in columns]
        if missing:
            raise ValueError(f"{owner}: the data lacks the feature(s) {missing}; it has {list(columns)}.")
        values = {key: column(columns[key]) for key in self.features}
        single = any(v.ndim == 0 for v in values.values())  # Keras' "rebatched" sample: outputs lose the batch axis
        target = next((v.device for v in values.values() if isinstance(v, torch.Tensor)), torch.device("cpu"))
        ids = {key: self._preprocess(key, values[key]) for key in self._feature_names}
        for name in self._cross_names:
            crosser = self.crossers[name]
            ids[name] = to_tensor(crosser([ids[key] for key in self.crosses_by_name[name].feature_names]))
        specs = {**self.features, **self.crosses_by_name}
        encoded = {key: self._encode(key, specs[key], ids[key]).to(target) for key in self._output_names()}
        if self.output_mode == "dict":
            return {k: v.squeeze(0) if single and v.ndim == 2 and v.shape[0] == 1 else v for k, v in encoded.items()}
        for key, value in encoded.items():
            if not value.is_floating_point():
                raise ValueError(f"{owner}: cannot concatenate features because feature {key!r} has not been "
                                 f"encoded (it has dtype {str(value.dtype).removeprefix('torch.')}); use "
                                 "output_mode='dict', or an output_mode of 'one_hot' for it.")
        out = torch.cat([v.to(torch.float32) for v in encoded.values()], dim=-1)
        return out.squeeze(0) if single and out.shape[0] == 1 else out

    def _preprocess(self, key: str, value) -> torch.Tensor:
        feature, preprocessor = self.features[key], self.preprocessors[key]
        try:
            x = as_column_batch(value, feature)
            device = _device_of(preprocessor)
            if device is not None and isinstance(x, torch.Tensor):
                x = x.to(device)
            return to_tensor(preprocessor(x))
        except (TypeError, ValueError, RuntimeError) as err:
            raise _naming(err, f"FeatureSpace '{self.name}': feature {key!r} ({type(preprocessor).__name__}): "
                               f"{err}") from err

    def _encode(self, key: str, spec, value: torch.Tensor) -> torch.Tensor:
        if spec.output_mode != "one_hot":
            return value
        if value.is_floating_point() or value.dtype == torch.bool:
            raise ValueError(f"FeatureSpace '{self.name}': feature {key!r} has output_mode='one_hot', so its "
                             f"preprocessor should return integer ids; it returned {value.dtype}.")
        return self.one_hot_encoders[key](value)

    # ---- functional models -----------------------------------------------------------------------------------
    def _check_model_ready(self) -> None:
        self._check_ready()
        strings = [key for key, f in self.features.items() if f.is_string]
        if strings:
            raise ValueError(f"FeatureSpace '{self.name}': feature(s) {strings} hold strings, which cannot enter a "
                             "layerwise model (its inputs are tensors), so get_inputs() and get_encoded_features() "
                             "need numeric features only. Encode the data before the model instead: x = "
                             "feature_space(data), then a model on Input((x.shape[-1],)).")

    def get_inputs(self) -> dict:
        """One ``Input((1,), name=feature)`` per feature, the inputs of a model on raw columns."""
        self._check_model_ready()
        if self.inputs is None:
            self.inputs = {key: Input(shape=(1,), dtype=f.dtype, name=key) for key, f in self.features.items()}
        return self.inputs

    def get_encoded_features(self):
        """The encoded features of ``get_inputs()``: one symbolic ``(batch, dim)`` tensor, or a dict of them."""
        if self.encoded_features is None:
            self.encoded_features = self(self.get_inputs())
        return self.encoded_features

    def compute_output_shape(self, input_shape: dict) -> Shape | dict:
        """``(batch, dim)`` for a dict of input shapes (each ``(batch, 1)``), or the dict of each output's."""
        self._check_ready()
        missing = [key for key in self.features if key not in input_shape]
        if missing:
            raise ValueError(f"FeatureSpace '{self.name}': the inputs lack the feature(s) {missing}.")
        shapes = {}
        for key in self._feature_names:
            shape = tuple(input_shape[key])
            shape = shape + (1,) if len(shape) == 1 else shape
            preprocessor = self.preprocessors[key]
            shapes[key] = preprocessor.compute_output_shape(shape) if isinstance(preprocessor, Layer) else shape
        batch = next(iter(shapes.values()))[0]
        shapes.update({key: (batch, 1) for key in self._cross_names})
        shapes.update({key: (shapes[key][0], n) for key, n in self._cardinalities.items()})
        shapes = {key: tuple(shapes[key]) for key in self._output_names()}
        if self.output_mode == "dict":
            return shapes
        return (batch, sum(shape[-1] for shape in shapes.values()))

    def build_from(self, input_shape, device=None, more_args: tuple = ()):
        shapes = self.compute_output_shape(input_shape)
        self.built = True
        return list(shapes.values()) if isinstance(shapes, dict) else shapes  # a list: one node output each

    # ---- weights ---------------------------------------------------------------------------------------------
    def _weighted_features(self) -> list[str]:
        """The features in the order Keras' functional model on ``get_encoded_features()`` lists their
        preprocessors: deepest first (a crossed feature's preprocessor, then a one-hot encoded one's, then one
        read as it is), then in sorted name order (the order in which the merge reaches them)."""
        depth = {key: 2 if feature.output_mode == "one_hot" else 1 for key, feature in self.features.items()}
        for cross in self.crosses:
            crosser = 2 if cross.output_mode == "one_hot" else 1
            for key in cross.feature_names:
                depth[key] = max(depth[key], crosser + 1)
        return sorted(self.features, key=lambda key: (-depth[key], key))

    def weight_views(self) -> list:
        """The preprocessors' weights, as Keras' model on the encoded features lists them (see
        ``_weighted_features``): an adapted Normalization's ``mean``, ``variance`` and ``count`` (non-trainable);
        lookups, bins, hashing and crossing have none in Keras 3 either. Vocabularies and bins are in the config."""
        views = []
        for key in self._weighted_features():
            preprocessor = self.preprocessors[key]
            if not isinstance(preprocessor, Layer):  # StringLookup, TextVectorization: no weights
                continue
            views.extend(WeightView(f"{preprocessor.name}/{view.name}", view.tensor,
                                    view.trainable and preprocessor.trainable, view.to_keras, view.from_keras,
                                    key=f"preprocessors/{key}/{view.key}") for view in preprocessor.weight_views())
        return views

    def set_weights(self, weights: list) -> None:
        """Load the preprocessors' weights in ``weight_views``' order (a Normalization's then count as adapted)."""
        weights, expected = list(weights), self.weight_views()
        if len(weights) != len(expected):
            raise ValueError(f"Layer '{self.name}' (FeatureSpace) expects {len(expected)} weight arrays "
                             f"({[v.name for v in expected]}), got {len(weights)}.")
        for key in self._weighted_features():
            preprocessor = self.preprocessors[key]
            count = len(preprocessor.weight_views()) if isinstance(preprocessor, Layer) else 0
            if count:
                preprocessor.set_weights(weights[:count])
                weights = weights[count:]

    # ---- saving ----------------------------------------------------------------------------------------------
    def get_config(self) -> dict:
        """Constructor arguments with every preprocessor's learned state, for ``from_config``."""
        return {"name": self.name, "features": {k: f.get_config(k) for k, f in self.features.items()},
                "output_mode": self.output_mode, "crosses": [c.get_config() for c in self.crosses],
                "crossing_dim": self.crossing_dim, "hashing_dim": self.hashing_dim,
                "num_discretization_bins": self.num_discretization_bins, "adapted": self._is_adapted}

    @classmethod
    def from_config(cls, config: dict) -> "FeatureSpace":
        config = dict(config)
        adapted = bool(config.pop("adapted", False))
        feature_space = cls(**config)
        feature_space._is_adapted = adapted
        return feature_space

    def save(self, filepath, overwrite: bool = True) -> None:
        """Save to one file (a safetensors header holding the config as JSON; no pickle); reload with
        ``FeatureSpace.load(filepath)``."""
        metadata = {"format": FILE_FORMAT, "version": "1", "config": json.dumps(self.get_config())}
        write_file(filepath, {}, metadata, overwrite)

    @classmethod
    def load(cls, filepath) -> "FeatureSpace":
        """The FeatureSpace ``save`` wrote to ``filepath``, adapted as it was."""
        _, metadata = read_file(filepath, FILE_FORMAT, " A model file loads with layerwise.models.load_model.")
        return cls.from_config(json.loads(metadata["config"]))

    def __repr__(self) -> str:
        return f"<FeatureSpace name={self.name!r}, features={list(self.features)}, output_mode={self.output_mode!r}>"
