"""keras-io example "Knowledge Distillation" (examples/vision/knowledge_distillation.py) run with
``import layerwise as keras`` and in Keras 3 (torch backend): the teacher and student CNNs (summaries, outputs from
the same weights), ``clone_model`` for the student trained from scratch, the teacher's ordinary training, and the
``Distiller`` model that overrides ``compile``. The Distiller is written twice: as the example's Keras 3 edition
writes it (``compute_loss`` and ``call`` overridden, ``ops.softmax``), and as the original listing's
``train_step`` / ``test_step``, with TensorFlow's GradientTape replaced as in Keras' guide "Customizing what
happens in fit() with PyTorch" (backward on the loss, gradients of the student's weights only, then
``optimizer.apply``); there ``self.compiled_metrics.update_state`` (gone in Keras 3) is
``self.compute_metrics``. MNIST is not downloaded: random images of its shape stand in for it."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from guide_helpers import as_numpy, assert_close, fresh, grad, libraries, summary_rows

batch_size = 64  # set by the example, which then fits with the default batch size (32)
# Weights after two Adam steps (lr 1e-3) agree to ~1e-6; Adam turns a near-zero gradient's float32 rounding into
# a sizeable step now and then, so a weight may differ by a fraction of a step.
WEIGHT_ATOL = 2e-4



def teacher_and_student(keras, layers, ops):
    fresh(keras)
    teacher = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(256, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.MaxPooling2D(pool_size=(2, 2), strides=(1, 1), padding="same"),
            layers.Conv2D(512, (3, 3), strides=(2, 2), padding="same"),
            layers.Flatten(),
            layers.Dense(10),
        ],
        name="teacher",
    )
    student = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(16, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.MaxPooling2D(pool_size=(2, 2), strides=(1, 1), padding="same"),
            layers.Conv2D(32, (3, 3), strides=(2, 2), padding="same"),
            layers.Flatten(),
            layers.Dense(10),
        ],
        name="student",
    )
    # A copy of the student's architecture (new weights), trained without the teacher for comparison.
    student_scratch = keras.models.clone_model(student)
    return teacher, student, student_scratch


def distiller_compute_loss(keras, layers, ops):
    """The Distiller of the example's Keras 3 edition: the loss in compute_loss, the student as call."""

    class Distiller(keras.Model):
        def __init__(self, student, teacher):
            super().__init__()
            self.teacher = teacher
            self.student = student

        def compile(self, optimizer, metrics, student_loss_fn, distillation_loss_fn, alpha=0.1, temperature=3):
            super().compile(optimizer=optimizer, metrics=metrics)
            self.student_loss_fn = student_loss_fn
            self.distillation_loss_fn = distillation_loss_fn
            self.alpha = alpha
            self.temperature = temperature

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, allow_empty=False):
            teacher_pred = self.teacher(x, training=False)
            student_loss = self.student_loss_fn(y, y_pred)
            # Hinton et al.: the soft targets' gradients scale as 1/T^2, so the loss is multiplied by T^2.
            distillation_loss = self.distillation_loss_fn(
                ops.softmax(teacher_pred / self.temperature, axis=1),
                ops.softmax(y_pred / self.temperature, axis=1),
            ) * (self.temperature**2)
            loss = self.alpha * student_loss + (1 - self.alpha) * distillation_loss
            return loss

        def call(self, x):
            return self.student(x)

    return Distiller


def distiller_train_step(keras, layers, ops, with_call=True):
    """The original listing's Distiller: its own train_step (only the student learns) and test_step. The listing
    defines no call(), which Keras 3 refuses (the last test); the other tests add the Keras 3 edition's ``call``."""

    class Distiller(keras.Model):
        def __init__(self, student, teacher):
            super().__init__()
            self.teacher = teacher
            self.student = student

        def compile(self, optimizer, metrics, student_loss_fn, distillation_loss_fn, alpha=0.1, temperature=3):
            super().compile(optimizer=optimizer, metrics=metrics)
            self.student_loss_fn = student_loss_fn
            self.distillation_loss_fn = distillation_loss_fn
            self.alpha = alpha
            self.temperature = temperature

        def train_step(self, data):
            x, y = data
            with torch.no_grad():  # the teacher's forward pass stays outside the recorded graph
                teacher_predictions = self.teacher(x, training=False)
            self.zero_grad()
            student_predictions = self.student(x, training=True)
            student_loss = self.student_loss_fn(y, student_predictions)
            distillation_loss = (
                self.distillation_loss_fn(
                    ops.softmax(teacher_predictions / self.temperature, axis=1),
                    ops.softmax(student_predictions / self.temperature, axis=1),
                )
                * self.temperature**2
            )
            loss = self.alpha * student_loss + (1 - self.alpha) * distillation_loss
            loss.backward()
            trainable_vars = self.student.trainable_weights
            gradients = [grad(v) for v in trainable_vars]
            with torch.no_grad():
                self.optimizer.apply(gradients, trainable_vars)
            self.compute_metrics(x, y, student_predictions)
            results = {m.name: m.result() for m in self.metrics}
            results.update({"student_loss": student_loss, "distillation_loss": distillation_loss})
            return results

        def test_step(self, data):
            x, y = data
            y_prediction = self.student(x, training=False)
            student_loss = self.student_loss_fn(y, y_prediction)
            self.compute_metrics(x, y, y_prediction)
            results = {m.name: m.result() for m in self.metrics}
            results.update({"student_loss": student_loss})
            return results

    if not with_call:
        return Distiller

    class DistillerWithCall(Distiller):
        def call(self, x):
            return self.student(x)

    return DistillerWithCall


def mnist_like(n, seed):
    """Images as the example prepares them: (n, 28, 28, 1) float32 in [0, 1]; integer labels 0-9."""
    rng = np.random.default_rng(seed)
    digits = np.where(rng.random((n, 28, 28)) < 0.2, rng.integers(0, 256, (n, 28, 28)), 0)
    x = digits.astype("float32") / 255.0
    return np.reshape(x, (-1, 28, 28, 1)), rng.integers(0, 10, n)


def same_models(real_keras):
    """Teacher, student and scratch student in both libraries, ours with Keras' weights."""
    ours, theirs = [teacher_and_student(*lib) for lib in libraries(real_keras)]
    for model, k_model in zip(ours, theirs):
        model.set_weights(k_model.get_weights())
    return ours, theirs


def distill(real_keras, make_distiller, epochs=2):
    """The example's distillation (its 3 epochs over 60,000 digits shrink to 2 over 32, one batch of the default
    size each) in both libraries; the histories, the evaluation dicts, and the teacher's weights before and
    after. The teacher keeps its initial weights (the example trains it first; that is the next test's part)."""
    ours, theirs = same_models(real_keras)
    x_train, y_train = mnist_like(32, 0)
    x_test, y_test = mnist_like(16, 1)
    results = []
    for (keras, layers, ops), (teacher, student, _) in zip(libraries(real_keras), (ours, theirs)):
        teacher_before = teacher.get_weights()
        distiller = make_distiller(keras, layers, ops)(student=student, teacher=teacher)
        distiller.compile(
            optimizer=keras.optimizers.Adam(),
            metrics=[keras.metrics.SparseCategoricalAccuracy()],
            student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            distillation_loss_fn=keras.losses.KLDivergence(),
            alpha=0.1,
            temperature=10,
        )
        history = distiller.fit(x_train, y_train, epochs=epochs, shuffle=False, verbose=0).history
        evaluation = distiller.evaluate(x_test, y_test, verbose=0, return_dict=True)
        results.append((history, evaluation, teacher_before, teacher.get_weights(), student))
    return results


def test_teacher_and_student_match_keras(real_keras):
    ours, theirs = [teacher_and_student(*lib) for lib in libraries(real_keras)]
    x, _ = mnist_like(4, 2)
    for model, k_model in zip(ours, theirs):
        assert model.name == k_model.name
        assert summary_rows(model) == summary_rows(k_model)
        model.set_weights(k_model.get_weights())
        assert_close(as_numpy(model(x)), as_numpy(k_model(x)), rtol=1e-4, atol=1e-5)
    # The clone has the student's architecture and its own weights.
    for _, student, student_scratch in (ours, theirs):
        assert summary_rows(student_scratch)[-3:] == summary_rows(student)[-3:]
        assert [w.shape for w in student_scratch.get_weights()] == [w.shape for w in student.get_weights()]
        assert not np.allclose(student_scratch.get_weights()[0], student.get_weights()[0])


def test_the_original_listing_s_leaky_relu_alpha_is_taken_as_in_keras(real_keras):
    x = np.array([[-2.0, -0.5, 0.0, 3.0]], dtype="float32")
    outputs = [as_numpy(layers.LeakyReLU(alpha=0.2)(x)) for _, layers, _ in libraries(real_keras)]
    assert_close(outputs[0], outputs[1])
    assert_close(outputs[0], [[-0.4, -0.1, 0.0, 3.0]])


def test_training_the_teacher_and_the_scratch_student_matches_keras(real_keras):
    ours, theirs = same_models(real_keras)
    x_train, y_train = mnist_like(32, 3)
    x_test, y_test = mnist_like(16, 4)
    for index in (0, 2):  # the teacher (5 epochs in the example), the student from scratch (3)
        runs = []
        for (keras, _, _), models in zip(libraries(real_keras), (ours, theirs)):
            model = models[index]
            model.compile(
                optimizer=keras.optimizers.Adam(),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=[keras.metrics.SparseCategoricalAccuracy()],
            )
            history = model.fit(x_train, y_train, epochs=2, shuffle=False, verbose=0).history
            runs.append((history, model.evaluate(x_test, y_test, verbose=0)))
        (history, evaluation), (k_history, k_evaluation) = runs
        assert sorted(history) == sorted(k_history) == ["loss", "sparse_categorical_accuracy"]
        for key in k_history:
            assert_close(history[key], k_history[key], rtol=1e-4, atol=1e-6, what=key)
        assert history["loss"][-1] < history["loss"][0]
        assert_close(evaluation, k_evaluation, rtol=1e-4, atol=1e-6)


def test_distilling_with_the_keras_3_compute_loss_matches_keras(real_keras):
    (history, evaluation, before, after, student), (k_history, k_evaluation, _, k_after, k_student) = distill(
        real_keras, distiller_compute_loss)
    assert_close(history["loss"], k_history["loss"], rtol=1e-4, atol=1e-6)
    assert evaluation["loss"] == pytest.approx(k_evaluation["loss"], rel=1e-4)
    for got, expected in zip(student.get_weights(), k_student.get_weights()):
        assert_close(got, expected, rtol=1e-3, atol=WEIGHT_ATOL)
    # The teacher runs inside compute_loss, so in Keras 3 its weights are among the Distiller's trainable
    # weights and get gradients through the soft targets: they move, and alike in both libraries.
    assert not np.allclose(after[0], before[0])
    for got, expected in zip(after, k_after):
        assert_close(got, expected, rtol=1e-3, atol=WEIGHT_ATOL)


def test_the_keras_3_distiller_logs_its_compiled_metric_as_in_keras(real_keras):
    (history, evaluation, *_), (k_history, k_evaluation, *_) = distill(real_keras, distiller_compute_loss, epochs=1)
    assert sorted(history) == sorted(k_history) == ["loss", "sparse_categorical_accuracy"]
    assert sorted(evaluation) == sorted(k_evaluation)
    assert_close(history["sparse_categorical_accuracy"], k_history["sparse_categorical_accuracy"], rtol=1e-5)
    assert evaluation["sparse_categorical_accuracy"] == pytest.approx(k_evaluation["sparse_categorical_accuracy"])


def test_distilling_with_the_original_train_step_matches_keras(real_keras):
    (history, evaluation, before, after, student), (k_history, k_evaluation, _, k_after, k_student) = distill(
        real_keras, distiller_train_step)
    for key in ("student_loss", "loss"):
        assert_close(history[key], k_history[key], rtol=1e-4, atol=1e-6, what=key)
    # An untrained teacher's soft targets (T=10) are nearly the student's: the KL divergence is a difference of
    # nearly equal logs, where the two libraries' float32 rounding of the teacher's logits shows at ~5e-4.
    assert_close(history["distillation_loss"], k_history["distillation_loss"], rtol=3e-3)
    assert k_history["loss"] == [0.0, 0.0]  # the loss tracker, which this train_step never updates
    assert evaluation["student_loss"] == pytest.approx(k_evaluation["student_loss"], rel=1e-4)
    for got, expected in zip(student.get_weights(), k_student.get_weights()):
        assert_close(got, expected, rtol=1e-3, atol=WEIGHT_ATOL)
    for got, expected in zip(after, before):  # only the student's weights are updated
        assert_close(got, expected, rtol=0, atol=0)
    assert len(after) == len(k_after)


def test_the_original_distiller_logs_its_compiled_metric_as_in_keras(real_keras):
    (history, evaluation, *_), (k_history, k_evaluation, *_) = distill(real_keras, distiller_train_step, epochs=1)
    assert sorted(history) == sorted(k_history) == ["distillation_loss", "loss", "sparse_categorical_accuracy",
                                                    "student_loss"]
    assert sorted(evaluation) == sorted(k_evaluation) == ["loss", "sparse_categorical_accuracy", "student_loss"]
    assert_close(history["sparse_categorical_accuracy"], k_history["sparse_categorical_accuracy"], rtol=1e-5)



def test_the_original_distiller_without_call_is_refused_in_keras_3_too(real_keras):
    # The TF 2 listing defines no call(); Keras 3 cannot build such a model for fit() (a RuntimeError, "does not
    # have a call() method"), nor can layerwise (NotImplementedError): the Keras 3 edition adds call().
    ours, theirs = same_models(real_keras)
    x_train, y_train = mnist_like(8, 5)
    for (keras, layers, ops), (teacher, student, _) in zip(libraries(real_keras), (ours, theirs)):
        distiller = distiller_train_step(keras, layers, ops, with_call=False)(student=student, teacher=teacher)
        distiller.compile(optimizer=keras.optimizers.Adam(), metrics=[keras.metrics.SparseCategoricalAccuracy()],
                          student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          distillation_loss_fn=keras.losses.KLDivergence())
        with pytest.raises((RuntimeError, NotImplementedError), match="call"):
            distiller.fit(x_train, y_train, epochs=1, verbose=0)
