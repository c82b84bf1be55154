"""Keras' utils: labels, seeding, image folders, sequences."""
from layerwise.backend import clear_session, set_random_seed
from layerwise.saving_registry import (CustomObjectScope, custom_object_scope, deserialize_keras_object,
                                       get_custom_objects, get_registered_name, get_registered_object,
                                       register_keras_serializable, serialize_keras_object)
from layerwise.utils import legacy
from layerwise.utils.audio_dataset import audio_dataset_from_directory
from layerwise.utils.config import Config
from layerwise.utils.data_packing import pack_x_y_sample_weight, unpack_x_y_sample_weight
from layerwise.utils.dataset_split import split_dataset
from layerwise.utils.feature_space import FeatureSpace
from layerwise.utils.file_download import get_file
from layerwise.utils.image import array_to_img, img_to_array, load_img, save_img
from layerwise.utils.image_dataset import image_dataset_from_directory
from layerwise.utils.io_utils import (disable_interactive_logging, enable_interactive_logging,
                                      is_interactive_logging_enabled)
from layerwise.utils.model_visualization import model_to_dot, plot_model
from layerwise.utils.numerical import normalize, to_categorical
from layerwise.utils.progbar import Progbar
from layerwise.utils.py_dataset import PyDataset, Sequence
from layerwise.utils.sequences import one_hot_dna, pad_sequences, timeseries_dataset_from_array
from layerwise.utils.tensor_utils import get_source_inputs, is_keras_tensor, standardize_dtype
from layerwise.utils.text_dataset import text_dataset_from_directory
from layerwise.utils.text_generation import generate_text, sample_tokens

__all__ = ["Progbar", "image_dataset_from_directory", "normalize", "set_random_seed", "to_categorical"]
__all__ += ["one_hot_dna", "pad_sequences", "timeseries_dataset_from_array"]
__all__ += ["generate_text", "sample_tokens", "text_dataset_from_directory"]
__all__ += ["PyDataset", "Sequence", "clear_session"]
__all__ += ["array_to_img", "img_to_array", "load_img", "save_img"]
__all__ += ["CustomObjectScope", "custom_object_scope", "deserialize_keras_object", "get_custom_objects",
            "get_registered_name", "get_registered_object", "register_keras_serializable", "serialize_keras_object"]
__all__ += ["get_file", "model_to_dot", "plot_model"]
__all__ += ["pack_x_y_sample_weight", "unpack_x_y_sample_weight"]
__all__ += ["disable_interactive_logging", "enable_interactive_logging", "get_source_inputs",
            "is_interactive_logging_enabled", "is_keras_tensor", "split_dataset", "standardize_dtype"]
__all__ += ["FeatureSpace"]
__all__ += ["audio_dataset_from_directory", "Config", "legacy"]
