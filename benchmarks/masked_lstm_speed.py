"""Speed of a masked text classifier: Embedding(mask_zero=True) -> LSTM(64) -> Dense(2) over padded token ids.

    python benchmarks/masked_lstm_speed.py --all                             # every contender, side by side
    python benchmarks/masked_lstm_speed.py --contender pytorch-packed --json # one contender

4,096 sequences of 10 to 100 tokens (vocabulary 1,000), right-padded with 0 to 100, embedded in 32 dimensions;
sparse categorical cross-entropy, Adam(1e-3), batch 64. The PyTorch baseline is the idiomatic one: an Embedding
with padding_idx=0 and ``pack_padded_sequence``, the LSTM's final state into a Linear.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

import speed_common

STEPS, VOCABULARY, EMBED, UNITS, BATCH, SEQUENCES = 100, 1000, 32, 64, 64, 4096


def make_data() -> tuple[np.ndarray, np.ndarray]:
    """Padded ids (right-padded with 0) and binary labels, the same in every process."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(10, STEPS + 1, SEQUENCES)
    ids = np.zeros((SEQUENCES, STEPS), dtype=np.int64)
    for row, length in enumerate(lengths):
        ids[row, :length] = rng.integers(1, VOCABULARY, length)
    return ids, rng.integers(0, 2, SEQUENCES)


def bench_pytorch_packed(threads: int, repeats: int) -> dict:
    speed_common.setup_torch(threads)
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence

    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(VOCABULARY, EMBED, padding_idx=0)
            self.lstm = nn.LSTM(EMBED, UNITS, batch_first=True)
            self.head = nn.Linear(UNITS, 2)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            lengths = (ids != 0).sum(1).cpu()
            packed = pack_padded_sequence(self.embed(ids), lengths, batch_first=True, enforce_sorted=False)
            _, (h, _) = self.lstm(packed)
            return self.head(h[-1])

    ids_np, y_np = make_data()
    ids, y = torch.from_numpy(ids_np), torch.from_numpy(y_np)
    model = Classifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def train_epoch() -> None:
        model.train()
        order = torch.randperm(len(ids))
        for start in range(0, len(ids), BATCH):
            batch = order[start:start + BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(ids[batch]), y[batch]).backward()
            optimizer.step()

    @torch.inference_mode()
    def predict() -> np.ndarray:
        model.eval()
        return torch.cat([model(ids[s:s + BATCH]).softmax(-1) for s in range(0, len(ids), BATCH)]).numpy()

    train = speed_common.median_seconds(train_epoch, repeats)
    predict_all = speed_common.median_seconds(predict, repeats)
    return speed_common.throughput_record(SEQUENCES, train, predict_all, sum(p.numel() for p in model.parameters()))


def bench_keras_api(contender: str, threads: int, repeats: int) -> dict:
    """The same Keras code on layerwise or on Keras 3 (``speed_common.keras_api``)."""
    keras = speed_common.keras_api(contender, threads)
    L = keras.layers
    ids, y = make_data()
    model = keras.Sequential([keras.Input((STEPS,), dtype="int64"), L.Embedding(VOCABULARY, EMBED, mask_zero=True),
                              L.LSTM(UNITS), L.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    train = speed_common.median_seconds(lambda: model.fit(ids, y, batch_size=BATCH, epochs=1, verbose=0), repeats)
    predict = speed_common.median_seconds(lambda: model.predict(ids, batch_size=BATCH, verbose=0), repeats)
    return speed_common.throughput_record(SEQUENCES, train, predict, model.count_params())


CONTENDERS = {"pytorch-packed": bench_pytorch_packed,
              **{name: functools.partial(bench_keras_api, name) for name in ("keras-torch", "keras-tf", "layerwise")}}
COLUMNS = [("train_per_s", "train seq/s", ".0f"), ("predict_per_s", "predict seq/s", ".0f"), ("params", "params", ",")]

if __name__ == "__main__":
    speed_common.main(f"Masked LSTM speed (Embedding(mask_zero) -> LSTM({UNITS}), up to {STEPS} tokens, batch {BATCH})",
                      Path(__file__).resolve(), CONTENDERS, COLUMNS)
