"""keras-io example "Traffic forecasting using graph neural networks and LSTM"
(examples/timeseries/timeseries_traffic_forecasting.py) run with ``import layerwise as keras`` and compared with
Keras 3 (torch backend): the splitting and normalising of the speeds, the adjacency matrix made from the road
distances, the windows made with ``keras.utils.timeseries_dataset_from_array``, the ``GraphConv`` layer (each
aggregation and combination type), the ``LSTMGC`` layer in a functional model (summary, outputs from the same
weights), training from the same weights with ``EarlyStopping``, and the forecasts on the test windows.

What was changed to run it here:

- PeMSD7 is not downloaded: 7 roads on a line with a distance matrix in metres (one road far from the others, so
  that a node without neighbours is exercised) and 320 steps of daily speed cycles shared by neighbouring roads
  plus noise stand in for ``W_228.csv`` / ``V_228.csv``. The example's sizes shrink (batch_size 64 -> 16,
  out_feat 10 -> 4, lstm_units 64 -> 8, 20 epochs -> 3); input_sequence_length 12 and forecast_horizon 3 are the
  example's. No plots.
- The example is written with TensorFlow; its ops are written with ``keras.ops`` as a Keras 3 torch-backend user
  would: ``tf.Variable`` -> ``keras.Variable``, ``tf.gather`` -> ``ops.take``, ``tf.matmul`` / ``tf.concat`` /
  ``tf.transpose`` / ``tf.reshape`` / ``tf.shape`` -> their ``ops`` namesakes, ``tf.math.unsorted_segment_sum`` /
  ``max`` -> ``ops.segment_sum`` / ``ops.segment_max``, and ``unsorted_segment_mean`` (Keras has no
  ``segment_mean``) -> the sum divided by the neighbour count, at least 1, which is TensorFlow's rule.
- ``tf.data.Dataset.zip`` of the input and target windows -> Python's ``zip`` (as Keras' own docstring of
  ``timeseries_dataset_from_array`` does: without targets, both libraries yield the bare batches of windows, which a
  test checks on that docstring's example), the batches handed to ``fit`` in a ``keras.utils.PyDataset``. The
  example's ``shuffle(100)`` placed before ``cache()`` shuffles the batches once, and so does this one; ``fit`` gets
  ``shuffle=False``, since it reorders a ``PyDataset``'s batches (each library with its own generator) but not a
  ``tf.data`` dataset. Keras 3's ``timeseries_dataset_from_array`` builds a ``tf.data.Dataset`` and TensorFlow is
  not installed, so Keras gets the same windows from Keras' rule (``_timeseries_dataset_tf``) written in numpy.
- ``GraphConv`` is the example's as written: its initializer called with ``dtype="float32"``, no
  ``compute_output_shape`` (tests check both run in layerwise as in Keras).
"""
from __future__ import annotations

import typing

import numpy as np
import pytest
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

import layerwise

train_size, val_size = 0.5, 0.2
batch_size = 16  # the example: 64
input_sequence_length = 12
forecast_horizon = 3
multi_horizon = False
in_feat = 1
out_feat = 4  # the example: 10
lstm_units = 8  # the example: 64
epochs = 3  # the example: 20
sigma2 = 0.1
epsilon = 0.5
graph_conv_params = {
    "aggregation_type": "mean",
    "combination_type": "concat",
    "activation": None,
}


# ---- data ----------------------------------------------------------------------------------------------------

ROAD_POSITIONS = np.array([0.0, 1200.0, 2000.0, 3500.0, 4300.0, 6000.0, 40000.0])  # metres along a highway


def pems_like(num_time_steps=320, seed=0):
    """``route_distances`` (metres between roads) and ``speeds_array`` (time steps x roads), as read from
    ``W_228.csv`` and ``V_228.csv``: a daily cycle (48 steps) whose phase drifts along the road, and noise."""
    rng = np.random.default_rng(seed)
    route_distances = np.abs(ROAD_POSITIONS[:, None] - ROAD_POSITIONS[None, :])
    t = np.arange(num_time_steps)[:, None]
    phase = ROAD_POSITIONS[None, :] / 4000.0
    speeds_array = 60 - 15 * np.sin(2 * np.pi * t / 48 + phase) + 2 * rng.standard_normal((num_time_steps,
                                                                                          len(ROAD_POSITIONS)))
    return route_distances, speeds_array


def preprocess(data_array: np.ndarray, train_size: float, val_size: float):
    num_time_steps = data_array.shape[0]
    num_train, num_val = (
        int(num_time_steps * train_size),
        int(num_time_steps * val_size),
    )
    train_array = data_array[:num_train]
    mean, std = train_array.mean(axis=0), train_array.std(axis=0)

    train_array = (train_array - mean) / std
    val_array = (data_array[num_train: (num_train + num_val)] - mean) / std
    test_array = (data_array[(num_train + num_val):] - mean) / std

    return train_array, val_array, test_array


def compute_adjacency_matrix(route_distances: np.ndarray, sigma2: float, epsilon: float):
    num_routes = route_distances.shape[0]
    route_distances = route_distances / 10000.0
    w2, w_mask = (
        route_distances * route_distances,
        np.ones([num_routes, num_routes]) - np.identity(num_routes),
    )
    return (np.exp(-w2 / sigma2) >= epsilon) * w_mask


class GraphInfo:
    def __init__(self, edges: typing.Tuple[list, list], num_nodes: int):
        self.edges = edges
        self.num_nodes = num_nodes


def road_graph(route_distances):
    adjacency_matrix = compute_adjacency_matrix(route_distances, sigma2, epsilon)
    node_indices, neighbor_indices = np.where(adjacency_matrix == 1)
    return GraphInfo(
        edges=(node_indices.tolist(), neighbor_indices.tolist()),
        num_nodes=adjacency_matrix.shape[0],
    )


def keras_windows(data, targets, sequence_length, sequence_stride=1, sampling_rate=1, batch_size=128,
                  shuffle=False):
    """Keras 3.15's ``_timeseries_dataset_tf`` (no shuffling, no start or end index) in numpy: its batches, the
    bare batch of windows where ``targets`` is None."""
    assert not shuffle
    data = np.asarray(data)
    num_seqs = len(data) - (sequence_length - 1) * sampling_rate
    if targets is not None:
        num_seqs = min(num_seqs, len(targets))
    starts = np.arange(0, num_seqs, sequence_stride)
    x = data[starts[:, None] + np.arange(sequence_length) * sampling_rate]
    batches = [x[i:i + batch_size] for i in range(0, len(starts), batch_size)]
    if targets is None:
        return batches
    y = np.asarray(targets)[starts]
    return list(zip(batches, [y[i:i + batch_size] for i in range(0, len(starts), batch_size)]))


def zipped_batches_class(keras):
    class ZippedBatches(keras.utils.PyDataset):
        """``tf.data.Dataset.zip((inputs, targets))``, then ``shuffle(100)`` and ``cache()``: the batches in an
        order drawn once."""

        def __init__(self, batches, shuffle, **kwargs):
            super().__init__(**kwargs)
            self.batches = [batches[i] for i in np.random.permutation(len(batches))] if shuffle else batches

        def __len__(self):
            return len(self.batches)

        def __getitem__(self, index):
            return self.batches[index]

    return ZippedBatches


def create_dataset(
    keras,
    data_array: np.ndarray,
    input_sequence_length: int,
    forecast_horizon: int,
    batch_size: int = 128,
    shuffle=True,
    multi_horizon=True,
    timeseries_dataset_from_array=None,
):
    """The example's ``create_tf_dataset``: windows of ``input_sequence_length`` steps of every road, and the
    ``forecast_horizon`` steps after each (or only the last of them)."""
    timeseries_dataset_from_array = timeseries_dataset_from_array or keras.utils.timeseries_dataset_from_array
    inputs = timeseries_dataset_from_array(
        np.expand_dims(data_array[:-forecast_horizon], axis=-1),
        None,
        sequence_length=input_sequence_length,
        shuffle=False,
        batch_size=batch_size,
    )

    target_offset = (
        input_sequence_length
        if multi_horizon
        else input_sequence_length + forecast_horizon - 1
    )
    target_seq_length = forecast_horizon if multi_horizon else 1
    targets = timeseries_dataset_from_array(
        data_array[target_offset:],
        None,
        sequence_length=target_seq_length,
        shuffle=False,
        batch_size=batch_size,
    )

    batches = list(zip(inputs, targets))  # tf.data.Dataset.zip((inputs, targets))
    return zipped_batches_class(keras)(batches, shuffle)


def datasets(keras, train_array, val_array, test_array, make=None):
    train_dataset, val_dataset = (
        create_dataset(keras, data_array, input_sequence_length, forecast_horizon, batch_size,
                       timeseries_dataset_from_array=make)
        for data_array in [train_array, val_array]
    )
    test_dataset = create_dataset(
        keras,
        test_array,
        input_sequence_length,
        forecast_horizon,
        batch_size=test_array.shape[0],
        shuffle=False,
        multi_horizon=multi_horizon,
        timeseries_dataset_from_array=make,
    )
    return train_dataset, val_dataset, test_dataset


def the_datasets(keras, seed=0):
    """Both libraries' datasets over the same speeds: layerwise's function, Keras' rule in numpy for Keras."""
    route_distances, speeds_array = pems_like(seed=seed)
    arrays = preprocess(speeds_array, train_size, val_size)
    np.random.seed(seed)  # the same shuffled order for both
    ours = datasets(layerwise, *arrays)
    np.random.seed(seed)
    theirs = datasets(keras, *arrays, make=keras_windows)
    return road_graph(route_distances), arrays, ours, theirs


# ---- the layers -----------------------------------------------------------------------------------------------

def graph_layers(keras, layers, ops):
    class GraphConv(layers.Layer):
        def __init__(
            self,
            in_feat,
            out_feat,
            graph_info: GraphInfo,
            aggregation_type="mean",
            combination_type="concat",
            activation: typing.Optional[str] = None,
            **kwargs,
        ):
            super().__init__(**kwargs)
            self.in_feat = in_feat
            self.out_feat = out_feat
            self.graph_info = graph_info
            self.aggregation_type = aggregation_type
            self.combination_type = combination_type
            self.weight = keras.Variable(
                initializer=keras.initializers.glorot_uniform()(
                    shape=(in_feat, out_feat), dtype="float32"
                ),
                trainable=True,
            )
            self.activation = layers.Activation(activation)

        def aggregate(self, neighbour_representations):
            aggregation_func = {
                "sum": unsorted_segment_sum,
                "mean": unsorted_segment_mean,
                "max": unsorted_segment_max,
            }.get(self.aggregation_type)

            if aggregation_func:
                return aggregation_func(
                    neighbour_representations,
                    self.graph_info.edges[0],
                    num_segments=self.graph_info.num_nodes,
                )

            raise ValueError(f"Invalid aggregation type: {self.aggregation_type}")

        def compute_nodes_representation(self, features):
            return ops.matmul(features, self.weight)

        def compute_aggregated_messages(self, features):
            neighbour_representations = ops.take(features, self.graph_info.edges[1], axis=0)
            aggregated_messages = self.aggregate(neighbour_representations)
            return ops.matmul(aggregated_messages, self.weight)

        def update(self, nodes_representation, aggregated_messages):
            if self.combination_type == "concat":
                h = ops.concatenate([nodes_representation, aggregated_messages], axis=-1)
            elif self.combination_type == "add":
                h = nodes_representation + aggregated_messages
            else:
                raise ValueError(f"Invalid combination type: {self.combination_type}.")

            return self.activation(h)

        def call(self, features):
            nodes_representation = self.compute_nodes_representation(features)
            aggregated_messages = self.compute_aggregated_messages(features)
            return self.update(nodes_representation, aggregated_messages)

    def unsorted_segment_sum(data, segment_ids, num_segments):
        return ops.segment_sum(data, ops.convert_to_tensor(segment_ids), num_segments=num_segments)

    def unsorted_segment_max(data, segment_ids, num_segments):
        return ops.segment_max(data, ops.convert_to_tensor(segment_ids), num_segments=num_segments)

    def unsorted_segment_mean(data, segment_ids, num_segments):
        segment_ids = ops.convert_to_tensor(segment_ids)
        total = ops.segment_sum(data, segment_ids, num_segments=num_segments)
        count = ops.segment_sum(ops.ones_like(segment_ids, dtype=total.dtype), segment_ids,
                                num_segments=num_segments)
        count = ops.reshape(ops.maximum(count, 1), (-1,) + (1,) * (len(total.shape) - 1))
        return total / count

    class LSTMGC(layers.Layer):
        """Layer comprising a convolution layer followed by LSTM and dense layers."""

        def __init__(
            self,
            in_feat,
            out_feat,
            lstm_units: int,
            input_seq_len: int,
            output_seq_len: int,
            graph_info: GraphInfo,
            graph_conv_params: typing.Optional[dict] = None,
            **kwargs,
        ):
            super().__init__(**kwargs)

            # graph conv layer
            if graph_conv_params is None:
                graph_conv_params = {
                    "aggregation_type": "mean",
                    "combination_type": "concat",
                    "activation": None,
                }
            self.graph_conv = GraphConv(in_feat, out_feat, graph_info, **graph_conv_params)

            self.lstm = layers.LSTM(lstm_units, activation="relu")
            self.dense = layers.Dense(output_seq_len)

            self.input_seq_len, self.output_seq_len = input_seq_len, output_seq_len

        def call(self, inputs):
            # convert shape to  (num_nodes, batch_size, input_seq_len, in_feat)
            inputs = ops.transpose(inputs, [2, 0, 1, 3])

            gcn_out = self.graph_conv(inputs)  # gcn_out has shape: (num_nodes, batch_size, input_seq_len, out_feat)
            shape = ops.shape(gcn_out)
            num_nodes, batch_size, input_seq_len, out_feat = (
                shape[0],
                shape[1],
                shape[2],
                shape[3],
            )

            # LSTM takes only 3D tensors as input
            gcn_out = ops.reshape(gcn_out, (batch_size * num_nodes, input_seq_len, out_feat))
            lstm_out = self.lstm(gcn_out)  # lstm_out has shape: (batch_size * num_nodes, lstm_units)

            dense_output = self.dense(lstm_out)  # dense_output has shape: (batch_size * num_nodes, output_seq_len)
            output = ops.reshape(dense_output, (num_nodes, batch_size, self.output_seq_len))
            return ops.transpose(output, [1, 2, 0])  # returns Tensor of shape (batch_size, output_seq_len, num_nodes)

    return GraphConv, LSTMGC


def forecaster(keras, layers, ops, graph):
    fresh(keras)
    _, LSTMGC = graph_layers(keras, layers, ops)
    st_gcn = LSTMGC(
        in_feat,
        out_feat,
        lstm_units,
        input_sequence_length,
        forecast_horizon,
        graph,
        graph_conv_params,
    )
    inputs = layers.Input((input_sequence_length, graph.num_nodes, in_feat))
    outputs = st_gcn(inputs)

    model = keras.models.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=0.0002),
        loss=keras.losses.MeanSquaredError(),
    )
    return model


def both_forecasters(real_keras, graph):
    ours, theirs = [forecaster(*lib, graph) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    return ours, theirs


# ---- tests ----------------------------------------------------------------------------------------------------

def test_splitting_normalising_and_the_road_graph():
    route_distances, speeds_array = pems_like()
    train_array, val_array, test_array = preprocess(speeds_array, train_size, val_size)
    assert train_array.shape == (160, 7) and val_array.shape == (64, 7) and test_array.shape == (96, 7)
    assert_close(train_array.mean(axis=0), 0.0, atol=1e-12)
    assert_close(train_array.std(axis=0), 1.0)
    adjacency_matrix = compute_adjacency_matrix(route_distances, sigma2, epsilon)
    assert (adjacency_matrix == adjacency_matrix.T).all() and (np.diag(adjacency_matrix) == 0).all()
    # exp(-(d / 10 km)^2 / 0.1) >= 0.5 <=> d <= 2.63 km
    close = (route_distances <= 10000 * np.sqrt(sigma2 * np.log(2))) & ~np.eye(7, dtype=bool)
    np.testing.assert_array_equal(adjacency_matrix, close)
    graph = road_graph(route_distances)
    assert graph.num_nodes == 7 and len(graph.edges[0]) == 2 * 9  # 9 pairs of roads closer than 2.63 km
    assert 6 not in graph.edges[0]  # the far road has no neighbour


def test_the_windows_follow_keras_rule(real_keras):
    graph, (train_array, val_array, test_array), ours, theirs = the_datasets(real_keras)
    for dataset, k_dataset in zip(ours, theirs):
        assert len(dataset) == len(k_dataset)
        for (x, y), (k_x, k_y) in zip(dataset, k_dataset):
            np.testing.assert_array_equal(as_numpy(x), k_x)
            np.testing.assert_array_equal(as_numpy(y), k_y)
    train_dataset, _, test_dataset = ours
    windows = sum(len(x) for x, _ in train_dataset)
    assert windows == len(train_array) - forecast_horizon - input_sequence_length + 1
    # Unshuffled: the test windows in order, each with the speed 3 steps past its end.
    (x_test, y), = list(test_dataset)
    x_test, y = as_numpy(x_test), as_numpy(y)
    assert x_test.shape == (len(test_array) - 14, input_sequence_length, 7, 1) and y.shape == (len(x_test), 1, 7)
    np.testing.assert_array_equal(x_test[5, :, :, 0], test_array[5:17])
    np.testing.assert_array_equal(y[5, 0], test_array[5 + 14])
    # multi_horizon for training: the next 3 steps.
    x, y = (as_numpy(a) for a in train_dataset[0])
    start = int(np.flatnonzero((train_array[:-forecast_horizon] == x[0, 0, :, 0]).all(axis=1))[0])
    np.testing.assert_array_equal(y[0], train_array[start + 12: start + 15])


def test_windows_without_targets_are_bare_batches_as_in_keras():
    # Keras' docstring, "Example 3: Temporal regression for many-to-many architectures".
    X = np.arange(100)
    Y = X * 2
    sample_length = 20
    input_dataset = layerwise.utils.timeseries_dataset_from_array(
        X, None, sequence_length=sample_length, sequence_stride=sample_length)
    target_dataset = layerwise.utils.timeseries_dataset_from_array(
        Y, None, sequence_length=sample_length, sequence_stride=sample_length)
    for batch in zip(input_dataset, target_dataset):
        inputs, targets = batch
        assert np.array_equal(inputs[0], X[:sample_length])
        assert np.array_equal(targets[1], Y[sample_length:2 * sample_length])
        assert inputs.shape == targets.shape == (5, sample_length)  # the batch itself, not a 1-tuple
        break
    else:
        raise AssertionError("no batch")
    for x, k_x in zip(input_dataset, keras_windows(X, None, sequence_length=sample_length,
                                                   sequence_stride=sample_length)):
        np.testing.assert_array_equal(x, k_x)


def test_an_initializer_called_with_a_dtype_name_as_in_keras(real_keras):
    for keras in (real_keras, layerwise):  # the example: keras.initializers.glorot_uniform()(shape=..., dtype=...)
        value = as_numpy(keras.initializers.glorot_uniform(seed=1)(shape=(in_feat, out_feat), dtype="float32"))
        assert value.shape == (in_feat, out_feat) and value.dtype == np.float32
        assert np.abs(value).max() <= np.sqrt(6 / (in_feat + out_feat))


@pytest.mark.parametrize("where", ["eager", "functional"])
def test_the_example_s_graph_conv_as_written_runs_as_in_keras(real_keras, where):
    graph = road_graph(pems_like()[0])
    features = np.random.default_rng(3).normal(size=(7, 2, 5, 1)).astype("float32")
    for keras, layers, ops in libraries(real_keras)[::-1]:
        GraphConv, LSTMGC = graph_layers(keras, layers, ops)
        if where == "eager":  # the layer's documented input: (num_nodes, batch_size, input_seq_len, in_feat)
            assert tuple(GraphConv(1, 4, graph)(features).shape) == (7, 2, 5, 8)
        else:  # the example's model
            inputs = layers.Input((input_sequence_length, graph.num_nodes, in_feat))
            outputs = LSTMGC(in_feat, out_feat, lstm_units, input_sequence_length, forecast_horizon, graph)(inputs)
            assert tuple(outputs.shape) == (None, forecast_horizon, graph.num_nodes)


@pytest.mark.parametrize("aggregation_type", ["sum", "mean", "max"])
@pytest.mark.parametrize("combination_type", ["concat", "add"])
def test_graph_conv_matches_keras(real_keras, aggregation_type, combination_type):
    graph = road_graph(pems_like()[0])
    features = np.random.default_rng(3).normal(size=(7, 2, 5, 3)).astype("float32")  # nodes, batch, steps, feat
    results = []
    for keras, layers, ops in libraries(real_keras):
        GraphConv, _ = graph_layers(keras, layers, ops)
        layer = GraphConv(3, 4, graph, aggregation_type, combination_type, activation="relu")
        assert [w.shape for w in layer.trainable_weights] == [(3, 4)]
        results.append(layer)
    ours, theirs = results
    ours.set_weights(theirs.get_weights())
    out, k_out = as_numpy(ours(features)), as_numpy(theirs(features))
    assert out.shape == k_out.shape == (7, 2, 5, 8 if combination_type == "concat" else 4)
    assert_close(out, k_out, rtol=1e-5, atol=1e-6)
    # The example's aggregation by hand (TensorFlow's unsorted_segment_* rules) for a node with neighbours.
    (weight,) = theirs.get_weights()
    neighbours = [j for i, j in zip(*graph.edges) if i == 1]
    reduce = {"sum": np.sum, "mean": np.mean, "max": np.max}[aggregation_type]
    messages = reduce(features[neighbours], axis=0) @ weight
    own = features[1] @ weight
    expected = np.concatenate([own, messages], -1) if combination_type == "concat" else own + messages
    assert_close(out[1], np.maximum(expected, 0), rtol=1e-5, atol=1e-6)
    if aggregation_type != "max":  # empty segments: 0 in TensorFlow, Keras and layerwise
        assert_close(out[6], np.maximum(features[6] @ weight, 0) if combination_type == "add" else
                     np.concatenate([np.maximum(features[6] @ weight, 0), np.zeros((2, 5, 4))], -1), atol=1e-6)


def test_graph_conv_refuses_unknown_types(real_keras):
    graph = road_graph(pems_like()[0])
    features = np.ones((7, 1, 2, 1), "float32")
    for keras, layers, ops in libraries(real_keras):
        GraphConv, _ = graph_layers(keras, layers, ops)
        with pytest.raises(ValueError, match="Invalid aggregation type"):
            GraphConv(1, 2, graph, aggregation_type="median")(features)
        with pytest.raises(ValueError, match="Invalid combination type"):
            GraphConv(1, 2, graph, combination_type="stack")(features)


def test_model_summary_and_outputs_from_the_same_weights_match_keras(real_keras):
    graph, arrays, (_, _, test_dataset), _ = the_datasets(real_keras)
    ours, theirs = both_forecasters(real_keras, graph)
    assert summary_rows(ours) == summary_rows(theirs)
    expected = (in_feat * out_feat + 4 * lstm_units * (2 * out_feat + lstm_units + 1)
                + lstm_units * forecast_horizon + forecast_horizon)
    assert ours.count_params() == theirs.count_params() == expected
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    x_test, _ = test_dataset[0]
    assert x_test.dtype == np.float64  # the example's arrays, as pandas reads them
    out, k_out = as_numpy(ours(x_test)), as_numpy(theirs(x_test))
    assert out.shape == (len(x_test), forecast_horizon, graph.num_nodes)
    assert_close(out, k_out, rtol=1e-4, atol=1e-5)
    assert_close(ours.predict(x_test, verbose=0), theirs.predict(x_test, verbose=0), rtol=1e-4, atol=1e-5)


def test_training_from_the_same_weights_matches_keras(real_keras):
    graph, _, (train_dataset, val_dataset, _), (k_train, k_val, _) = the_datasets(real_keras)
    ours, theirs = both_forecasters(real_keras, graph)
    histories = []
    for keras, model, (train, val) in ((layerwise, ours, (train_dataset, val_dataset)),
                                       (real_keras, theirs, (k_train, k_val))):
        histories.append(model.fit(
            train,
            validation_data=val,
            epochs=epochs,
            callbacks=[keras.callbacks.EarlyStopping(patience=10)],
            shuffle=False,  # fit leaves a tf.data dataset's order alone
            verbose=0,
        ).history)
    history, k_history = histories
    assert sorted(history) == sorted(k_history) == ["loss", "val_loss"]
    for key in k_history:
        assert_close(history[key], k_history[key], rtol=1e-4, atol=1e-6, what=key)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        assert_close(a, b, rtol=1e-3, atol=1e-5)


def test_training_learns_and_forecasts_the_test_set():
    keras = layerwise
    keras.utils.set_random_seed(1)
    route_distances, speeds_array = pems_like(seed=1)
    graph = road_graph(route_distances)
    train_dataset, val_dataset, test_dataset = datasets(keras, *preprocess(speeds_array, train_size, val_size))
    model = forecaster(keras, keras.layers, keras.ops, graph)
    model.optimizer.learning_rate = 0.005  # the example's 0.0002 over 20 epochs of 12,672 x 228 speeds
    history = model.fit(
        train_dataset,
        validation_data=val_dataset,
        epochs=epochs,
        callbacks=[keras.callbacks.EarlyStopping(patience=10)],
        shuffle=False,  # fit leaves a tf.data dataset's order alone
        verbose=0,
    ).history
    assert history["loss"][-1] < history["loss"][0] and history["val_loss"][-1] < history["val_loss"][0]

    x_test, y = next(iter(test_dataset))
    y_pred = model.predict(x_test, verbose=0)
    assert y_pred.shape == (len(x_test), forecast_horizon, graph.num_nodes) and y.shape == (len(x_test), 1, 7)
    naive_mse, model_mse = (
        np.square(x_test[:, -1, :, 0] - y[:, 0, :]).mean(),
        np.square(y_pred[:, 0, :] - y[:, 0, :]).mean(),
    )
    assert np.isfinite(naive_mse) and model_mse < 1.0  # the speeds' variance is 1 after normalising
