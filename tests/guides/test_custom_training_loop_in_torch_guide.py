"""Keras 3's guide "Writing a training loop from scratch in PyTorch"
(guides/writing_a_custom_training_loop_in_torch.py), run with ``import layerwise as keras`` and in Keras 3 (torch
backend) from the same weights: the loop with ``torch.optim.Adam`` and ``torch.nn.CrossEntropyLoss``, the loop with
a Keras optimizer (``optimizer.apply``) and a Keras loss object, the metrics updated by hand, and the
activity-regularization layer whose ``model.losses`` join the loss. MNIST is not downloaded: random pixel values
(unscaled, as the guide feeds them) of its shape stand in, and the DataLoaders do not shuffle so that both libraries
see the same batches and their step losses can be compared."""
from __future__ import annotations

import numpy as np
import torch
from guide_helpers import as_numpy, assert_close, fresh, grad, libraries

batch_size = 32
epochs = 3



def get_model(keras, layers, ops):
    fresh(keras)
    inputs = keras.Input(shape=(784,), name="digits")
    x1 = keras.layers.Dense(64, activation="relu")(inputs)
    x2 = keras.layers.Dense(64, activation="relu")(x1)
    outputs = keras.layers.Dense(10, name="predictions")(x2)
    model = keras.Model(inputs=inputs, outputs=outputs)
    return model


def twins(real_keras, build=get_model):
    real_keras.utils.set_random_seed(0)  # the same starting weights on every run: a check that cannot flicker
    ours, theirs = [build(*lib) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def mnist_like(real_keras, n, seed):
    """Flattened 28x28 images with raw pixel values (the guide does not scale them) and one-hot labels."""
    rng = np.random.default_rng(seed)
    x = (rng.integers(0, 256, (n, 784)) * (rng.random((n, 784)) < 0.2)).astype("float32")
    y = real_keras.utils.to_categorical(rng.integers(0, 10, n), 10).astype("float32")
    return x, y


def dataloaders(real_keras):
    x_train, y_train = mnist_like(real_keras, 64, 0)
    x_val, y_val = mnist_like(real_keras, 40, 1)
    train_dataset = torch.utils.data.TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train))
    val_dataset = torch.utils.data.TensorDataset(torch.from_numpy(x_val), torch.from_numpy(y_val))
    # The guide shuffles the training batches; here both libraries must see the same ones.
    train_dataloader = torch.utils.data.DataLoader(train_dataset, batch_size=batch_size, shuffle=False)
    val_dataloader = torch.utils.data.DataLoader(val_dataset, batch_size=batch_size, shuffle=False)
    return train_dataloader, val_dataloader


def test_the_model_gives_keras_outputs_from_the_same_weights(real_keras):
    ours, theirs = twins(real_keras)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters()) == 55050
    x, _ = mnist_like(real_keras, 4, 2)
    assert_close(as_numpy(ours(torch.from_numpy(x))), as_numpy(theirs(torch.from_numpy(x))), rtol=1e-4, atol=1e-4)


def torch_optimizer_loop(model, train_dataloader):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    step_losses = []
    for epoch in range(epochs):
        for step, (inputs, targets) in enumerate(train_dataloader):
            logits = model(inputs)
            loss = loss_fn(logits, targets)
            model.zero_grad()
            loss.backward()
            optimizer.step()
            step_losses.append(float(loss.detach().numpy()))
    return step_losses


def test_the_loop_with_torch_optim_and_a_torch_loss_steps_as_in_keras(real_keras):
    train_dataloader, _ = dataloaders(real_keras)
    ours, theirs = twins(real_keras)
    our_losses = torch_optimizer_loop(ours, train_dataloader)
    their_losses = torch_optimizer_loop(theirs, train_dataloader)
    assert len(our_losses) == epochs * len(train_dataloader)
    assert_close(our_losses, their_losses, rtol=1e-4, atol=1e-5)
    assert our_losses[-1] < our_losses[0]
    for ours_w, theirs_w in zip(ours.get_weights(), theirs.get_weights()):
        assert_close(ours_w, theirs_w, rtol=1e-3, atol=1e-5)


def keras_optimizer_loop(keras, model, train_dataloader):
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True)
    step_losses = []
    for epoch in range(epochs):
        for step, (inputs, targets) in enumerate(train_dataloader):
            logits = model(inputs)
            loss = loss_fn(targets, logits)
            model.zero_grad()
            trainable_weights = [v for v in model.trainable_weights]
            loss.backward()
            gradients = [grad(v) for v in trainable_weights]
            with torch.no_grad():
                optimizer.apply(gradients, trainable_weights)
            step_losses.append(float(loss.detach().numpy()))
    return step_losses, optimizer


def test_the_loop_with_a_keras_optimizer_and_a_keras_loss_steps_as_in_keras(real_keras):
    train_dataloader, _ = dataloaders(real_keras)
    ours, theirs = twins(real_keras)
    our_losses, our_optimizer = keras_optimizer_loop(libraries(real_keras)[0][0], ours, train_dataloader)
    their_losses, their_optimizer = keras_optimizer_loop(real_keras, theirs, train_dataloader)
    assert_close(our_losses, their_losses, rtol=1e-4, atol=1e-5)
    assert int(our_optimizer.iterations) == int(their_optimizer.iterations) == epochs * len(train_dataloader)
    # Adam moves each weight by about the rate (1e-3) a step, whatever the gradient's size, so float32 rounding
    # in a near-zero gradient can shift one weight by a few 1e-5: atol is a tenth of one step
    for ours_w, theirs_w in zip(ours.get_weights(), theirs.get_weights()):
        assert_close(ours_w, theirs_w, rtol=1e-3, atol=1e-4)


def loop_with_metrics(keras, model, train_dataloader, val_dataloader, with_model_losses=False):
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True)
    train_acc_metric = keras.metrics.CategoricalAccuracy()
    val_acc_metric = keras.metrics.CategoricalAccuracy()
    record = {"loss": [], "acc": [], "val_acc": []}
    for epoch in range(epochs):
        for step, (inputs, targets) in enumerate(train_dataloader):
            logits = model(inputs)
            loss = loss_fn(targets, logits)
            if with_model_losses and model.losses:
                loss = loss + torch.sum(*model.losses)
            model.zero_grad()
            trainable_weights = [v for v in model.trainable_weights]
            loss.backward()
            gradients = [grad(v) for v in trainable_weights]
            with torch.no_grad():
                optimizer.apply(gradients, trainable_weights)
            train_acc_metric.update_state(targets, logits)
            record["loss"].append(float(loss.detach().numpy()))
        train_acc = train_acc_metric.result()
        record["acc"].append(float(train_acc))
        train_acc_metric.reset_state()
        for x_batch_val, y_batch_val in val_dataloader:
            val_logits = model(x_batch_val, training=False)
            val_acc_metric.update_state(y_batch_val, val_logits)
        val_acc = val_acc_metric.result()
        val_acc_metric.reset_state()
        record["val_acc"].append(float(val_acc))
    return record


def test_metrics_updated_by_hand_match_keras(real_keras):
    train_dataloader, val_dataloader = dataloaders(real_keras)
    ours, theirs = twins(real_keras)
    (lw, _, _), (k, _, _) = libraries(real_keras)
    our_record = loop_with_metrics(lw, ours, train_dataloader, val_dataloader)
    their_record = loop_with_metrics(k, theirs, train_dataloader, val_dataloader)
    assert_close(our_record["loss"], their_record["loss"], rtol=1e-4, atol=1e-5, what="loss")
    assert our_record["acc"] == their_record["acc"]
    assert our_record["val_acc"] == their_record["val_acc"]
    # The metric object's own life cycle: result() is the running mean, reset_state() clears it.
    for lib in (lw, k):
        metric = lib.metrics.CategoricalAccuracy()
        metric.update_state(np.eye(3, dtype="float32"), np.eye(3, dtype="float32")[[0, 2, 1]])
        assert float(metric.result()) == float(np.float32(1 / 3))
        metric.reset_state()
        assert float(metric.result()) == 0.0


def activity_regularization_layer(keras, layers, ops):
    class ActivityRegularizationLayer(keras.layers.Layer):
        def call(self, inputs):
            self.add_loss(1e-2 * torch.sum(inputs))
            return inputs

    return ActivityRegularizationLayer


def regularized_model(keras, layers, ops):
    fresh(keras)
    ActivityRegularizationLayer = activity_regularization_layer(keras, layers, ops)
    inputs = keras.Input(shape=(784,), name="digits")
    x = keras.layers.Dense(64, activation="relu")(inputs)
    x = ActivityRegularizationLayer()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    outputs = keras.layers.Dense(10, name="predictions")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    return model


def test_the_activity_regularization_layer_adds_its_loss_to_model_losses(real_keras):
    ours, theirs = twins(real_keras, regularized_model)
    x, _ = mnist_like(real_keras, 4, 3)
    x = torch.from_numpy(x)
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-4)
    assert len(ours.losses) == len(theirs.losses) == 1
    assert_close(as_numpy(ours.losses[0]), as_numpy(theirs.losses[0]), rtol=1e-4)
    hidden = theirs.layers[1](x)
    assert_close(as_numpy(ours.losses[0]), 1e-2 * as_numpy(hidden).sum(), rtol=1e-4)
    ours(x)  # a second call replaces the loss of the first, as in Keras
    theirs(x)
    assert len(ours.losses) == len(theirs.losses) == 1


def test_the_loop_with_model_losses_steps_as_in_keras(real_keras):
    # The guide rebinds ``model = get_model()`` before this loop, which would leave its ``model.losses`` branch
    # unused; the loop runs here on the model with the ActivityRegularizationLayer that the section builds.
    train_dataloader, val_dataloader = dataloaders(real_keras)
    ours, theirs = twins(real_keras, regularized_model)
    (lw, _, _), (k, _, _) = libraries(real_keras)
    our_record = loop_with_metrics(lw, ours, train_dataloader, val_dataloader, with_model_losses=True)
    their_record = loop_with_metrics(k, theirs, train_dataloader, val_dataloader, with_model_losses=True)
    assert_close(our_record["loss"], their_record["loss"], rtol=1e-4, atol=1e-4, what="loss")
    assert our_record["acc"] == their_record["acc"]
    assert our_record["val_acc"] == their_record["val_acc"]
    assert our_record["loss"][-1] < our_record["loss"][0]
