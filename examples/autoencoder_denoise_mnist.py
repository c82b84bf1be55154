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
from _cli import SHARED_DATA, positive_int, read_data

parser = argparse.ArgumentParser()
parser.add_argument("--data", default=str(SHARED_DATA / "mnist" / "mnist.npz"))
parser.add_argument("--train", type=positive_int, default=10000, help="training images used (of 60,000)")
parser.add_argument("--epochs", type=positive_int, default=3)
parser.add_argument("--noise", type=float, default=0.4, help="Gaussian noise standard deviation")
args = parser.parse_args()
torch.set_num_threads(1)



def load_images(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The first ``--train`` training images and 1,000 test images, float32 ``(n, 28, 28, 1)`` in [0, 1]."""
    with np.load(path) as data:
        return tuple((data[key][:count, ..., None] / 255.0).astype(np.float32)
                     for key, count in (("x_train", args.train), ("x_test", 1000)))


x_train, x_test = read_data(parser, load_images, args.data, "MNIST (Keras' mnist.npz)")

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


def psnr(clean, other):
    return float(np.mean(10 * np.log10(1 / np.mean((clean - other).reshape(len(clean), -1) ** 2, axis=1))))


print(f"PSNR of the noisy test images: {psnr(x_test, noisy):.2f} dB; after denoising: {psnr(x_test, denoised):.2f} dB")
