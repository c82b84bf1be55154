"""The tour's networks: shallow and deep dense networks, the course's CNN, an LSTM forecaster and a
character-level LSTM that writes text. Each trains, compares itself with a simple baseline and adds
its plots to the report."""
from __future__ import annotations

import numpy as np

from layerwise import recipes
from layerwise.cli.progress import say
from layerwise.cli.tour import Result, Tour
from layerwise.reports import plots, sections


def _standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mean, std = train.mean(0), train.std(0)
    std = np.where(std > 0, std, 1.0)
    return [((a - mean) / std).astype(np.float32) for a in (train, *others)]


def _logistic_baseline(x_train, y_train, x_test, y_test) -> float:
    from sklearn.linear_model import LogisticRegression
    model = LogisticRegression(max_iter=2000).fit(x_train.reshape(len(x_train), -1), y_train)
    return float(model.score(x_test.reshape(len(x_test), -1), y_test))


def _classifier(tour: Tour, name: str, model, data, epochs: int, batch_size: int, classes: list[str],
                images: bool = False) -> float:
    """Train ``model`` on ``data`` = (x_train, y_train, x_test, y_test); report curves and test scores."""
    x_train, y_train, x_test, y_test = data
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = tour.fit(model, x_train, y_train, epochs, batch_size, validation_data=(x_test, y_test))
    sections.history(tour.report, name, history)
    probs = model.predict(x_test, verbose=0)
    return sections.classifier(tour.report, name, probs, y_test, classes, x_test if images else None, "test")


def shallow_mlp(tour: Tour) -> Result:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(data.data, data.target, test_size=0.25,
                                                        stratify=data.target, random_state=tour.seed)
    x_train, x_test = _standardise(x_train, x_test)
    model = recipes.mlp((x_train.shape[1],), 2, "softmax", units=32)
    accuracy = _classifier(tour, "mlp", model, (x_train, y_train, x_test, y_test), tour.pick(40, 10), 32,
                           list(data.target_names))
    baseline = _logistic_baseline(x_train, y_train, x_test, y_test)
    return Result("shallow MLP (1x32)", "breast cancer", "test accuracy", accuracy, "logistic regression", baseline)


def deep_mlp(tour: Tour) -> Result:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = tour.pick(5000, 2500), tour.seed
    data = make_dataset(args)  # generated locally from the package's templates: no download
    x_train, x_test = _standardise(data["x"], data["x_test"])
    model = recipes.deep_mlp((x_train.shape[1],), 10, "softmax", units=(256, 128, 64), dropout=0.2)
    accuracy = _classifier(tour, "deep_mlp", model, (x_train, data["y"], x_test, data["y_test"]),
                           tour.pick(60, 12), 64, [str(k) for k in range(10)])
    baseline = _logistic_baseline(x_train, data["y"], x_test, data["y_test"])
    return Result("deep MLP (256-128-64)", "MNIST-1D", "test accuracy", accuracy, "logistic regression", baseline)


def course_cnn(tour: Tour) -> Result:
    from layerwise.datasets import digits

    (x_train, y_train), (x_test, y_test) = digits.load_data(upscale=2, seed=tour.seed)
    model = recipes.course_cnn(x_train.shape[1:], 10)
    accuracy = _classifier(tour, "cnn", model, (x_train, y_train, x_test, y_test), tour.pick(15, 5), 32,
                           [str(k) for k in range(10)], images=True)
    baseline = _logistic_baseline(x_train, y_train, x_test, y_test)
    return Result("course CNN", "digits 16x16", "test accuracy", accuracy, "logistic regression", baseline)


def sunspots() -> np.ndarray:
    """Yearly sunspot numbers 1700-2008, from the CSV file statsmodels ships."""
    import importlib.resources

    text = (importlib.resources.files("statsmodels.datasets.sunspots") / "sunspots.csv").read_text()
    return np.asarray([float(line.split(",")[1]) for line in text.splitlines()[1:] if line.strip()])


def lstm_forecaster(tour: Tour) -> Result:
    series = sunspots()
    window = 12
    mean, std = series[:int(len(series) * .8)].mean(), series[:int(len(series) * .8)].std()
    scaled = ((series - mean) / std).astype(np.float32)
    x = np.lib.stride_tricks.sliding_window_view(scaled, window)[:-1][..., None].copy()
    y = scaled[window:, None]
    cut = int(len(x) * .8)  # chronological: the test years come after the training years
    model = recipes.lstm((window, 1), 1, None, units=32)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    history = tour.fit(model, x[:cut], y[:cut], tour.pick(80, 10), 16, validation_data=(x[cut:], y[cut:]))
    sections.history(tour.report, "lstm", history)
    predicted = model.predict(x[cut:], verbose=0)[:, 0] * std + mean
    actual, persistence = series[window + cut:], series[window + cut - 1:-1]
    mae, baseline = float(np.mean(np.abs(predicted - actual))), float(np.mean(np.abs(persistence - actual)))
    tour.report.paragraph(f"One-year-ahead forecasts for {len(actual)} test years: mean absolute error "
                          f"{mae:.2f} sunspots; repeating last year's value gives {baseline:.2f}.")
    start = window + cut
    tour.report.figure("lstm_forecast", "One-step-ahead forecasts against the actual sunspot numbers (test years).",
                       lambda: plots.forecast(actual, predicted, start, series[start - 60:start]))
    return Result("LSTM forecaster (32)", "sunspots, yearly", "test MAE", mae, "last year's value", baseline,
                  higher_is_better=False)


def corpus(sentences: int, seed: int) -> str:
    """A small English-like text made from a grammar: free to ship, and learnable in a minute."""
    rng = np.random.default_rng(seed)
    subjects = ["the cat", "the old miller", "a little bird", "the king", "my sister", "a red fox", "the queen",
                "the baker", "a tired horse", "the children"]
    verbs = ["sat on", "looked at", "ran to", "sang to", "jumped over", "walked past", "found", "painted",
             "dreamed of", "waited by"]
    objects = ["the wall", "the moon", "a green hill", "the river", "the mill", "a red door", "the garden",
               "the old bridge", "a bowl of milk", "the tall tree"]
    endings = ["in the morning", "at night", "with a song", "and then it rained", "before supper",
               "all day long", "in the snow", "for a while"]
    pick = lambda words: words[rng.integers(len(words))]  # noqa: E731 - a local shorthand
    lines = [f"{pick(subjects)} {pick(verbs)} {pick(objects)} {pick(endings)}." for _ in range(sentences)]
    return "\n".join(line[0].upper() + line[1:] for line in lines) + "\n"


def char_lstm(tour: Tour) -> Result:
    from layerwise.cli.generate import sample_text
    from layerwise.optimizers import Adam

    text = corpus(tour.pick(1200, 400), tour.seed)
    window, vocab = 40, sorted(set(text))
    ids = np.asarray([vocab.index(c) for c in text], dtype=np.int64)
    starts = np.arange(0, len(ids) - window, 3)
    x, y = np.stack([ids[s:s + window] for s in starts]), ids[starts + window]
    cut = int(len(x) * .9)  # the last tenth of the text is held out
    model = recipes.lstm((window,), len(vocab), "softmax", units=64, vocab_size=len(vocab), embedding_dim=24)
    # A high learning rate: the grammar is learned in a few epochs instead of a dozen.
    model.compile(optimizer=Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = tour.fit(model, x[:cut], y[:cut], tour.pick(6, 3), 64, validation_data=(x[cut:], y[cut:]))
    sections.history(tour.report, "char_lstm", history)
    probs = model.predict(x[cut:], verbose=0)
    bits = float(-np.mean(np.log2(np.clip(probs[np.arange(len(probs)), y[cut:]], 1e-12, 1))))
    counts = np.bincount(y[:cut], minlength=len(vocab)) + 1.0
    unigram = float(-np.mean(np.log2((counts / counts.sum())[y[cut:]])))
    card = {"vocab": vocab, "window": window}
    prompt = text[:window]
    generated = sample_text(model, card, prompt, tour.pick(300, 120), 0.5, np.random.default_rng(tour.seed))
    tour.report.paragraph(f"{bits:.3f} bits per character on held-out text (character frequencies alone: "
                          f"{unigram:.3f}). Generated at temperature 0.5 from the first {window} characters:")
    tour.report.preformatted(generated)
    say("  sample: " + generated[window:window + 100].replace("\n", " / "), tour.quiet)
    return Result("char-level LSTM (64)", "generated corpus", "test bits/char", bits, "character frequencies",
                  unigram, higher_is_better=False)
