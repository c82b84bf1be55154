"""``keras.preprocessing.image``, Keras' older home of the image file functions (they live in ``utils``)."""
from layerwise.utils.image import array_to_img, img_to_array, load_img, save_img

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img"]
