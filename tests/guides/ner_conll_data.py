"""The data side of the keras-io NER listing for tests/guides/test_example_ner_transformers.py: the listing's
``export_to_file`` and the CoNLL-like random sentences that stand in for CoNLL 2003, read back and padded as the
listing's ``tf.data`` pipeline does (see that test file's docstring)."""
from __future__ import annotations

from collections import Counter

import numpy as np

import layerwise

vocab_size = 40  # the example: 20000
batch_size = 8  # the example: 32


def export_to_file(export_file_path, data):
    with open(export_file_path, "w") as f:
        for record in data:
            ner_tags = record["ner_tags"]
            tokens = record["tokens"]
            if len(tokens) > 0:
                f.write(str(len(tokens)) + "\t" + "\t".join(tokens) + "\t" + "\t".join(map(str, ner_tags)) + "\n")


# ---- CoNLL-like data -----------------------------------------------------------------------------------------------
# CoNLL 2003's tag ids, as HuggingFace gives them: O 0, B-PER 1, I-PER 2, B-ORG 3, I-ORG 4, B-LOC 5, I-LOC 6,
# B-MISC 7, I-MISC 8.
ENTITIES = {
    1: ["John Smith", "Mary", "Peter Blackburn", "Werner Zwingmann", "Fischler", "Anna Lee"],
    3: ["EU", "Reuters", "European Commission", "Bank of England", "FIFA", "UN"],
    5: ["Germany", "London", "Brussels", "New York", "France", "Britain"],
    7: ["German", "British", "French", "European", "Spanish", "Olympic"],
}
OTHER_WORDS = ("rejects call to boycott lamb said the on a of in and for was will visit meet from sheep told "
               "farmers beef ban Tuesday officials week market prices new talks").split()


class ConllSplit(list):
    """The two ways the listing reads a HuggingFace split: ``for record in split`` and ``split["tokens"]``."""

    def __getitem__(self, key):
        return [record[key] for record in self] if isinstance(key, str) else super().__getitem__(key)


def conll_like_split(rng, count):
    records = []
    for _ in range(count):
        tokens, tags = [], []
        for _ in range(rng.integers(2, 6)):
            if rng.random() < 0.4:
                kind = int(rng.choice(list(ENTITIES)))
                words = str(rng.choice(ENTITIES[kind])).split()
                tokens += words
                tags += [kind] + [kind + 1] * (len(words) - 1)
            else:
                tokens.append(str(rng.choice(OTHER_WORDS)))
                tags.append(0)
        records.append({"tokens": tokens, "ner_tags": tags})
    return ConllSplit(records)


def conll_data_like(train=48, validation=16, seed=0):
    rng = np.random.default_rng(seed)
    return {"train": conll_like_split(rng, train), "validation": conll_like_split(rng, validation)}


def lookup_layer_for(conll_data):
    all_tokens = sum(conll_data["train"]["tokens"], [])
    all_tokens_array = np.array(list(map(str.lower, all_tokens)))
    counter = Counter(all_tokens_array)
    # We only take (vocab_size - 2) most commons words from the training data since the `StringLookup` class uses 2
    # additional tokens - one denoting an unknown token and another one denoting a masking token
    vocabulary = [token for token, count in counter.most_common(vocab_size - 2)]
    return layerwise.layers.StringLookup(vocabulary=vocabulary), vocabulary


def map_record_to_training_data(record):
    """The listing's map over a TextLineDataset line, on a Python string (it uses tf_strings)."""
    record = record.rstrip("\n").split("\t")
    length = int(record[0])
    tokens = record[1: length + 1]
    tags = record[length + 1:]
    tags = np.array([int(tag) for tag in tags], dtype="int64")
    tags += 1
    return tokens, tags


def records_from_file(path, lookup_layer):
    def lowercase_and_convert_to_ids(tokens):
        tokens = [token.lower() for token in tokens]
        return lookup_layer(tokens)

    with open(path) as f:
        return [(lowercase_and_convert_to_ids(x), y) for x, y in map(map_record_to_training_data, f)]


def pad(rows, length=None):
    length = length or max(len(row) for row in rows)
    out = np.zeros((len(rows), length), dtype="int64")
    for i, row in enumerate(rows):
        out[i, :len(row)] = row
    return out


def padded_dataset(keras, batches):
    """The padded batches as the library's ``PyDataset`` (the listing's tf_data dataset), for ``fit``."""

    class PaddedBatches(keras.utils.PyDataset):
        def __len__(self):
            return len(batches)

        def __getitem__(self, index):
            return batches[index]

    return PaddedBatches()


def padded_batches(records):
    """``padded_batch(batch_size)``: each batch padded with zeros to its own longest sentence."""
    return [(pad([x for x, _ in records[i:i + batch_size]]), pad([y for _, y in records[i:i + batch_size]]))
            for i in range(0, len(records), batch_size)]


def prepared(tmp_path, seed=0, train=48, validation=16):
    """The listing's files written and read back: the lookup layer, and the train and validation records."""
    conll_data = conll_data_like(train, validation, seed)
    export_to_file(tmp_path / "conll_train.txt", conll_data["train"])
    export_to_file(tmp_path / "conll_val.txt", conll_data["validation"])
    lookup_layer, vocabulary = lookup_layer_for(conll_data)
    train_records = records_from_file(tmp_path / "conll_train.txt", lookup_layer)
    val_records = records_from_file(tmp_path / "conll_val.txt", lookup_layer)
    return conll_data, lookup_layer, vocabulary, train_records, val_records


def one_length(records, length=16):
    """All records padded to one length: the arrays ``fit`` takes."""
    return pad([x for x, _ in records], length), pad([y for _, y in records], length)
