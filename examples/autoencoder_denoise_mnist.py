"""A convolutional denoising autoencoder on MNIST, written the Keras way with layerwise models.

Needs ../shared/data/mnist/mnist.npz (or pass --data PATH to your own copy of Keras' mnist.npz).

    .venv/bin/python examples/autoencoder_denoise_mnist.py --train 10000 --epochs 3
"""
import argparse
from pathlib import Path

import numpy as np
import torch

from layerwise.autoencoders import conv_autoencoder, corrupt

parser = argparse.ArgumentParser()
parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/mnist/mnist.npz"))
parser.add_argument("--train", type=int, default=10000, help="training images used (of 60,000)")
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--noise", type=float, default=0.4, help="Gaussian noise standard deviation")
args = parser.parse_args()
torch.set_num_threads(1)

data = np.load(args.data)
x_train = (data["x_train"][: args.train, ..., None] / 255.0).astype(np.float32)  # (n, 28, 28, 1)
x_test = (data["x_test"][:1000, ..., None] / 255.0).astype(np.float32)

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
