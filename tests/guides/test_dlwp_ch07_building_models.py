"""François Chollet, "Deep Learning with Python", 3rd edition (Keras 3), chapter 7 "A deep dive on Keras" (notebook
chapter07_deep-dive-keras.ipynb), first part "Different ways to build Keras models": Sequential models built late
or from an ``Input`` with their ``summary(line_length=80)``, the functional API with the multi-input, multi-output
ticket classifier (trained with lists and with dicts of losses and metrics), its layer connectivity reused for a new
output, the subclassed ``CustomerTicketModel`` and the mixing of both styles. Run with ``import layerwise as
keras`` and in Keras 3 (torch backend) from the same weights; the book's random ticket data is drawn smaller (64
samples, a 50-word vocabulary, 10 tags)."""
from __future__ import annotations

import re

import numpy as np
import pytest
from dlwp_helpers import fresh
from guide_helpers import as_numpy, assert_close, libraries, summary_rows, summary_text

vocabulary_size, num_tags, num_departments, num_samples = 50, 10, 4, 64


def both(real_keras, listing):
    """``listing(keras, layers)`` run in layerwise, then in Keras, each after a fresh session."""
    results = []
    for lib, layers, _ in libraries(real_keras):
        fresh(lib)
        results.append(listing(lib, layers))
    return results


def summary_80(model) -> str:
    lines: list[str] = []
    model.summary(line_length=80, print_fn=lambda text, *args, **kwargs: lines.append(text))
    return "\n".join(lines)


def test_sequential_listings_and_their_summaries_match_keras(real_keras):
    def listing(keras, layers):
        seen = []
        model = keras.Sequential([layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")])
        model = keras.Sequential()
        model.add(layers.Dense(64, activation="relu"))
        model.add(layers.Dense(10, activation="softmax"))
        seen.append(len(model.weights))  # not built yet: no weights
        model.build(input_shape=(None, 3))
        seen.append([tuple(w.shape) for w in model.weights])
        seen.append(summary_80(model))
        model = keras.Sequential(name="my_example_model")
        model.add(layers.Dense(64, activation="relu", name="my_first_layer"))
        model.add(layers.Dense(10, activation="softmax", name="my_last_layer"))
        model.build((None, 3))
        seen.append(summary_80(model))
        model = keras.Sequential()
        model.add(keras.Input(shape=(3,)))
        model.add(layers.Dense(64, activation="relu"))
        seen.append(summary_80(model))
        model.add(layers.Dense(10, activation="softmax"))
        seen.append(summary_80(model))
        return seen

    ours, theirs = both(real_keras, listing)
    assert ours[0] == theirs[0] == 0
    # Built-in layers keep PyTorch's layout (README): the same weights, a Dense kernel transposed
    assert sorted(sorted(s) for s in ours[1]) == sorted(sorted(s) for s in theirs[1])
    for text, k_text in zip(ours[2:], theirs[2:]):
        assert text == k_text


def test_functional_model_tensors_and_summary_match_keras(real_keras):
    def listing(keras, layers):
        inputs = keras.Input(shape=(3,), name="my_input")
        features = layers.Dense(64, activation="relu")(inputs)
        outputs = layers.Dense(10, activation="softmax")(features)
        model = keras.Model(inputs=inputs, outputs=outputs, name="my_functional_model")
        return inputs, features, model

    (inputs, features, model), (k_inputs, k_features, k_model) = both(real_keras, listing)
    assert tuple(inputs.shape) == tuple(k_inputs.shape) == (None, 3)
    assert inputs.dtype == k_inputs.dtype == "float32"
    assert tuple(features.shape) == tuple(k_features.shape) == (None, 64)
    assert repr(inputs) == repr(k_inputs)
    # Keras names a layer's output tensor keras_tensor_<n>; layerwise after the layer
    assert re.sub(r"name=\w+", "", repr(features)) == re.sub(r"name=\w+", "", repr(k_features))
    assert summary_80(model) == summary_80(k_model)
    model.set_weights(k_model.get_weights())
    x = np.random.default_rng(0).random((4, 3)).astype("float32")
    assert_close(as_numpy(model(x)), as_numpy(k_model(x)))


def ticket_classifier(keras, layers):
    title = keras.Input(shape=(vocabulary_size,), name="title")
    text_body = keras.Input(shape=(vocabulary_size,), name="text_body")
    tags = keras.Input(shape=(num_tags,), name="tags")
    features = layers.Concatenate()([title, text_body, tags])
    features = layers.Dense(64, activation="relu", name="dense_features")(features)
    priority = layers.Dense(1, activation="sigmoid", name="priority")(features)
    department = layers.Dense(num_departments, activation="softmax", name="department")(features)
    model = keras.Model(inputs=[title, text_body, tags], outputs=[priority, department])
    return model, (title, text_body, tags, priority, department)


def ticket_data():
    rng = np.random.default_rng(1)
    title_data = rng.integers(0, 2, size=(num_samples, vocabulary_size))
    text_body_data = rng.integers(0, 2, size=(num_samples, vocabulary_size))
    tags_data = rng.integers(0, 2, size=(num_samples, num_tags))
    priority_data = rng.random(size=(num_samples, 1))
    department_data = rng.integers(0, num_departments, size=(num_samples, 1))
    return title_data, text_body_data, tags_data, priority_data, department_data


@pytest.mark.parametrize("as_dicts", [False, True], ids=["lists", "dicts"])
def test_ticket_classifier_trains_evaluates_and_predicts_as_keras(real_keras, as_dicts):
    (model, _), (k_model, _) = both(real_keras, ticket_classifier)
    assert summary_rows(model) == summary_rows(k_model)
    model.set_weights(k_model.get_weights())
    title_data, text_body_data, tags_data, priority_data, department_data = ticket_data()
    if as_dicts:
        x = {"title": title_data, "text_body": text_body_data, "tags": tags_data}
        y = {"priority": priority_data, "department": department_data}
        settings = dict(loss={"priority": "mean_squared_error", "department": "sparse_categorical_crossentropy"},
                        metrics={"priority": ["mean_absolute_error"], "department": ["accuracy"]})
    else:
        x, y = [title_data, text_body_data, tags_data], [priority_data, department_data]
        settings = dict(loss=["mean_squared_error", "sparse_categorical_crossentropy"],
                        metrics=[["mean_absolute_error"], ["accuracy"]])
    results = []
    for m in (model, k_model):
        m.compile(optimizer="adam", **settings)
        history = m.fit(x, y, epochs=1, shuffle=False, verbose=0)
        scores = m.evaluate(x, y, verbose=0)
        priority_preds, department_preds = m.predict(x, verbose=0)
        results.append((history.history, scores, priority_preds, department_preds))
    (history, scores, *preds), (k_history, k_scores, *k_preds) = results
    assert sorted(history) == sorted(k_history) == ["department_accuracy", "department_loss", "loss",
                                                    "priority_loss", "priority_mean_absolute_error"]
    for key in k_history:
        assert_close(history[key], k_history[key], rtol=1e-4, what=key)
    assert_close(scores, k_scores, rtol=1e-4)
    for p, k_p in zip(preds, k_preds):
        assert p.shape == k_p.shape
        assert_close(p, k_p, rtol=1e-4, atol=1e-6)


def test_layer_connectivity_gives_a_new_model_as_in_keras(real_keras):
    def listing(keras, layers):
        model, (title, text_body, tags, priority, department) = ticket_classifier(keras, layers)
        names = [f"{type(layer).__name__}:{layer.name}" for layer in model.layers]
        concat_in = [tuple(t.shape) for t in model.layers[3].input]
        concat_out = tuple(model.layers[3].output.shape)
        features = model.layers[4].output
        difficulty = layers.Dense(3, activation="softmax", name="difficulty")(features)
        new_model = keras.Model(inputs=[title, text_body, tags], outputs=[priority, department, difficulty])
        return names, concat_in, concat_out, new_model

    (*ours, new_model), (*theirs, k_new_model) = both(real_keras, listing)
    assert ours == theirs
    assert ours[1:] == [[(None, vocabulary_size), (None, vocabulary_size), (None, num_tags)],
                        (None, 2 * vocabulary_size + num_tags)]
    assert summary_rows(new_model) == summary_rows(k_new_model)
    new_model.set_weights(k_new_model.get_weights())
    x = [d.astype("float32") for d in ticket_data()[:3]]
    for out, k_out in zip(new_model.predict(x, verbose=0), k_new_model.predict(x, verbose=0)):
        assert_close(out, k_out, rtol=1e-4, atol=1e-6)


def test_plot_model_without_graphviz_raises_as_keras(real_keras, tmp_path):
    pytest.importorskip("pydot")
    import shutil
    if shutil.which("dot"):
        pytest.skip("graphviz is installed: plot_model draws the graph")
    for lib, layers, _ in libraries(real_keras):
        fresh(lib)
        model, _ = ticket_classifier(lib, layers)
        with pytest.raises(ImportError, match="graphviz"):
            lib.utils.plot_model(model, str(tmp_path / "ticket_classifier_with_shape_info.png"), show_shapes=True,
                                 show_layer_names=True)


def customer_ticket_model(keras, layers):
    class CustomerTicketModel(keras.Model):
        def __init__(self, num_departments):
            super().__init__()
            self.concat_layer = layers.Concatenate()
            self.mixing_layer = layers.Dense(64, activation="relu")
            self.priority_scorer = layers.Dense(1, activation="sigmoid")
            self.department_classifier = layers.Dense(num_departments, activation="softmax")

        def call(self, inputs):
            title = inputs["title"]
            text_body = inputs["text_body"]
            tags = inputs["tags"]
            features = self.concat_layer([title, text_body, tags])
            features = self.mixing_layer(features)
            priority = self.priority_scorer(features)
            department = self.department_classifier(features)
            return priority, department

    return CustomerTicketModel(num_departments=4)


def test_subclassed_ticket_model_trains_as_keras(real_keras):
    model, k_model = both(real_keras, customer_ticket_model)
    title_data, text_body_data, tags_data, priority_data, department_data = ticket_data()
    x = {"title": title_data, "text_body": text_body_data, "tags": tags_data}
    (priority, department), (k_priority, k_department) = model(x), k_model(x)
    assert tuple(priority.shape) == tuple(k_priority.shape) == (num_samples, 1)
    assert tuple(department.shape) == tuple(k_department.shape) == (num_samples, num_departments)
    # README: a subclassed model's summary shows None for the batch axis (Keras: the first call's batch size)
    assert [r[0] for r in summary_rows(model)] == [r[0] for r in summary_rows(k_model)]
    model.set_weights(k_model.get_weights())
    results = []
    for m in (model, k_model):
        m.compile(optimizer="adam", loss=["mean_squared_error", "sparse_categorical_crossentropy"],
                  metrics=[["mean_absolute_error"], ["accuracy"]])
        history = m.fit(x, [priority_data, department_data], epochs=1, shuffle=False, verbose=0)
        scores = m.evaluate(x, [priority_data, department_data], verbose=0, return_dict=True)
        results.append((history.history, scores, m.predict(x, verbose=0)))
    (history, scores, preds), (k_history, k_scores, k_preds) = results
    # README: with a tuple of outputs layerwise names the logs output_1_..., Keras after the loss functions
    names = {"loss": "loss", "output_1_loss": "mean_squared_error_loss", "output_1_mean_absolute_error":
             "mean_absolute_error", "output_2_loss": "sparse_categorical_crossentropy_loss",
             "output_2_accuracy": "accuracy"}
    assert sorted(history) == sorted(names) and sorted(k_history) == sorted(names.values())
    for ours_name, keras_name in names.items():
        assert_close(history[ours_name], k_history[keras_name], rtol=1e-4, what=ours_name)
        assert_close(scores[ours_name], k_scores[keras_name], rtol=1e-4, what=ours_name)
    for p, k_p in zip(preds, k_preds):
        assert_close(p, k_p, rtol=1e-4, atol=1e-6)


def test_mixing_subclassed_and_functional_models_matches_keras(real_keras):
    def listing(keras, layers):
        class Classifier(keras.Model):
            def __init__(self, num_classes=2):
                super().__init__()
                if num_classes == 2:
                    num_units = 1
                    activation = "sigmoid"
                else:
                    num_units = num_classes
                    activation = "softmax"
                self.dense = layers.Dense(num_units, activation=activation)

            def call(self, inputs):
                return self.dense(inputs)

        inputs = keras.Input(shape=(3,))
        features = layers.Dense(64, activation="relu")(inputs)
        outputs = Classifier(num_classes=10)(features)
        model = keras.Model(inputs=inputs, outputs=outputs)

        inputs = keras.Input(shape=(64,))
        outputs = layers.Dense(1, activation="sigmoid")(inputs)
        binary_classifier = keras.Model(inputs=inputs, outputs=outputs)

        class MyModel(keras.Model):
            def __init__(self, num_classes=2):
                super().__init__()
                self.dense = layers.Dense(64, activation="relu")
                self.classifier = binary_classifier

            def call(self, inputs):
                features = self.dense(inputs)
                return self.classifier(features)

        return model, MyModel()

    (model, my_model), (k_model, k_my_model) = both(real_keras, listing)
    x = np.random.default_rng(2).random((4, 3)).astype("float32")
    my_model(x), k_my_model(x)
    assert summary_rows(model) == summary_rows(k_model)
    assert [r[0] for r in summary_rows(my_model)] == [r[0] for r in summary_rows(k_my_model)]
    assert summary_text(model).splitlines()[0] == summary_text(k_model).splitlines()[0]
    for ours, theirs in ((model, k_model), (my_model, k_my_model)):
        ours.set_weights(theirs.get_weights())
        assert_close(as_numpy(ours(x)), as_numpy(theirs(x)))
