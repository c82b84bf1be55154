"""The keras-io English-to-Spanish Transformer listing for tests/guides/test_example_nmt_transformer.py: its sizes
(shrunk), ``custom_standardization``, the synthetic parallel corpus that stands in for the Anki file with the
listing's split, vectorizers and ``format_dataset``, and its three custom layers written against ``keras``,
``layers`` and ``ops`` (see that test file's docstring)."""
from __future__ import annotations

import random
import re
import string

import numpy as np

import layerwise

strip_chars = string.punctuation + "¿"
strip_chars = strip_chars.replace("[", "")
strip_chars = strip_chars.replace("]", "")

vocab_size = 48  # the example: 15000
sequence_length = 8  # the example: 20
batch_size = 8  # the example: 64
embed_dim = 16  # the example: 256
latent_dim = 32  # the example: 2048
num_heads = 2  # the example: 8
max_decoded_sentence_length = sequence_length  # the example: 20, its sequence_length


def custom_standardization(input_string):
    lowercase = input_string.lower()
    return re.sub("[%s]" % re.escape(strip_chars), "", lowercase)


# ---- the corpus ----------------------------------------------------------------------------------------------------
ENGLISH_TO_SPANISH = {
    "i": "yo", "you": "tú", "he": "él", "she": "ella", "we": "nosotros", "they": "ellos", "see": "veo",
    "want": "quiero", "have": "tengo", "like": "gusta", "read": "leo", "eat": "como", "drink": "bebo",
    "write": "escribo", "buy": "compro", "sell": "vendo", "open": "abro", "close": "cierro", "find": "encuentro",
    "the": "el", "a": "un", "my": "mi", "your": "tu", "this": "este", "that": "ese", "cat": "gato",
    "dog": "perro", "house": "casa", "book": "libro", "car": "coche", "bread": "pan", "water": "agua",
    "wine": "vino", "letter": "carta", "door": "puerta", "window": "ventana", "city": "ciudad", "friend": "amigo",
    "teacher": "maestro", "red": "rojo", "big": "grande", "small": "pequeño", "old": "viejo", "new": "nuevo",
    "good": "bueno", "bad": "malo", "white": "blanco", "black": "negro", "today": "hoy", "now": "ahora",
    "here": "aquí", "there": "allí", "very": "muy", "and": "y", "not": "no", "always": "siempre",
    "never": "nunca", "tomorrow": "mañana", "yesterday": "ayer", "also": "también",
}
ENGLISH_WORDS = sorted(ENGLISH_TO_SPANISH)


def sentence_pair(rng, words):
    """An English sentence of ``words`` words and its word-for-word Spanish translation, punctuated as Anki's
    pairs are: a capital, then a full stop, or a question mark (with "¿" in Spanish)."""
    eng = [str(w) for w in rng.choice(ENGLISH_WORDS, words)]
    spa = [ENGLISH_TO_SPANISH[w] for w in eng]
    if rng.random() < 0.3:
        return " ".join(eng).capitalize() + "?", "¿" + " ".join(spa).capitalize() + "?"
    return " ".join(eng).capitalize() + ".", " ".join(spa).capitalize() + "."


def text_pairs_like_the_listing(count, seed=0, words=(2, 7)):
    """The listing's ``text_pairs``: (English, "[start] " + Spanish + " [end]")."""
    rng = np.random.default_rng(seed)
    text_pairs = []
    for _ in range(count):
        eng, spa = sentence_pair(rng, int(rng.integers(*words)))
        spa = "[start] " + spa + " [end]"
        text_pairs.append((eng, spa))
    return text_pairs


def split_like_the_listing(text_pairs):
    random.Random(0).shuffle(text_pairs)
    num_val_samples = int(0.15 * len(text_pairs))
    num_train_samples = len(text_pairs) - 2 * num_val_samples
    train_pairs = text_pairs[:num_train_samples]
    val_pairs = text_pairs[num_train_samples: num_train_samples + num_val_samples]
    test_pairs = text_pairs[num_train_samples + num_val_samples:]
    return train_pairs, val_pairs, test_pairs


def vectorizers(train_pairs):
    TextVectorization = layerwise.layers.TextVectorization
    eng_vectorization = TextVectorization(max_tokens=vocab_size, output_mode="int",
                                          output_sequence_length=sequence_length)
    spa_vectorization = TextVectorization(max_tokens=vocab_size, output_mode="int",
                                          output_sequence_length=sequence_length + 1,
                                          standardize=custom_standardization)
    train_eng_texts = [pair[0] for pair in train_pairs]
    train_spa_texts = [pair[1] for pair in train_pairs]
    eng_vectorization.adapt(train_eng_texts)
    spa_vectorization.adapt(train_spa_texts)
    return eng_vectorization, spa_vectorization


def make_dataset(pairs, eng_vectorization, spa_vectorization):
    """The listing's ``format_dataset`` on the whole split at once (its tf_data pipeline only batches and shuffles)."""
    eng_texts, spa_texts = zip(*pairs)
    eng = eng_vectorization(list(eng_texts))
    spa = spa_vectorization(list(spa_texts))
    return {"encoder_inputs": eng, "decoder_inputs": spa[:, :-1]}, spa[:, 1:]


def corpus(count=48, seed=0, words=(2, 7)):
    train_pairs, val_pairs, test_pairs = split_like_the_listing(text_pairs_like_the_listing(count, seed, words))
    eng_vectorization, spa_vectorization = vectorizers(train_pairs)
    train = make_dataset(train_pairs, eng_vectorization, spa_vectorization)
    val = make_dataset(val_pairs, eng_vectorization, spa_vectorization)
    return (train_pairs, val_pairs, test_pairs), (eng_vectorization, spa_vectorization), train, val


# ---- the listing's layers and model --------------------------------------------------------------------------------
def transformer_layers(keras, layers, ops):
    class TransformerEncoder(layers.Layer):
        def __init__(self, embed_dim, dense_dim, num_heads, **kwargs):
            super().__init__(**kwargs)
            self.embed_dim = embed_dim
            self.dense_dim = dense_dim
            self.num_heads = num_heads
            self.attention = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.dense_proj = keras.Sequential(
                [
                    layers.Dense(dense_dim, activation="relu"),
                    layers.Dense(embed_dim),
                ]
            )
            self.layernorm_1 = layers.LayerNormalization()
            self.layernorm_2 = layers.LayerNormalization()
            self.supports_masking = True

        def call(self, inputs, mask=None):
            if mask is not None:
                padding_mask = ops.cast(mask[:, None, :], dtype="int32")
            else:
                padding_mask = None

            attention_output = self.attention(query=inputs, value=inputs, key=inputs, attention_mask=padding_mask)
            proj_input = self.layernorm_1(inputs + attention_output)
            proj_output = self.dense_proj(proj_input)
            return self.layernorm_2(proj_input + proj_output)

        def get_config(self):
            config = super().get_config()
            config.update(
                {
                    "embed_dim": self.embed_dim,
                    "dense_dim": self.dense_dim,
                    "num_heads": self.num_heads,
                }
            )
            return config

    class PositionalEmbedding(layers.Layer):
        def __init__(self, sequence_length, vocab_size, embed_dim, **kwargs):
            super().__init__(**kwargs)
            self.token_embeddings = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
            self.position_embeddings = layers.Embedding(input_dim=sequence_length, output_dim=embed_dim)
            self.sequence_length = sequence_length
            self.vocab_size = vocab_size
            self.embed_dim = embed_dim

        def call(self, inputs):
            length = ops.shape(inputs)[-1]
            positions = ops.arange(0, length, 1)
            embedded_tokens = self.token_embeddings(inputs)
            embedded_positions = self.position_embeddings(positions)
            return embedded_tokens + embedded_positions

        def compute_mask(self, inputs, mask=None):
            return ops.not_equal(inputs, 0)

        def get_config(self):
            config = super().get_config()
            config.update(
                {
                    "sequence_length": self.sequence_length,
                    "vocab_size": self.vocab_size,
                    "embed_dim": self.embed_dim,
                }
            )
            return config

    class TransformerDecoder(layers.Layer):
        def __init__(self, embed_dim, latent_dim, num_heads, **kwargs):
            super().__init__(**kwargs)
            self.embed_dim = embed_dim
            self.latent_dim = latent_dim
            self.num_heads = num_heads
            self.attention_1 = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.attention_2 = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.dense_proj = keras.Sequential(
                [
                    layers.Dense(latent_dim, activation="relu"),
                    layers.Dense(embed_dim),
                ]
            )
            self.layernorm_1 = layers.LayerNormalization()
            self.layernorm_2 = layers.LayerNormalization()
            self.layernorm_3 = layers.LayerNormalization()
            self.supports_masking = True

        def call(self, inputs, mask=None):
            inputs, encoder_outputs = inputs
            causal_mask = self.get_causal_attention_mask(inputs)

            if mask is None:
                inputs_padding_mask, encoder_outputs_padding_mask = None, None
            else:
                inputs_padding_mask, encoder_outputs_padding_mask = mask

            attention_output_1 = self.attention_1(
                query=inputs,
                value=inputs,
                key=inputs,
                attention_mask=causal_mask,
                query_mask=inputs_padding_mask,
            )
            out_1 = self.layernorm_1(inputs + attention_output_1)

            attention_output_2 = self.attention_2(
                query=out_1,
                value=encoder_outputs,
                key=encoder_outputs,
                query_mask=inputs_padding_mask,
                key_mask=encoder_outputs_padding_mask,
            )
            out_2 = self.layernorm_2(out_1 + attention_output_2)

            proj_output = self.dense_proj(out_2)
            return self.layernorm_3(out_2 + proj_output)

        def get_causal_attention_mask(self, inputs):
            input_shape = ops.shape(inputs)
            batch_size, sequence_length = input_shape[0], input_shape[1]
            i = ops.arange(sequence_length)[:, None]
            j = ops.arange(sequence_length)
            mask = ops.cast(i >= j, dtype="int32")
            mask = ops.reshape(mask, (1, input_shape[1], input_shape[1]))
            mult = ops.concatenate(
                [ops.expand_dims(batch_size, -1), ops.convert_to_tensor([1, 1])],
                axis=0,
            )
            return ops.tile(mask, mult)

        def get_config(self):
            config = super().get_config()
            config.update(
                {
                    "embed_dim": self.embed_dim,
                    "latent_dim": self.latent_dim,
                    "num_heads": self.num_heads,
                }
            )
            return config

    return TransformerEncoder, PositionalEmbedding, TransformerDecoder
