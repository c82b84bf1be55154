"""Keras' classic image-classification architectures (``keras.applications``) as layerwise functional models.

``VGG16(weights=None)`` builds the same layers (names, order, shapes, parameter counts) as Keras 3.
``weights="imagenet"`` (Keras' default) loads Keras' published ImageNet weight files, downloaded from Keras' URLs
into Keras' cache (``$KERAS_HOME/models``, default ``~/.keras/models``) and checked against Keras' hashes (see
``imagenet_weights``); ``weights`` may also be None or the path to a weights file. Each family's module has its
``preprocess_input`` and ``decode_predictions``, under Keras' module names too
(``applications.vgg16.preprocess_input``).
Like Keras', the models follow ``layerwise.config.image_data_format()`` when built: channels-first they take
images ``(n, 3, h, w)`` (DenseNet, ConvNeXt and NASNet refuse it, as in Keras).
"""
from layerwise.applications import densenet, imagenet_utils, mobilenet, mobilenet_v2, resnet, resnet_v2, vgg, xception
from layerwise.applications import efficientnet, inception_resnet_v2, inception_v3
from layerwise.applications import convnext, efficientnet_v2, mobilenet_v3, nasnet
from layerwise.applications.convnext import ConvNeXtBase, ConvNeXtLarge, ConvNeXtSmall, ConvNeXtTiny, ConvNeXtXLarge
from layerwise.applications.efficientnet import (EfficientNetB0, EfficientNetB1, EfficientNetB2, EfficientNetB3,
                                                EfficientNetB4, EfficientNetB5, EfficientNetB6, EfficientNetB7)
from layerwise.applications.efficientnet_v2 import (EfficientNetV2B0, EfficientNetV2B1, EfficientNetV2B2,
                                                    EfficientNetV2B3, EfficientNetV2L, EfficientNetV2M, EfficientNetV2S)
from layerwise.applications.densenet import DenseNet121, DenseNet169, DenseNet201
from layerwise.applications.inception_resnet_v2 import InceptionResNetV2
from layerwise.applications.inception_v3 import InceptionV3
from layerwise.applications.mobilenet import MobileNet
from layerwise.applications.mobilenet_v2 import MobileNetV2
from layerwise.applications.mobilenet_v3 import MobileNetV3Large, MobileNetV3Small
from layerwise.applications.nasnet import NASNetLarge, NASNetMobile
from layerwise.applications.resnet import ResNet50, ResNet101, ResNet152
from layerwise.applications.resnet_v2 import ResNet50V2, ResNet101V2, ResNet152V2
from layerwise.applications.vgg import VGG16, VGG19
from layerwise.applications.xception import Xception

# Keras' module names: vgg16 and vgg19 share one module here, as resnet and resnet50 do in Keras.
vgg16 = vgg19 = vgg
resnet50 = resnet

__all__ = ["DenseNet121", "DenseNet169", "DenseNet201", "MobileNet", "MobileNetV2", "ResNet101", "ResNet101V2",
           "ResNet152", "ResNet152V2", "ResNet50", "ResNet50V2", "VGG16", "VGG19", "Xception"]
__all__ += ["densenet", "imagenet_utils", "mobilenet", "mobilenet_v2", "resnet", "resnet50", "resnet_v2", "vgg",
            "vgg16", "vgg19", "xception"]
__all__ += ["InceptionResNetV2", "InceptionV3", "inception_resnet_v2", "inception_v3"]
__all__ += ["EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3", "EfficientNetB4",
            "EfficientNetB5", "EfficientNetB6", "EfficientNetB7", "efficientnet"]
__all__ += ["ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtSmall", "ConvNeXtTiny", "ConvNeXtXLarge", "convnext"]
__all__ += ["MobileNetV3Large", "MobileNetV3Small", "mobilenet_v3"]
__all__ += ["NASNetLarge", "NASNetMobile", "nasnet"]
__all__ += ["EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3", "EfficientNetV2S",
            "EfficientNetV2M", "EfficientNetV2L", "efficientnet_v2"]
