"""Keras' guide "Customizing what happens in fit() with PyTorch", run in Keras 3 (torch backend) and in
layerwise on the same data from the same weights with ``shuffle=False``: overridden ``train_step``,
``test_step`` and ``predict_step``, ``compute_loss``, the ``metrics`` property, ``optimizer.apply``, sample
weights and the GAN with two optimizers. Each model class is written once against ``lib`` (keras or
layerwise); ``_grad`` reads Keras' ``v.value.grad`` and a layerwise parameter's ``v.grad`` alike."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise.utils import pack_x_y_sample_weight, unpack_x_y_sample_weight


def _grad(variable):
    return getattr(variable, "value", variable).grad


def _apply(model, loss, use_apply_gradients: bool = False):
    loss.backward()
    weights = list(model.trainable_weights)
    grads = [_grad(v) for v in weights]
    with torch.no_grad():
        if use_apply_gradients:
            model.optimizer.apply_gradients(zip(grads, weights))
        else:
            model.optimizer.apply(grads, weights)


def _guide_model(lib):
    """The guide's first example: compute_loss and the compiled metrics listed in ``self.metrics``."""

    class CustomModel(lib.Model):
        def train_step(self, data):
            x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            _apply(self, loss)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    return CustomModel


def _lower_level_model(lib):
    """The guide's lower-level example: its own loss function, Mean and MAE trackers, a metrics property."""

    class CustomModel(lib.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_tracker = lib.metrics.Mean(name="loss")
            self.mae_metric = lib.metrics.MeanAbsoluteError(name="mae")
            self.loss_fn = lib.losses.MeanSquaredError()

        def train_step(self, data):
            x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.loss_fn(y, y_pred)
            _apply(self, loss)
            self.loss_tracker.update_state(loss)
            self.mae_metric.update_state(y, y_pred)
            return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

        @property
        def metrics(self):
            return [self.loss_tracker, self.mae_metric]

    return CustomModel


def _weighted_model(lib):
    """The guide's sample-weight example, unpacking with unpack_x_y_sample_weight (and apply_gradients)."""

    class CustomModel(lib.Model):
        def train_step(self, data):
            x, y, sample_weight = lib.utils.unpack_x_y_sample_weight(data)
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
            _apply(self, loss, use_apply_gradients=True)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred, sample_weight=sample_weight)
            return {m.name: m.result() for m in self.metrics}

    return CustomModel


def _evaluating_model(lib):
    """The guide's test_step, scoring ``y_pred + 0.5`` so that it differs from the default step."""

    class CustomModel(lib.Model):
        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False) + 0.5
            loss = self.compute_loss(y=y, y_pred=y_pred)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    return CustomModel


def _twins(keras, make_class, rng, units: int = 1, features: int = 8):
    """The same ``make_class(lib)(inputs, outputs)`` Dense model in Keras and layerwise, same weights."""
    models = []
    for lib in (keras, layerwise):
        inputs = lib.Input(shape=(features,))
        models.append(make_class(lib)(inputs, lib.layers.Dense(units)(inputs)))
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in models[0].get_weights()]
    for model in models:
        model.set_weights(weights)
    return models


@pytest.fixture
def data(rng):
    return rng.random((48, 8)).astype("float32"), rng.random((48, 1)).astype("float32")


def _assert_histories(k_history, lw_history, rtol: float = 1e-5):
    assert list(lw_history) == list(k_history)
    for key, values in k_history.items():
        np.testing.assert_allclose(lw_history[key], values, rtol=rtol, atol=1e-6, err_msg=key)


def _assert_weights(k_model, lw_model, atol: float = 1e-6):
    for k_w, lw_w in zip(k_model.get_weights(), lw_model.get_weights(), strict=True):
        np.testing.assert_allclose(lw_w, k_w, atol=atol)


def test_first_example_trains_with_compute_loss_and_compiled_metrics(keras, rng, data):
    x, y = data
    k_model, lw_model = _twins(keras, _guide_model, rng)
    histories = []
    for model in (k_model, lw_model):
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        histories.append(model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history)
    assert sorted(histories[1]) == ["loss", "mae"]
    _assert_histories(*histories)
    _assert_weights(k_model, lw_model)
    assert [m.name for m in lw_model.metrics] == [m.name for m in k_model.metrics] == ["loss", "compile_metrics"]
    assert lw_model.get_metrics_result().keys() == {"loss", "mae"}
    np.testing.assert_allclose(lw_model.evaluate(x, y, verbose=0), k_model.evaluate(x, y, verbose=0), rtol=1e-5)


def test_lower_level_example_resets_the_listed_trackers_each_epoch(keras, rng, data):
    x, y = data
    k_model, lw_model = _twins(keras, _lower_level_model, rng)
    histories = []
    for model in (k_model, lw_model):
        model.compile(optimizer="adam")  # no loss: the train_step computes its own
        histories.append(model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history)
    _assert_histories(*histories)
    _assert_weights(k_model, lw_model)
    # Reset at each epoch: the last epoch's mean is over its 3 batches only.
    assert float(lw_model.loss_tracker.count) == 3
    with pytest.raises(ValueError, match="compiled without a loss"):
        lw_model.evaluate(x, y, verbose=0)  # the default test_step has no loss, as Keras says too
    with pytest.raises(ValueError, match="No loss to compute"):
        k_model.evaluate(x, y, verbose=0)


def test_sample_weights_reach_train_step_through_unpack(keras, rng, data):
    x, y = data
    weights = rng.random(len(x)).astype("float32")
    k_model, lw_model = _twins(keras, _weighted_model, rng)
    histories = []
    for model, lib in ((k_model, keras), (lw_model, layerwise)):
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
        histories.append(model.fit(x, y, sample_weight=weights, batch_size=16, epochs=2, shuffle=False,
                                   verbose=0).history)
    _assert_histories(*histories)
    _assert_weights(k_model, lw_model)


def test_custom_test_step_drives_evaluate_and_validation(keras, rng, data):
    x, y = data
    k_model, lw_model = _twins(keras, _evaluating_model, rng)
    histories = []
    for model in (k_model, lw_model):
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
        histories.append(model.fit(x[:32], y[:32], batch_size=8, epochs=2, shuffle=False, verbose=0,
                                   validation_data=(x[32:], y[32:])).history)
    _assert_histories(*histories)
    k_list, lw_list = k_model.evaluate(x, y, batch_size=10, verbose=0), lw_model.evaluate(x, y, batch_size=10,
                                                                                           verbose=0)
    np.testing.assert_allclose(lw_list, k_list, rtol=1e-5)
    k_dict = k_model.evaluate(x, y, batch_size=10, verbose=0, return_dict=True)
    lw_dict = lw_model.evaluate(x, y, batch_size=10, verbose=0, return_dict=True)
    assert lw_dict.keys() == k_dict.keys() == {"loss", "mae"}
    shifted = lw_model.predict(x, verbose=0) + 0.5  # what test_step scores, unlike the fused step
    np.testing.assert_allclose(lw_dict["mae"], np.abs(shifted - y).mean(), rtol=1e-5)
    # Keras' test_on_batch hands test_step (x, y, None); layerwise packs the batch as evaluate does.
    whole = k_model.evaluate(x, y, batch_size=len(x), verbose=0)
    np.testing.assert_allclose(lw_model.test_on_batch(x, y), whole, rtol=1e-5)


def test_custom_predict_step_output_structure(keras, rng, data):
    x, _ = data

    def make(lib):
        class CustomModel(lib.Model):
            def predict_step(self, data):
                x, _, _ = lib.utils.unpack_x_y_sample_weight(data)
                y_pred = self(x, training=False)
                return {"double": y_pred * 2, "pred": y_pred}
        return CustomModel

    k_model, lw_model = _twins(keras, make, rng, units=2)
    k_out, lw_out = k_model.predict(x, batch_size=20, verbose=0), lw_model.predict(x, batch_size=20, verbose=0)
    assert isinstance(lw_out, dict) and lw_out.keys() == k_out.keys()
    for key in k_out:
        assert lw_out[key].shape == (48, 2)
        np.testing.assert_allclose(lw_out[key], k_out[key], atol=1e-6)
    np.testing.assert_allclose(lw_model.predict_on_batch(x[:5])["double"], k_out["double"][:5], atol=1e-6)


def test_super_train_step_and_overridden_compute_loss_follow_keras(keras, rng, data):
    x, y = data

    def make(lib):
        class CustomModel(lib.Model):
            def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
                loss = super().compute_loss(x, y, y_pred, sample_weight, training=training)
                return loss + 0.1 * torch.mean(y_pred ** 2)

            def train_step(self, data):
                logs = super().train_step(data)
                return {**logs, "steps": self.optimizer.iterations}
        return CustomModel

    k_model, lw_model = _twins(keras, make, rng)
    histories = []
    for model in (k_model, lw_model):
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        histories.append(model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history)
    _assert_histories(*histories)
    assert histories[1]["steps"] == [3.0, 6.0]
    np.testing.assert_allclose(lw_model.evaluate(x, y, verbose=0), k_model.evaluate(x, y, verbose=0), rtol=1e-5)


def _gan_parts(lib, latent_dim: int):
    layers = lib.layers
    discriminator = lib.Sequential([
        lib.Input(shape=(8, 8, 1)),
        layers.Conv2D(4, (3, 3), strides=(2, 2), padding="same"), layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(8, (3, 3), strides=(2, 2), padding="same"), layers.LeakyReLU(negative_slope=0.2),
        layers.GlobalMaxPooling2D(), layers.Dense(1)], name="discriminator")
    generator = lib.Sequential([
        lib.Input(shape=(latent_dim,)),
        layers.Dense(2 * 2 * 8), layers.LeakyReLU(negative_slope=0.2), layers.Reshape((2, 2, 8)),
        layers.Conv2DTranspose(8, (4, 4), strides=(2, 2), padding="same"), layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2DTranspose(8, (4, 4), strides=(2, 2), padding="same"), layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(1, (3, 3), padding="same", activation="sigmoid")], name="generator")

    class GAN(lib.Model):
        """The guide's GAN; its random draws come from ``noise`` (the same arrays for both libraries)."""

        def __init__(self, discriminator, generator, latent_dim, noise):
            super().__init__()
            self.discriminator, self.generator, self.latent_dim = discriminator, generator, latent_dim
            self.d_loss_tracker = lib.metrics.Mean(name="d_loss")
            self.g_loss_tracker = lib.metrics.Mean(name="g_loss")
            self.noise = iter(noise)
            self.built = True

        @property
        def metrics(self):
            return [self.d_loss_tracker, self.g_loss_tracker]

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn

        def draw(self, like):
            return torch.as_tensor(next(self.noise), device=like.device)

        def train_step(self, real_images):
            if isinstance(real_images, (tuple, list)):  # Keras hands a DataLoader's batch over as a list
                real_images = real_images[0]
            batch_size = real_images.shape[0]
            generated_images = self.generator(self.draw(real_images))
            combined_images = torch.concat([generated_images, real_images], axis=0)
            labels = torch.concat([torch.ones((batch_size, 1), device=real_images.device),
                                   torch.zeros((batch_size, 1), device=real_images.device)], axis=0)
            labels += 0.05 * self.draw(real_images)
            self.zero_grad()
            d_loss = self.loss_fn(labels, self.discriminator(combined_images))
            d_loss.backward()
            grads = [_grad(v) for v in self.discriminator.trainable_weights]
            with torch.no_grad():
                self.d_optimizer.apply(grads, self.discriminator.trainable_weights)
            misleading_labels = torch.zeros((batch_size, 1), device=real_images.device)
            self.zero_grad()
            g_loss = self.loss_fn(misleading_labels, self.discriminator(self.generator(self.draw(real_images))))
            g_loss.backward()
            grads = [_grad(v) for v in self.generator.trainable_weights]
            with torch.no_grad():
                self.g_optimizer.apply(grads, self.generator.trainable_weights)
            self.d_loss_tracker.update_state(d_loss)
            self.g_loss_tracker.update_state(g_loss)
            return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}

    return discriminator, generator, GAN


def _recorder(lib):
    """A callback recording each step's logged losses."""
    class Recorder(lib.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_train_batch_end(self, batch, logs=None):
            self.seen.append((float(logs["d_loss"]), float(logs["g_loss"])))

    return Recorder()


def test_gan_example_with_two_optimizers_matches_keras(keras, rng):
    latent_dim, batch_size, steps, epochs = 6, 4, 3, 2
    images = rng.random((batch_size * steps, 8, 8, 1)).astype("float32")
    noise = []
    for _ in range(steps * epochs):
        noise += [rng.normal(size=(batch_size, latent_dim)).astype("float32"),
                  rng.random((2 * batch_size, 1)).astype("float32"),
                  rng.normal(size=(batch_size, latent_dim)).astype("float32")]
    parts = {lib: _gan_parts(lib, latent_dim) for lib in (keras, layerwise)}
    for k_net, lw_net in zip(parts[keras][:2], parts[layerwise][:2]):
        lw_net.set_weights(k_net.get_weights())
    results = []
    for lib, (discriminator, generator, gan_class) in parts.items():
        gan = gan_class(discriminator, generator, latent_dim, noise)
        gan.compile(d_optimizer=lib.optimizers.Adam(learning_rate=0.01),
                    g_optimizer=lib.optimizers.Adam(learning_rate=0.01),
                    loss_fn=lib.losses.BinaryCrossentropy(from_logits=True))
        dataset = torch.utils.data.TensorDataset(torch.from_numpy(images), torch.from_numpy(images))
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
        recorder = _recorder(lib)
        history = gan.fit(loader, epochs=epochs, verbose=0, shuffle=False, callbacks=[recorder]).history
        results.append((gan, history, recorder.seen))
    (k_gan, k_history, k_steps), (lw_gan, lw_history, lw_steps) = results
    assert len(lw_steps) == steps * epochs
    np.testing.assert_allclose(lw_steps, k_steps, rtol=1e-4, atol=1e-6)
    _assert_histories(k_history, lw_history, rtol=1e-4)
    for name in ("discriminator", "generator"):
        _assert_weights(getattr(k_gan, name), getattr(lw_gan, name), atol=1e-5)
    assert lw_gan.d_optimizer.iterations == lw_gan.g_optimizer.iterations == steps * epochs


def test_pack_and_unpack_follow_keras(keras):
    x, y, w = np.ones((2, 3)), np.zeros((2, 1)), np.ones(2)
    for args in [(x,), (x, y), (x, y, w), ((x, x),), ([x, x], y)]:
        k_packed, lw_packed = keras.utils.pack_x_y_sample_weight(*args), pack_x_y_sample_weight(*args)
        assert type(lw_packed) is type(k_packed)
        k_parts, lw_parts = keras.utils.unpack_x_y_sample_weight(k_packed), unpack_x_y_sample_weight(lw_packed)
        assert [p is None for p in lw_parts] == [p is None for p in k_parts]
    assert unpack_x_y_sample_weight([x, y])[1] is y
    with pytest.raises(ValueError, match="tuple of 4 items"):
        unpack_x_y_sample_weight((x, y, w, w))


# ---- bad input ------------------------------------------------------------------------------------


def test_train_step_returning_a_non_dict_is_a_clear_error(data):
    x, y = data

    class LossOnly(layerwise.Model):
        def train_step(self, data):
            return torch.tensor(1.0)

    inputs = layerwise.Input(shape=(8,))
    model = LossOnly(inputs, layerwise.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match=r"train_step\(\) must return a dict of logs .* received Tensor"):
        model.fit(x, y, epochs=1, verbose=0)


def test_compile_without_loss_needs_a_loss_from_somewhere():
    inputs = layerwise.Input(shape=(8,))
    model = layerwise.Model(inputs, layerwise.layers.Dense(1)(inputs))
    model.compile(optimizer="adam")  # allowed, as in Keras: a model may add its own loss
    x, y = np.ones((4, 8), "float32"), np.ones((4, 1), "float32")
    with pytest.raises(ValueError, match="compiled without a loss and adds none"):
        model.fit(x, y, verbose=0)
    custom = _lower_level_model(layerwise)(inputs, layerwise.layers.Dense(1)(inputs))
    custom.compile(optimizer="adam")  # its train_step computes the loss
    assert custom.fit(x, y, verbose=0).history["loss"][0] > 0


def test_optimizer_apply_checks_its_variables():
    layer, other = layerwise.layers.Dense(2), layerwise.layers.Dense(2)
    for dense in (layer, other):
        dense(torch.zeros(1, 3))
    optimizer = layerwise.optimizers.SGD(0.5)
    with pytest.raises(ValueError, match="not built, so it needs trainable_variables"):
        optimizer.apply([torch.ones(1)])
    before = layer.get_weights()
    optimizer.apply([torch.ones_like(w) for w in layer.weights], layer.weights)
    np.testing.assert_allclose(layer.get_weights()[0], before[0] - 0.5)
    with pytest.raises(ValueError, match="expected one gradient per variable \\(2\\); received 1"):
        optimizer.apply([torch.ones(1)], layer.weights)
    with pytest.raises(ValueError, match="not among the 2 variables"):
        optimizer.apply([torch.ones_like(w) for w in other.weights], other.weights)
    optimizer.apply_gradients([(None, layer.weights[0]), (torch.ones_like(layer.weights[1]), layer.weights[1])])
    np.testing.assert_allclose(layer.get_weights()[0], before[0] - 0.5)  # a None gradient leaves it as it is
    np.testing.assert_allclose(layer.get_weights()[1], before[1] - 1.0)
    assert optimizer.iterations == 2
