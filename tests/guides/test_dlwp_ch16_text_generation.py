"""François Chollet, "Deep Learning with Python", 3rd edition, chapter 16 "Text generation" (notebook
chapter16_text-generation.ipynb in fchollet/deep-learning-with-python-notebooks), run with ``import layerwise as
keras`` and compared with Keras 3 (torch backend): the mini-GPT written from scratch (the ``TransformerDecoder`` and
the ``PositionalEmbedding`` layer called again with ``reverse=True`` to project back onto the vocabulary), under the
``mixed_float16`` policy too, the ``WarmupSchedule`` learning-rate schedule, pretraining with ``steps_per_epoch``
and ``validation_steps`` on endless batches, greedy decoding by calling the model and by ``predict``, and the
sampling strategies (greedy, random with a temperature, top-k).

Nothing is downloaded: random token ids stand in for mini-C4, and a character tokenizer with ``detokenize`` for the
KerasHub SentencePiece tokenizer; the sizes shrink (the book: 512 units, 8 layers, 256 tokens). The Gemma sections
(KerasHub, pretrained weights) are skipped. Dropout is 0 where numbers are compared, and random sampling is checked
by its distribution: each library draws from its own generator (README)."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from dlwp_helpers import fresh
from guide_helpers import as_numpy, assert_close, libraries, summary_rows

sequence_length = 16  # the book: 256
CHARACTERS = " abcdefghijklmnopqrstuvwxyz.,"


class CharTokenizer:
    """Stands in for the book's SentencePiece tokenizer: one id per character, id 0 unused (padding)."""

    def __call__(self, text: str) -> np.ndarray:
        return np.array([CHARACTERS.index(c) + 1 for c in text], dtype="int32")

    def detokenize(self, ids) -> str:
        return "".join(CHARACTERS[i - 1] if i > 0 else "_" for i in ids)

    def vocabulary_size(self) -> int:
        return len(CHARACTERS) + 1


tokenizer = CharTokenizer()


def gpt_layers(keras, layers, ops, rate=0.1):
    class TransformerDecoder(keras.Layer):
        def __init__(self, hidden_dim, intermediate_dim, num_heads):
            super().__init__()
            key_dim = hidden_dim // num_heads
            self.self_attention = layers.MultiHeadAttention(num_heads, key_dim, dropout=rate)
            self.self_attention_layernorm = layers.LayerNormalization()
            self.feed_forward_1 = layers.Dense(intermediate_dim, activation="relu")
            self.feed_forward_2 = layers.Dense(hidden_dim)
            self.feed_forward_layernorm = layers.LayerNormalization()
            self.dropout = layers.Dropout(rate)

        def call(self, inputs):
            residual = x = inputs
            x = self.self_attention(query=x, key=x, value=x, use_causal_mask=True)
            x = self.dropout(x)
            x = x + residual
            x = self.self_attention_layernorm(x)
            residual = x
            x = self.feed_forward_1(x)
            x = self.feed_forward_2(x)
            x = self.dropout(x)
            x = x + residual
            x = self.feed_forward_layernorm(x)
            return x

    class PositionalEmbedding(keras.Layer):
        def __init__(self, sequence_length, input_dim, output_dim):
            super().__init__()
            self.token_embeddings = layers.Embedding(input_dim, output_dim)
            self.position_embeddings = layers.Embedding(sequence_length, output_dim)

        def call(self, inputs, reverse=False):
            if reverse:
                token_embeddings = self.token_embeddings.embeddings
                return ops.matmul(inputs, ops.transpose(token_embeddings))
            positions = ops.cumsum(ops.ones_like(inputs), axis=-1) - 1
            embedded_tokens = self.token_embeddings(inputs)
            embedded_positions = self.position_embeddings(positions)
            return embedded_tokens + embedded_positions

    return TransformerDecoder, PositionalEmbedding


def mini_gpt_model(keras, layers, ops, rate=0.1, policy=None):
    """The book's mini-GPT (hidden_dim 16, 2 layers), under ``policy`` when given (the book: mixed_float16)."""
    fresh(keras)
    TransformerDecoder, PositionalEmbedding = gpt_layers(keras, layers, ops, rate)
    if policy:
        keras.config.set_dtype_policy(policy)
    try:
        vocab_size = tokenizer.vocabulary_size()
        hidden_dim, intermediate_dim, num_heads, num_layers = 16, 32, 2, 2  # the book: 512, 2056, 8, 8
        inputs = keras.Input(shape=(None,), dtype="int32", name="inputs")
        embedding = PositionalEmbedding(sequence_length, vocab_size, hidden_dim)
        x = embedding(inputs)
        x = layers.LayerNormalization()(x)
        for i in range(num_layers):
            x = TransformerDecoder(hidden_dim, intermediate_dim, num_heads)(x)
        outputs = embedding(x, reverse=True)
        return keras.Model(inputs, outputs)
    finally:
        keras.config.set_dtype_policy("float32")


def same_start(real_keras, **options) -> list:
    real_keras.utils.set_random_seed(3)
    models = [mini_gpt_model(*lib, **options) for lib in libraries(real_keras)]
    models[0].set_weights(models[1].get_weights())
    return models


def token_ids(n: int, seed: int, length: int = sequence_length) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, tokenizer.vocabulary_size(), (n, length)).astype("int32")


@pytest.mark.parametrize("policy", [None, "mixed_float16"])
def test_mini_gpt_summary_and_logits_match_keras(real_keras, policy):
    # The embedding is called twice; its row shows its last call's output, the logits over the vocabulary.
    models = same_start(real_keras, rate=0.0, policy=policy)
    rows = [summary_rows(model) for model in models]
    assert rows[0] == rows[1]
    assert rows[0][1][1] == f"(None, None, {tokenizer.vocabulary_size()})"
    x = token_ids(4, 0)
    ours, theirs = (as_numpy(model(x)) for model in models)
    assert ours.dtype == theirs.dtype == ("float16" if policy else "float32")
    assert ours.shape == theirs.shape == (4, sequence_length, tokenizer.vocabulary_size())
    tolerance = {"rtol": 1e-2, "atol": 1e-2} if policy else {"rtol": 1e-5, "atol": 1e-5}
    assert_close(ours.astype("float32"), theirs, **tolerance)


def warmup_schedule(keras, ops):
    class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
        def __init__(self):
            self.rate = 2e-4
            self.warmup_steps = 1_000.0

        def __call__(self, step):
            step = ops.cast(step, dtype="float32")
            scale = ops.minimum(step / self.warmup_steps, 1.0)
            return self.rate * scale

    return WarmupSchedule


def test_warmup_schedule_matches_keras(real_keras):
    curves = []
    for keras, _, ops in libraries(real_keras):
        schedule = warmup_schedule(keras, ops)()
        x = range(0, 5_000, 100)
        curves.append([ops.convert_to_numpy(schedule(step)) for step in x])
    assert_close(curves[0], curves[1], rtol=1e-6, atol=0)
    assert curves[0][5] == pytest.approx(1e-4) and curves[0][-1] == pytest.approx(2e-4)


def endless_batches(seed: int):
    """Stands in for the book's ``ds.repeat()``: (inputs, next tokens) batches of 4, over and over."""
    tokens = token_ids(12, seed, sequence_length + 1).reshape(3, 4, sequence_length + 1)
    while True:
        for batch in tokens:
            yield batch[:, :-1], batch[:, 1:]


@pytest.mark.filterwarnings("ignore:`shuffle=True` was passed, but will be ignored:UserWarning")
def test_pretraining_with_the_warmup_schedule_matches_keras(real_keras):
    models = same_start(real_keras, rate=0.0)
    histories, rates = [], []
    for mini_gpt, (keras, _, ops) in zip(models, libraries(real_keras)):
        schedule = warmup_schedule(keras, ops)()
        schedule.rate, schedule.warmup_steps = 1e-2, 4.0  # a warm-up that ends within these few steps
        mini_gpt.compile(
            optimizer=keras.optimizers.Adam(schedule),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        histories.append(mini_gpt.fit(endless_batches(0), validation_data=endless_batches(1), epochs=2,
                                      steps_per_epoch=3, validation_steps=2, verbose=0).history)
        rates.append(float(mini_gpt.optimizer.learning_rate))
    assert sorted(histories[0]) == sorted(histories[1]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key in histories[1]:
        assert_close(histories[0][key], histories[1][key], rtol=1e-4, atol=1e-6, what=key)
    assert rates[0] == pytest.approx(rates[1]) == pytest.approx(1e-2)
    for ours, theirs in zip(*(model.get_weights() for model in models)):
        assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def decoders(keras, ops, mini_gpt):
    """The book's ``generate`` (calls the model on the growing prompt) and ``compiled_generate`` (``predict`` on a
    fixed length, with a sampling function)."""
    def generate(prompt, max_length=12):
        tokens = list(ops.convert_to_numpy(tokenizer(prompt)))
        prompt_length = len(tokens)
        for _ in range(max_length - prompt_length):
            prediction = mini_gpt(ops.convert_to_numpy([tokens]))
            prediction = ops.convert_to_numpy(prediction[0, -1])
            tokens.append(np.argmax(prediction).item())
        return tokenizer.detokenize(tokens)

    def compiled_generate(prompt, sample_fn, max_length=12):
        tokens = list(ops.convert_to_numpy(tokenizer(prompt)))
        prompt_length = len(tokens)
        tokens = tokens + [0] * (max_length - prompt_length)
        for i in range(prompt_length, max_length):
            prediction = mini_gpt.predict(np.array([tokens]), verbose=0)
            prediction = prediction[0, i - 1]
            next_token = ops.convert_to_numpy(sample_fn(prediction))
            tokens[i] = np.array(next_token).item()
        return tokenizer.detokenize(tokens)

    return generate, compiled_generate


def sampling_functions(keras, ops):
    def greedy_search(preds):
        return ops.argmax(preds)

    def random_sample(preds, temperature=1.0):
        preds = preds / temperature
        return keras.random.categorical(preds[None, :], num_samples=1)[0]

    def top_k(preds, k=5, temperature=1.0):
        preds = preds / temperature
        top_preds, top_indices = ops.top_k(preds, k=k, sorted=False)
        choice = keras.random.categorical(top_preds[None, :], num_samples=1)[0]
        return ops.take_along_axis(top_indices, choice, axis=-1)

    return greedy_search, random_sample, top_k


def test_greedy_decoding_matches_keras(real_keras):
    models = same_start(real_keras, rate=0.0)
    prompt = "a piece of"
    texts = []
    for mini_gpt, (keras, _, ops) in zip(models, libraries(real_keras)):
        generate, compiled_generate = decoders(keras, ops, mini_gpt)
        greedy_search, _, _ = sampling_functions(keras, ops)
        texts.append((generate(prompt), compiled_generate(prompt, greedy_search)))
    assert texts[0] == texts[1]
    called, predicted = texts[0]
    # causal attention: the zeros after the current step do not change what predict reads at it
    assert called == predicted and called.startswith(prompt) and len(called) == 12


def draw_frequencies(sample, preds, draws: int = 3000) -> np.ndarray:
    counts = np.bincount([int(np.asarray(sample(preds)).item()) for _ in range(draws)], minlength=preds.shape[0])
    return counts / draws


def softmax(values: np.ndarray) -> np.ndarray:
    e = np.exp(values - values.max())
    return e / e.sum()


@pytest.mark.parametrize("strategy", ["random", "random_hot", "top_k", "top_k_cold"])
def test_sampling_strategies_draw_as_keras(real_keras, strategy):
    preds_np = np.array([2.0, 1.0, 0.5, 0.0, -1.0, 1.5, -0.5], dtype="float32")
    expected_by_strategy = {
        "random": softmax(preds_np), "random_hot": softmax(preds_np / 2.0),
        "top_k": softmax(np.where(preds_np >= 0.5, preds_np, -np.inf)),
        "top_k_cold": softmax(np.where(preds_np >= 0.5, preds_np / 0.5, -np.inf)),
    }
    results = []
    for keras, _, ops in libraries(real_keras):
        keras.utils.set_random_seed(4)
        greedy_search, random_sample, top_k = sampling_functions(keras, ops)
        sample = {"random": random_sample, "random_hot": partial(random_sample, temperature=2.0),
                  "top_k": partial(top_k, k=4), "top_k_cold": partial(top_k, k=4, temperature=0.5)}[strategy]
        preds = ops.convert_to_tensor(preds_np)
        one = sample(preds)
        results.append((tuple(one.shape), str(one.dtype), int(greedy_search(preds)),
                        draw_frequencies(sample, preds)))
    (shape, dtype, greedy, frequencies), (k_shape, k_dtype, k_greedy, k_frequencies) = results
    assert (shape, dtype, greedy) == (k_shape, k_dtype, k_greedy) == (k_shape, k_dtype, 0)
    # 3000 draws: each frequency within about four standard deviations (<= 0.037) of its probability
    assert_close(frequencies, expected_by_strategy[strategy], rtol=0, atol=0.04)
    assert_close(k_frequencies, expected_by_strategy[strategy], rtol=0, atol=0.04)
    if strategy.startswith("top_k"):
        assert frequencies[preds_np < 0.5].sum() == 0
