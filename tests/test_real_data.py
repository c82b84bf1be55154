"""The course's CNN on real images (scikit-learn's bundled digits)."""
import numpy as np

import layerwise as keras
from layerwise.datasets import digits
from layerwise.recipes import course_cnn


def test_course_cnn_parameter_count_matches_keras():
    assert course_cnn((128, 128, 3), 10).count_params() == 3_078_598


def test_course_cnn_reaches_95_percent_on_digits():
    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = digits.load_data(upscale=2)
    model = course_cnn(x_train.shape[1:], 10)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, keras.utils.to_categorical(y_train, 10), epochs=8, batch_size=32, verbose=0)
    predicted = model.predict(x_test, verbose=0).argmax(axis=1)
    assert np.mean(predicted == y_test) >= 0.95
