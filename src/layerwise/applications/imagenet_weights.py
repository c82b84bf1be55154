"""Keras' published ImageNet weights (``weights="imagenet"``): each file's URL, cache name and md5, and loading it.

They are the files ``keras.applications`` downloads: Keras 2 legacy ``.h5`` weights, one with the classifier top
and one without (``_notop``, or ``_no_top`` for MobileNet and MobileNetV2). ``layerwise.utils.get_file`` fetches
them into Keras' own cache, ``$KERAS_HOME/models`` (default ``~/.keras/models``), under Keras' file names, so a
file either library downloaded serves both; it checks Keras' md5, where Keras has one (all but the MobileNets),
and downloads a cached file again when its hash does not match. ``layerwise.keras_weights`` then copies the
arrays into the model, matching the layers that have weights in order, as Keras' legacy loader does.
"""
from __future__ import annotations

import os
from typing import NamedTuple

from layerwise.keras_weights import load_keras_weights
from layerwise.utils.file_download import _cache_base, get_file

BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
CACHE_SUBDIR = "models"
KERNELS = "_weights_tf_dim_ordering_tf_kernels"  # in every file name but MobileNet's

# app -> (folder under BASE_URL, file name prefix, md5 of the file with the top, md5 of the one without).
HASHED_FILES = {
    "VGG16": ("vgg16", "vgg16", "64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc"),
    "VGG19": ("vgg19", "vgg19", "cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6"),
    "ResNet50": ("resnet", "resnet50", "2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "ResNet101": ("resnet", "resnet101", "f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "ResNet152": ("resnet", "resnet152", "100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "ResNet50V2": ("resnet", "resnet50v2", "3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "ResNet101V2": ("resnet", "resnet101v2", "6343647c601c52e1368623803854d971",
                    "c0ed64b8031c3730f411d2eb4eea35b5"),
    "ResNet152V2": ("resnet", "resnet152v2", "a49b44d1979771252814e80f8ec446f9",
                    "ed17cf2e0169df9d443503ef94b23b33"),
    "Xception": ("xception", "xception", "0a58e3b7378bc2990ea3b43d5981f1f6", "b0042744bf5b25fce3cb969f33bebb97"),
    "InceptionV3": ("inception_v3", "inception_v3", "9a0d58056eeedaa3f26cb7ebd46da564",
                    "bcbd6486424b2319ff4ef7d526e38f63"),
    "InceptionResNetV2": ("inception_resnet_v2", "inception_resnet_v2", "e693bd0210a403b3192acc6073ad2e96",
                          "d19885ff4a710c122648d3b5c3b684e4"),
    "DenseNet121": ("densenet", "densenet121", "9d60b8095a5708f2dcce2bca79d332c7",
                    "30ee3e1110167f948a6b9946edeeb738"),
    "DenseNet169": ("densenet", "densenet169", "d699b8f76981ab1b30698df4c175e90b",
                    "b8c4d4c20dd625c148057b9ff1c1176b"),
    "DenseNet201": ("densenet", "densenet201", "1ceb130c1ea1b78c3bf6114dbdfd8807",
                    "c13680b51ded0fb44dff2d8f86ac8bb1"),
}
# EfficientNet's files, efficientnet{variant}[_notop].h5, have their own folder: variant -> (md5 with the top,
# md5 without).
EFFICIENTNET_URL = "https://storage.googleapis.com/keras-applications/"
EFFICIENTNET_MD5 = {
    "b0": ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
    "b1": ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
    "b2": ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    "b3": ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
    "b4": ("18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    "b5": ("ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
    "b6": ("165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
    "b7": ("8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
}
# MobileNet's files spell alpha with its digits: mobilenet_{1_0, 7_5, 5_0, 2_5}_{rows}_tf[_no_top].h5.
MOBILENET_ALPHAS = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}


class WeightsFile(NamedTuple):
    """One published file: the application it is for, its name in the cache, its URL and md5 (None: unchecked)."""
    app: str
    name: str
    url: str
    md5: str | None


def published(app: str, include_top: bool) -> WeightsFile:
    """The file of ``app`` (a key of ``HASHED_FILES``) with or without its top."""
    folder, prefix, top_md5, notop_md5 = HASHED_FILES[app]
    name = f"{prefix}{KERNELS}{'' if include_top else '_notop'}.h5"
    return WeightsFile(app, name, f"{BASE_URL}{folder}/{name}", top_md5 if include_top else notop_md5)


def mobilenet(alpha: float, rows: int, include_top: bool) -> WeightsFile:
    """MobileNet's file for ``alpha`` (a key of ``MOBILENET_ALPHAS``) and square ``rows`` (128, 160, 192, 224)."""
    name = f"mobilenet_{MOBILENET_ALPHAS[alpha]}_{rows}_tf{'' if include_top else '_no_top'}.h5"
    return WeightsFile("MobileNet", name, f"{BASE_URL}mobilenet/{name}", None)


def mobilenet_v2(alpha: float, rows: int, include_top: bool) -> WeightsFile:
    """MobileNetV2's file for ``alpha`` (0.35 ... 1.4, written as a float: ``0.5``, ``1.0``) and square ``rows``."""
    name = f"mobilenet_v2{KERNELS}_{float(alpha)}_{rows}{'' if include_top else '_no_top'}.h5"
    return WeightsFile("MobileNetV2", name, f"{BASE_URL}mobilenet_v2/{name}", None)


def efficientnet(variant: str, include_top: bool) -> WeightsFile:
    """EfficientNet's file for ``variant`` ("b0" ... "b7"), with or without its top."""
    name = f"efficientnet{variant}{'' if include_top else '_notop'}.h5"
    return WeightsFile(f"EfficientNet{variant.upper()}", name, f"{EFFICIENTNET_URL}{name}",
                       EFFICIENTNET_MD5[variant][0 if include_top else 1])


def load(model, file: WeightsFile) -> None:
    """Fetch ``file`` into the cache unless it is there (and matches its md5), then load it into ``model``."""
    path = fetch(file)
    try:
        load_keras_weights(model, path)
    except ValueError as err:
        raise ValueError(f"{file.app}: the ImageNet weights file {path!r} could not be loaded: {err} If the file "
                         "is damaged, delete it so that it is downloaded again.") from err


def cache_path(file: WeightsFile) -> str:
    """Where ``get_file`` keeps ``file``: ``$KERAS_HOME/models/<name>`` (default ``~/.keras/models/<name>``)."""
    return os.path.join(_cache_base(None), CACHE_SUBDIR, file.name)


def fetch(file: WeightsFile) -> str:
    """The local path of ``file``, downloaded when it is missing from the cache or does not match its md5.

    When that download fails (no network, or a corrupted transfer), the error says which URL to fetch by hand and
    where to put it; a cached copy is only ever replaced by a complete download that matches the md5.
    """
    target = cache_path(file)
    cached = os.path.exists(target)  # get_file only downloads a cached file whose hash does not match
    try:
        return get_file(file.name, file.url, cache_subdir=CACHE_SUBDIR, file_hash=file.md5)
    except (OSError, ValueError) as err:
        problem = (f"the cached copy {target!r} does not match its published md5 {file.md5} (it is corrupted or "
                   f"incomplete), and downloading it again failed" if cached else
                   f"{file.name!r} is not in the cache ({os.path.dirname(target)!r}) and downloading it failed")
        checksum = f" (md5 {file.md5})" if file.md5 else ""
        what, fallback = (("the ImageNet class index", "") if file.name.endswith(".json") else
                          ("the ImageNet weights", ", or pass weights=None"))
        message = (f"{file.app}: {what} could not be fetched: {problem}: {err} Download {file.url}"
                   f"{checksum} and save it as {target!r} (set KERAS_HOME to use another cache folder){fallback}.")
        raise (OSError if isinstance(err, OSError) else ValueError)(message) from err
