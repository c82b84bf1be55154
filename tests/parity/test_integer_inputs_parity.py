"""Integer and boolean inputs (``Input(dtype="int32")``) to layers with float weights: Keras' ``int @ float`` ops
promote to float32, so Dense and the recurrent layers accept them and return float32."""
import numpy as np
import pytest

import layerwise as lw

CASES = {
    "Dense": (lambda L: L.Dense(3), (4,)),
    "LSTM": (lambda L: L.LSTM(3), (5, 2)),
    "GRU": (lambda L: L.GRU(3), (5, 2)),
    "SimpleRNN": (lambda L: L.SimpleRNN(3), (5, 2)),
}


@pytest.mark.parametrize("dtype", ["uint8", "int32", "bool"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_integer_inputs_give_keras_float32_outputs(keras, name, dtype):
    make, shape = CASES[name]
    x = (np.arange(2 * np.prod(shape)).reshape((2, *shape)) % 3).astype(dtype)
    ours_in = lw.layers.Input(shape, dtype=dtype)
    ours = lw.models.Model(ours_in, make(lw.layers)(ours_in))
    theirs_in = keras.layers.Input(shape, dtype=dtype)
    theirs = keras.models.Model(theirs_in, make(keras.layers)(theirs_in))
    theirs.set_weights(ours.get_weights())
    expected = theirs.predict(x, verbose=0)
    got = ours.predict(x, verbose=0)
    assert got.dtype == expected.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    ours.compile("adam", "mse")
    history = ours.fit(x, np.ones((2, 3), "float32"), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
