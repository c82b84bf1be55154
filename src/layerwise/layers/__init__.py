"""Keras layers as PyTorch modules. Inputs are channels-last, as in Keras."""
from layerwise import saving_registry
from layerwise.layers.activation import ELU, LeakyReLU, PReLU, ReLU, Softmax
from layerwise.layers.adaptive_pooling import (AdaptiveAveragePooling1D, AdaptiveAveragePooling2D,
                                               AdaptiveAveragePooling3D, AdaptiveMaxPooling1D, AdaptiveMaxPooling2D,
                                               AdaptiveMaxPooling3D)
from layerwise.layers.attention import AdditiveAttention, Attention, MultiHeadAttention
from layerwise.layers.audio import MelSpectrogram, STFTSpectrogram
from layerwise.layers.augmentation import (RandomBrightness, RandomContrast, RandomCrop, RandomFlip, RandomRotation,
                                           RandomTranslation, RandomZoom)
from layerwise.layers.augmentation_clahe import ContrastLimitedAdaptiveHistogramEqualization
from layerwise.layers.augmentation_color import (AutoContrast, Equalization, RandomColorDegeneration,
                                                 RandomGrayscale, RandomInvert, RandomPosterization, RandomSharpness,
                                                 Solarization)
from layerwise.layers.augmentation_hsv import RandomColorJitter, RandomHue, RandomSaturation
from layerwise.layers.augmentation_shear import RandomShear
from layerwise.layers.augmentation_mixing import CutMix, MixUp, RandomErasing
from layerwise.layers.augmentation_policies import AugMix, RandAugment
from layerwise.layers.augmentation_warps import RandomElasticTransform, RandomGaussianBlur, RandomPerspective
from layerwise.layers.base import LAYER_CLASSES, Layer
from layerwise.layers.cells import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from layerwise.layers.categorical import CategoryEncoding, Discretization, Hashing, IntegerLookup
from layerwise.layers.convolutional import (Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Conv3D,
                                            Conv3DTranspose, Convolution1D, Convolution1DTranspose, Convolution2D,
                                            Convolution2DTranspose, Convolution3D, Convolution3DTranspose)
from layerwise.layers.convolutional_recurrent import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from layerwise.layers.core import Activation, Dense, Input, InputLayer, Lambda, Rescaling
from layerwise.layers.depthwise import (DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D,
                                        SeparableConvolution1D, SeparableConvolution2D)
from layerwise.layers.einsum_dense import EinsumDense
from layerwise.layers.embedding import Embedding, Masking, ReversibleEmbedding
from layerwise.layers.grouped_query_attention import GroupedQueryAttention, GroupQueryAttention
from layerwise.layers.hashed_crossing import HashedCrossing
from layerwise.layers.input_spec import InputSpec
from layerwise.layers.merging import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add,
                                      average, concatenate, dot, maximum, minimum, multiply, subtract)
from layerwise.layers.normalization import (BatchNormalization, GroupNormalization, LayerNormalization,
                                            UnitNormalization)
from layerwise.layers.pipeline import Pipeline
from layerwise.layers.pooling import (AveragePooling1D, AveragePooling2D, AveragePooling3D, AvgPool1D, AvgPool2D,
                                      AvgPool3D, GlobalAveragePooling1D, GlobalAveragePooling2D,
                                      GlobalAveragePooling3D, GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D,
                                      GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D, GlobalMaxPooling1D,
                                      GlobalMaxPooling2D, GlobalMaxPooling3D, MaxPool1D, MaxPool2D, MaxPool3D,
                                      MaxPooling1D, MaxPooling2D, MaxPooling3D)
from layerwise.layers.preprocessing import CenterCrop, Normalization, Resizing
from layerwise.layers.recurrent import GRU, LSTM, SimpleRNN
from layerwise.layers.regularization import (ActivityRegularization, AlphaDropout, Dropout, GaussianDropout,
                                             GaussianNoise, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D)
from layerwise.layers.reshaping import (Cropping1D, Cropping2D, Cropping3D, Flatten, Identity, Permute, RepeatVector,
                                        Reshape, UpSampling1D, UpSampling2D, UpSampling3D, ZeroPadding1D,
                                        ZeroPadding2D, ZeroPadding3D)
from layerwise.layers.rms_normalization import RMSNormalization
from layerwise.layers.rnn import RNN
from layerwise.layers.spectral_normalization import SpectralNormalization
from layerwise.layers.torch_module_wrapper import TorchModuleWrapper
from layerwise.layers.wrappers import Bidirectional, TimeDistributed, Wrapper
from layerwise.preprocessing import StringLookup, TextVectorization

__all__ = [
    "Activation", "ActivityRegularization", "AveragePooling1D", "AveragePooling2D", "BatchNormalization", "Conv1D",
    "Conv2D", "Conv2DTranspose", "Cropping1D", "Cropping2D", "Dense", "Dropout", "ELU", "Flatten",
    "GaussianDropout", "GaussianNoise", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D",
    "GlobalMaxPooling2D", "Input", "InputLayer", "Lambda", "Layer", "LayerNormalization", "LeakyReLU",
    "MaxPooling1D", "MaxPooling2D", "Permute", "PReLU", "ReLU", "Rescaling", "Reshape", "Softmax",
    "SpatialDropout1D", "SpatialDropout2D", "UpSampling1D", "UpSampling2D", "ZeroPadding1D", "ZeroPadding2D",
    # sequences
    "Bidirectional", "Embedding", "ReversibleEmbedding", "GRU", "LSTM", "Masking", "RepeatVector", "SimpleRNN",
    "TimeDistributed",
    "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D",
    "GRUCell", "LSTMCell", "RNN", "SimpleRNNCell", "StackedRNNCells",
    # attention
    "AdditiveAttention", "Attention", "MultiHeadAttention",
    # einsum projections, grouped-query attention, wrapped torch modules, feature crosses
    "EinsumDense", "GroupQueryAttention", "GroupedQueryAttention", "HashedCrossing", "TorchModuleWrapper",
    # merging, for functional models
    "Add", "Average", "Concatenate", "Dot", "Maximum", "Minimum", "Multiply", "Subtract", "add", "average",
    "concatenate", "dot", "maximum", "minimum", "multiply", "subtract",
    # depthwise, separable, transposed and 3-D convolutions; 3-D pooling and reshaping; more normalization
    # and dropout; Keras' other names (aliases) for the same classes
    "AlphaDropout", "AveragePooling3D", "AvgPool1D", "AvgPool2D", "AvgPool3D", "Conv1DTranspose", "Conv3D",
    "Conv3DTranspose", "Convolution1D", "Convolution1DTranspose", "Convolution2D", "Convolution2DTranspose",
    "Convolution3D", "Convolution3DTranspose", "Cropping3D", "DepthwiseConv1D", "DepthwiseConv2D",
    "GlobalAveragePooling3D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D", "GlobalMaxPool1D",
    "GlobalMaxPool2D", "GlobalMaxPool3D", "GlobalMaxPooling3D", "GroupNormalization", "Identity", "MaxPool1D",
    "MaxPool2D", "MaxPool3D", "MaxPooling3D", "SeparableConv1D", "SeparableConv2D", "SeparableConvolution1D",
    "SeparableConvolution2D", "SpatialDropout3D", "UnitNormalization", "UpSampling3D", "ZeroPadding3D",
    # preprocessing and image augmentation
    "CenterCrop", "Normalization", "RandomBrightness", "RandomContrast", "RandomCrop", "RandomFlip",
    "RandomRotation", "RandomTranslation", "RandomZoom", "Resizing",
    "CutMix", "MixUp", "Pipeline", "RandomElasticTransform", "RandomErasing", "RandomGaussianBlur",
    "RandomPerspective",
    "AugMix", "RandAugment",
    # colour augmentation and shear
    "AutoContrast", "Equalization", "RandomColorDegeneration", "RandomColorJitter", "RandomGrayscale", "RandomHue",
    "RandomInvert", "RandomPosterization", "RandomSaturation", "RandomSharpness", "RandomShear", "Solarization",
    "ContrastLimitedAdaptiveHistogramEqualization",
    # categorical and text preprocessing (StringLookup and TextVectorization run on numpy, outside models)
    "CategoryEncoding", "Discretization", "Hashing", "IntegerLookup", "StringLookup", "TextVectorization",
    # adaptive pooling, RMS and spectral normalization, the Wrapper base class and InputSpec
    "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D", "AdaptiveMaxPooling1D",
    "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D", "InputSpec", "RMSNormalization", "SpectralNormalization",
    "Wrapper",
    "MelSpectrogram", "STFTSpectrogram",  # audio
    "deserialize", "serialize",
]


def get(class_name: str) -> type:
    """The layer class called ``class_name`` (used when loading a saved model).

    A registered class or one of ``custom_objects`` comes first (by that name, or as any ``"package>name"``
    unless the name is a built-in layer's); then any imported Layer subclass, including users' own and
    the autoencoders' noise layers.
    """
    from layerwise import saving_registry

    known = LAYER_CLASSES.get(class_name)
    built_in = known is not None and known.__module__.startswith("layerwise.")
    found = saving_registry.find_custom_object(class_name, built_in=built_in)
    if isinstance(found, type) and issubclass(found, Layer):
        return found
    if known is None:
        raise ValueError(f"Unknown layer class {class_name!r}: import the module that defines it before loading "
                         f"the model. {saving_registry.how_to_load(class_name)}")
    return known


def serialize(layer: Layer) -> dict:
    """``{"module", "class_name", "config"}`` of ``layer``, as ``keras.layers.serialize``."""
    return saving_registry.serialize_keras_object(layer)


def deserialize(config: dict, custom_objects: dict | None = None) -> Layer:
    """A new layer from what ``serialize`` returned, as ``keras.layers.deserialize``."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"layers.deserialize takes the dict layers.serialize returns (with 'class_name' and "
                         f"'config'), got {config!r}.")
    return saving_registry.deserialize_keras_object(config, custom_objects=custom_objects)
