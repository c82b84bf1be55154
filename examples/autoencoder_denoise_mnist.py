"""A convolutional denoising autoencoder on MNIST, written the Keras way with layerwise models.

Needs ../shared/data/mnist/mnist.npz (or pass --data PATH to your own copy of Keras' mnist.npz).

    .venv/bin/python examples/autoencoder_denoise_mnist.py --train 10000 --epochs 3
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from layerwise.autoencoders import conv_autoencoder, corrupt

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _cli beside this file, however the example is loaded
from _cli import SHARED_DATA, at_least, positive_float, positive_int, read_data

TEST_IMAGES = 1000


def load_images(path: Path, train: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``train`` training images and 1,000 test images, float32 ``(n, 28, 28, 1)`` in [0, 1]."""
    with np.load(path) as data:
        return tuple((data[key][:count, ..., None] / 255.0).astype(np.float32)
                     for key, count in (("x_train", train), ("x_test", TEST_IMAGES)))


def psnr(clean: np.ndarray, other: np.ndarray) -> float:
    """Mean peak signal-to-noise ratio in dB of images in [0, 1], ``(n, 28, 28, 1)`` each."""
    return float(np.mean(10 * np.log10(1 / np.mean((clean - other).reshape(len(clean), -1) ** 2, axis=1))))


def main(argv: list[str] | None = None) -> None:
    """Train the autoencoder on noisy copies of the clean images; print the test PSNR before and after denoising."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(SHARED_DATA / "mnist" / "mnist.npz"))
    # fit holds out 10%: ten images leave one to validate on.
    parser.add_argument("--train", type=at_least(10), default=10000, help="training images used (of 60,000)")
    parser.add_argument("--epochs", type=positive_int, default=3)
    parser.add_argument("--noise", type=positive_float, default=0.4, help="Gaussian noise standard deviation")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    x_train, x_test = read_data(parser, lambda path: load_images(path, args.train), args.data,
                                "MNIST (Keras' mnist.npz)")

    # Three models, one set of layers: the GaussianNoise layer sits in front of the encoder inside the
    # autoencoder only and is active only while training, so the targets are the clean images.
    encoder, decoder, autoencoder = conv_autoencoder((28, 28, 1), code_size=32, filters=(16, 32),
                                                     output_activation="sigmoid", noise="gaussian",
                                                     noise_level=args.noise)
    autoencoder.summary()
    autoencoder.compile(optimizer="adam", loss="mse")
    autoencoder.fit(x_train, x_train, epochs=args.epochs, batch_size=128, validation_split=0.1, verbose=2)

    noisy = corrupt(x_test, "gaussian", args.noise, random_state=0).astype(np.float32)
    denoised = decoder.predict(encoder.predict(noisy, verbose=0), verbose=0)  # same as autoencoder.predict
    print(f"PSNR of the noisy test images: {psnr(x_test, noisy):.2f} dB; "
          f"after denoising: {psnr(x_test, denoised):.2f} dB")


if __name__ == "__main__":
    main()
