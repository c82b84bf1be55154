"""RandAugment and AugMix, and the two-step API and dict inputs of the older augmentation layers (RandomFlip,
RandomRotation, RandomZoom, RandomTranslation, RandomContrast, RandomBrightness, RandomCrop), against Keras 3
(torch backend).

The draws come from different generators, so parity is checked the way Keras splits the work: one layer's
``get_random_transformation`` fed to both ``transform_images`` / ``transform_segmentation_masks``, in both
directions; whole calls where the factors pin the draw; the draws themselves by their statistics. Then
dicts through a Pipeline, models, configs, saving and errors.
"""
from __future__ import annotations

import copy
import random

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L
from layerwise.saving import load_model

ATOL = 1e-4  # on the 0-255 scale: float32 rounding of bilinear resampling differs in the last bits


def images(shape=(4, 9, 11, 3), seed: int = 0, scale: float = 255.0) -> torch.Tensor:
    return torch.as_tensor((np.random.default_rng(seed).random(shape) * scale).astype("float32"))


def masks_like(x: torch.Tensor, seed: int = 1) -> torch.Tensor:
    return torch.as_tensor(np.random.default_rng(seed).integers(0, 5, (*x.shape[:-1], 1)).astype("float32"))


def close(got, expected, atol: float = ATOL) -> None:
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=atol)


def nearly_everywhere(got, expected, share: float = 0.03) -> None:
    """Equal to float rounding but for at most ``share`` of the values: Equalization bins pixel values, and a
    value that the ops before it leave 1e-5 away from a bin edge can land in the next bin in one library."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape
    off = np.abs(got - expected) > ATOL + 1e-5 * np.abs(expected)
    assert off.mean() <= share, f"{off.mean():.2%} of the values differ (max {np.abs(got - expected).max()})"


def keras_copying(keras_layer):
    """``keras_layer`` whose ``transform_*`` work on copies. Keras' torch backend changes its inputs in place
    (RandomBrightness adds into the images; affine_transform swaps entries of a stored rotation matrix), and
    RandAugment runs every operation on every step, so without copies its result depends on those side effects."""
    for method in ("transform_images", "transform_segmentation_masks"):
        original = getattr(keras_layer, method)

        def copying(x, transformation, training=True, original=original):
            return original(torch.as_tensor(x).clone(), copy.deepcopy(transformation), training=training)

        object.__setattr__(keras_layer, method, copying)
    return keras_layer


def both_ways(keras_layer, our_layer, x: torch.Tensor, masks: torch.Tensor | None = None, compare=close,
              rounds: int = 1) -> None:
    """Keras' transformation through both layers, then ours through both: the same images (and masks)."""
    for drawer in (keras_layer, our_layer):
        for _ in range(rounds):
            t = drawer.get_random_transformation(x, training=True)
            compare(our_layer.transform_images(x, t), keras_layer.transform_images(x.clone(), copy.deepcopy(t)))
            if masks is not None:
                compare(our_layer.transform_segmentation_masks(masks, t),
                        keras_layer.transform_segmentation_masks(masks.clone(), copy.deepcopy(t)))


# ---- the older layers' two-step API ------------------------------------------------------------------------

OLDER = [("RandomFlip", (), {}), ("RandomFlip", ("vertical",), {}), ("RandomFlip", ("horizontal",), {}),
         ("RandomRotation", (0.3,), {}), ("RandomRotation", (0.3,), {"interpolation": "nearest", "fill_mode": "wrap"}),
         ("RandomZoom", ((-0.4, 0.5), 0.2), {"fill_mode": "constant", "fill_value": 7.0}),
         ("RandomZoom", (0.3,), {"fill_mode": "nearest"}),
         ("RandomTranslation", (0.2, (-0.5, 0.4)), {"fill_mode": "constant", "fill_value": 3.0}),
         ("RandomTranslation", (0.3, 0.3), {"interpolation": "nearest"}),
         ("RandomContrast", (0.5,), {}), ("RandomContrast", ((0.2, 0.7),), {"value_range": (0, 1)}),
         ("RandomBrightness", (0.3,), {}), ("RandomBrightness", ((-0.6, 0.2),), {"value_range": (0, 1)})]


@pytest.mark.parametrize("name, args, kwargs", OLDER, ids=[f"{c[0]}-{i}" for i, c in enumerate(OLDER)])
def test_older_layers_transform_as_keras(keras, name, args, kwargs):
    scale = 1.0 if kwargs.get("value_range") == (0, 1) else 255.0
    x = images(scale=scale)
    keras_layer, ours = getattr(keras.layers, name)(*args, seed=3, **kwargs), getattr(L, name)(*args, seed=3, **kwargs)
    both_ways(keras_layer, ours, x, masks_like(x))  # geometric layers move masks (nearest pixel), others keep them
    t = keras_layer.get_random_transformation(x[0])  # Keras' transformation of one image: one image out
    close(ours.transform_images(x[0], t), keras_layer.transform_images(x[0].clone(), copy.deepcopy(t)))
    t = ours.get_random_transformation(x)
    assert set(t) == set(keras_layer.get_random_transformation(x)), "Keras' keys"
    assert torch.equal(ours.transform_images(x, t, training=False), x)
    assert ours.get_random_transformation(x, training=False) is None
    masks = masks_like(x)
    assert torch.equal(ours.transform_labels(masks, t), masks)


def test_older_layers_draw_what_they_apply():
    """A seeded layer's call is its own get_random_transformation + transform_images."""
    x = images()
    for name, args, kwargs in OLDER:
        twin = getattr(L, name)(*args, seed=5, **kwargs)
        expected = twin.transform_images(x, twin.get_random_transformation(x))
        close(getattr(L, name)(*args, seed=5, **kwargs)(x), expected, 0.0)
    rotation = L.RandomRotation((0.25, 0.25)).get_random_transformation(x)
    assert torch.allclose(rotation["angle"], torch.full((4,), 90.0))
    assert rotation["image_height"] == 9 and rotation["image_width"] == 11 and rotation["batch_size"] == 4
    translations = L.RandomTranslation((0.5, 0.5), (-0.2, -0.2)).get_random_transformation(x)["translations"]
    close(translations, torch.tensor([[-0.2 * 11, 0.5 * 9]] * 4), 1e-5)  # (x, y) in pixels, as Keras
    zoom = L.RandomZoom((0.3, 0.3)).get_random_transformation(x)
    close(zoom["height_zoom"], torch.full((4, 1), 1.3), 1e-6)
    assert torch.equal(zoom["width_zoom"], zoom["height_zoom"])


def test_random_crop_transformations(keras):
    x = images((4, 10, 12, 2))
    masks = masks_like(x)
    ours = L.RandomCrop(5, 6, seed=2)
    for shape in [(5, 6), (12, 6), (10, 12)]:  # a window inside, one taller than the images, the whole image
        keras_layer, layer = keras.layers.RandomCrop(*shape, seed=1), L.RandomCrop(*shape)
        for image in (x, x[0]):
            t = keras_layer.get_random_transformation(image)  # Keras': one (top, left) for the batch
            close(layer.transform_images(image, t), keras_layer.transform_images(image.clone(), t))
        cropped = layer.transform_segmentation_masks(masks, t)
        if shape != (12, 6):
            close(cropped, keras_layer.transform_segmentation_masks(masks, t), 0)
        else:  # a window past the image is resized: Keras blends the mask ids (bilinear), we take the nearest
            top, left = t
            close(cropped, L.Resizing(12, 6, interpolation="nearest")(masks[:, top:top + 12, left:left + 6]), 0)
    tops, lefts = ours.get_random_transformation(x)  # ours: a window per image
    assert tops.shape == lefts.shape == (4,) and int(tops.max()) <= 5 and int(lefts.max()) <= 6
    cropped = ours.transform_images(x, (tops, lefts))
    for i in range(4):
        close(cropped[i], x[i, int(tops[i]):int(tops[i]) + 5, int(lefts[i]):int(lefts[i]) + 6], 0)
    # no window (inference, or images not larger than it): the centred window of the aspect ratio, resized
    assert L.RandomCrop(12, 6).get_random_transformation(x) is None
    close(ours.transform_images(x, None), keras.layers.Resizing(5, 6, crop_to_aspect_ratio=True)(x))
    close(ours.transform_images(x, (tops, lefts), training=False), ours.transform_images(x, None), 0)
    centred = ours.transform_segmentation_masks(masks, None)
    assert centred.shape == (4, 5, 6, 1) and set(centred.unique().tolist()) <= set(range(5))  # ids stay ids


def test_older_layers_on_dicts_match_keras(keras):
    """Factors that pin the draw: whole calls on dicts, in Keras and here."""
    x, labels = images((3, 8, 10, 3)), torch.eye(3)
    masks = masks_like(x)
    cases = [("RandomRotation", ((0.25, 0.25),), {}), ("RandomRotation", ((0.1, 0.1),), {"fill_mode": "constant"}),
             ("RandomZoom", ((-0.3, -0.3),), {}), ("RandomTranslation", ((0.25, 0.25), (-0.3, -0.3)), {}),
             ("RandomBrightness", ((0.1, 0.1),), {}), ("RandomContrast", ((-0.5, 0.5),), {}),
             ("RandomCrop", (8, 10), {})]
    for name, args, kwargs in cases:
        data = {"images": x, "labels": labels, "segmentation_masks": masks}
        keras_layer = getattr(keras.layers, name)(*args, **kwargs)
        expected = keras_layer({k: v.clone() for k, v in data.items()})
        if name == "RandomRotation":  # Keras' call rotates the masks by a matrix its images' call changed in place
            expected["segmentation_masks"] = keras_layer.transform_segmentation_masks(
                masks.clone(), keras_layer.get_random_transformation(x))
        extra = torch.arange(3)
        got = getattr(L, name)(*args, **kwargs)({**data, "extra": extra})
        assert set(got) == {"images", "labels", "segmentation_masks", "extra"} and got["extra"] is extra
        for key in data:
            close(got[key], expected[key])
        single = getattr(L, name)(*args, **kwargs)({"images": x[0], "segmentation_masks": masks[0]})
        close(single["images"], got["images"][0])
        close(single["segmentation_masks"], got["segmentation_masks"][0])
    inference = L.RandomRotation(0.4)({"images": x, "segmentation_masks": masks}, training=False)
    assert torch.equal(inference["images"], x) and torch.equal(inference["segmentation_masks"], masks)
    flip = L.RandomFlip(seed=4)({"images": x, "segmentation_masks": masks})
    for i in range(3):  # the masks take each image's flip
        flipped = torch.equal(flip["images"][i], x[i].flip((0, 1)))
        assert flipped or torch.equal(flip["images"][i], x[i])
        assert torch.equal(flip["segmentation_masks"][i], masks[i].flip((0, 1)) if flipped else masks[i])


def test_dicts_through_a_pipeline(keras):
    x, labels = images((6, 8, 8, 3)), torch.eye(6)
    masks = masks_like(x)
    data = {"images": x, "labels": labels, "segmentation_masks": masks}
    out = L.Pipeline([L.RandomFlip(seed=1), L.RandomRotation(0.2, seed=2), L.MixUp(seed=3)])(data)
    # the same steps by hand, with twins of the layers: each layer draws once for the whole dict
    flip, rotation, mixup = L.RandomFlip(seed=1), L.RandomRotation(0.2, seed=2), L.MixUp(seed=3)
    expected = dict(data)
    for layer in (flip, rotation, mixup):
        t = layer.get_random_transformation(expected["images"])
        expected = {"images": layer.transform_images(expected["images"], t),
                    "labels": layer.transform_labels(expected["labels"], t),
                    "segmentation_masks": layer.transform_segmentation_masks(expected["segmentation_masks"], t)}
    for key in data:
        close(out[key], expected[key], 0)
    assert not torch.equal(out["labels"], labels) and torch.allclose(out["labels"].sum(1), torch.ones(6))
    theirs = keras.layers.Pipeline([keras.layers.RandomFlip(), keras.layers.MixUp()])(
        {"images": x.clone(), "labels": labels.clone()})  # as in Keras: same keys, shapes and label sums
    ours = L.Pipeline([L.RandomFlip(), L.MixUp()])({"images": x, "labels": labels})
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in theirs.items()}
    close(ours["labels"].sum(1), np.asarray(theirs["labels"]).sum(1), 1e-5)
    crop = L.Pipeline([L.RandomCrop(5, 6), L.RandAugment(seed=1)])
    cropped = crop({"images": x, "segmentation_masks": masks})
    assert cropped["images"].shape == (6, 5, 6, 3) and cropped["segmentation_masks"].shape == (6, 5, 6, 1)
    assert L.RandomCrop(5, 6).compute_output_shape({"images": (None, 8, 8, 3), "labels": (None, 6)}) == \
        {"images": (None, 5, 6, 3), "labels": (None, 6)}


# ---- RandAugment and AugMix --------------------------------------------------------------------------------

POLICIES = [("RandAugment", {}), ("RandAugment", {"factor": (0.2, 0.9), "num_ops": 4, "interpolation": "nearest"}),
            ("RandAugment", {"value_range": (0, 1), "factor": 0.3, "num_ops": 1}),
            ("AugMix", {}), ("AugMix", {"all_ops": False, "chain_depth": 5, "alpha": 0.5, "num_chains": 2}),
            ("AugMix", {"value_range": (0, 1), "factor": (0.1, 0.6), "interpolation": "nearest"})]


@pytest.mark.parametrize("name, kwargs", POLICIES, ids=[f"{c[0]}-{i}" for i, c in enumerate(POLICIES)])
def test_policies_transform_as_keras(keras, name, kwargs):
    x = images((3, 12, 10, 3), scale=1.0 if kwargs.get("value_range") == (0, 1) else 255.0)
    keras_layer = getattr(keras.layers, name)(seed=1, **kwargs)
    for op in getattr(keras_layer, "_augment_layers", getattr(keras_layer, "_AUGMENT_LAYERS", None)):
        keras_copying(getattr(keras_layer, op))
    random.seed(0)  # Keras' AugMix picks its operations with Python's random
    both_ways(keras_layer, getattr(L, name)(seed=1, **kwargs), x, masks_like(x), nearly_everywhere, rounds=8)


def test_policies_hold_keras_operations_and_magnitudes(keras):
    def magnitudes(layer, keras_layer: bool) -> dict:
        ops = {name: getattr(layer, name) for name in layer._augment_layers} if hasattr(layer, "_augment_layers") \
            else {name: getattr(layer, name) for name in layer._AUGMENT_LAYERS} if keras_layer else layer._ops
        out = {}
        for name, op in ops.items():
            if name == "random_translation":
                out[name] = (op.height_lower, op.height_upper, op.width_lower, op.width_upper) if keras_layer \
                    else (*op.height_factor, *op.width_factor)
            elif name == "random_shear":
                out[name] = (*op.x_factor, *op.y_factor, op.interpolation)
            elif name == "solarization":
                out[name] = (*op.addition_factor, *op.threshold_factor, *op.value_range)
            elif name in ("auto_contrast", "equalization"):
                out[name] = tuple(op.value_range)
            else:
                out[name] = (*op.factor, *getattr(op, "value_range", ()), getattr(op, "interpolation", None))
        return {k: tuple(float(v) if not isinstance(v, str) and v is not None else v for v in values)
                for k, values in out.items()}

    for kwargs in [{}, {"factor": (0.9, 0.2), "value_range": (0, 1), "interpolation": "nearest"}, {"factor": 0.05}]:
        for name, extra in [("RandAugment", {}), ("AugMix", {}), ("AugMix", {"all_ops": False})]:
            ours, theirs = getattr(L, name)(**kwargs, **extra), getattr(keras.layers, name)(**kwargs, **extra)
            assert list(ours._ops) == list(getattr(theirs, "_augment_layers", getattr(theirs, "_AUGMENT_LAYERS", [])))
            assert magnitudes(ours, False) == magnitudes(theirs, True), (name, kwargs, extra)


def test_policy_draws_match_keras_statistics(keras):
    x = torch.zeros(1, 4, 4, 3)
    n = 300
    for layer in (L.RandAugment(num_ops=4, seed=1), keras.layers.RandAugment(num_ops=4, seed=1)):
        picks = np.concatenate([np.asarray(layer.get_random_transformation(x)["layer_idxes"]) for _ in range(n)])
        counts = np.bincount(picks, minlength=11)
        assert len(counts) == 11 and counts.min() > 0.6 * 4 * n / 11 and counts.max() < 1.4 * 4 * n / 11
    random.seed(1)
    for alpha in (1.0, 0.4):
        stats = []
        for layer in (L.AugMix(alpha=alpha, seed=2), keras.layers.AugMix(alpha=alpha, seed=2)):
            draws = [layer.get_random_transformation(x) for _ in range(n)]
            weights = np.stack([np.asarray(d["chain_mixing_weights"]) for d in draws])
            w = np.array([float(d["weight_sample"]) for d in draws])
            lengths = np.array([len(chain) for d in draws for chain in d["chain_transforms"]])
            assert np.allclose(weights.sum(1), 1, atol=1e-5) and weights.min() >= 0
            assert abs(weights.mean() - 1 / 3) < 0.02 and abs(w.mean() - 0.5) < 0.05
            assert abs(w.var() - 1 / (4 * (2 * alpha + 1))) < 0.02  # Beta(alpha, alpha)
            assert abs(lengths.mean() - 3 * 11 / 12) < 0.15  # each of 3 steps: one of 11 operations or none
            stats.append((weights.var(), lengths.var()))
        assert abs(stats[0][0] - stats[1][0]) < 0.02 and abs(stats[0][1] - stats[1][1]) < 0.2


def test_policies_seeds_inference_single_images_and_dicts():
    x = images((4, 10, 10, 3))
    masks = masks_like(x)
    for cls in (L.RandAugment, L.AugMix):
        a, b = cls(seed=7), cls(seed=7)
        first = a(x)
        assert torch.equal(first, b(x)) and not torch.equal(first, x)
        assert not torch.equal(a(x), first)  # the seed starts a sequence
        assert float(first.min()) >= 0 and float(first.max()) <= 255
        assert torch.equal(a(x, training=False), x)
        assert a(x[0]).shape == x[0].shape
        out = cls(seed=3)({"images": x, "labels": torch.eye(4), "segmentation_masks": masks})
        assert torch.equal(out["labels"], torch.eye(4)) and out["segmentation_masks"].shape == masks.shape
    # RandAugment: masks follow the geometric operations only, at the nearest pixel
    layer = L.RandAugment(seed=1)
    t = layer.get_random_transformation(x)
    t["layer_idxes"] = torch.tensor([2, 3])  # a rotation, then a brightness change
    rotation = L.RandomRotation(0.5)
    close(layer.transform_segmentation_masks(masks, t),
          rotation.transform_segmentation_masks(masks, t["transforms"]["random_rotation"]), 0)
    t["layer_idxes"] = torch.tensor([3, 5])
    assert torch.equal(layer.transform_segmentation_masks(masks, t), masks)
    # AugMix without chains' operations: the images themselves
    t = L.AugMix(chain_depth=0, seed=1).get_random_transformation(x)
    assert t["chain_transforms"] == [[], [], []]
    close(L.AugMix().transform_images(x, t), x, 1e-3)


def test_policies_in_a_sequential_model_fit_predict_save_load(tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.random((32, 12, 12, 3)) * 255).astype("float32")
    y = rng.integers(0, 2, 32)
    policies = [L.RandAugment(seed=1), L.AugMix(num_chains=2, seed=2)]
    model = layerwise.Sequential([layerwise.Input((12, 12, 3)), *policies, L.RandomFlip(seed=3), L.Rescaling(1 / 255),
                                  L.Conv2D(4, 3, activation="relu"), L.GlobalAveragePooling2D(),
                                  L.Dense(2, activation="softmax")])
    assert model.output_shape == (None, 2)
    calls = []
    draw = policies[0].draw
    policies[0].draw = lambda images: (calls.append(len(images)), draw(images))[1]
    model.compile("adam", "sparse_categorical_crossentropy")
    before = model.get_weights()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert calls == [16, 16] and not np.array_equal(before[-1], model.get_weights()[-1])
    plain = layerwise.Sequential([layerwise.Input((12, 12, 3))] + model.layers[3:])
    np.testing.assert_allclose(model.predict(x, verbose=0), plain.predict(x, verbose=0), atol=1e-6)
    assert calls == [16, 16]  # never at inference
    model.save(tmp_path / "policies.keras")
    loaded = load_model(tmp_path / "policies.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert [layer.get_config() for layer in loaded.layers[:3]] == [layer.get_config() for layer in model.layers[:3]]
    loaded.fit(x, y, epochs=1, batch_size=16, verbose=0)


def test_configs_match_keras_and_round_trip(keras):
    cases = [("RandAugment", {}), ("RandAugment", {"value_range": (0, 1), "num_ops": 3, "factor": (0.7, 0.2),
                                                   "interpolation": "nearest", "seed": 4}),
             ("AugMix", {}), ("AugMix", {"num_chains": 2, "chain_depth": 1, "factor": 0.6, "alpha": 0.5,
                                         "all_ops": False, "seed": 5})]
    x = images((2, 8, 8, 3))
    for name, kwargs in cases:
        ours, theirs = getattr(L, name)(**kwargs), getattr(keras.layers, name)(**kwargs)
        config, keras_config = ours.get_config(), theirs.get_config()
        assert list(config) == list(keras_config), name  # Keras' keys in Keras' order, the policy too
        for key, value in keras_config.items():
            if key != "name":
                assert config[key] == (list(value) if isinstance(value, tuple) else value), (name, key)
        again = getattr(L, name).from_config(config)
        assert again.get_config() == config and again._ops.keys() == ours._ops.keys(), name
        from_keras = getattr(L, name).from_config({**keras_config, "dtype": "float32", "name": "k"})
        assert from_keras.get_config() == {**config, "name": "k", "dtype": keras_config["dtype"]}, name
        seeded = getattr(L, name).from_config({**config, "seed": 9})
        assert torch.equal(seeded(x), getattr(L, name).from_config(seeded.get_config())(x)), name


def test_bad_inputs():
    bad = [(L.RandAugment, {"factor": 1.5}, r"RandAugment factor .*\[0, 1\], got factor=1.5"),
           (L.RandAugment, {"num_ops": -1}, "RandAugment num_ops must be an integer of at least 0"),
           (L.RandAugment, {"num_ops": 1.5}, "num_ops"),
           (L.RandAugment, {"interpolation": "bicubic"}, "RandAugment interpolation must be one of"),
           (L.RandAugment, {"value_range": (255, 0)}, "RandAugment value_range"),
           (L.RandAugment, {"value_range": 255}, "value_range must be a pair"),
           (L.AugMix, {"num_chains": 0}, "AugMix num_chains must be an integer of at least 1"),
           (L.AugMix, {"chain_depth": -1}, "chain_depth"),
           (L.AugMix, {"alpha": 0.0}, "AugMix alpha must be a positive number"),
           (L.AugMix, {"all_ops": "yes"}, "all_ops must be True or False"),
           (L.AugMix, {"factor": (0.2, 0.3, 0.4)}, "AugMix factor"),
           (L.AugMix, {"data_format": "channels_middle"}, "data_format must be .* 'channels_first', received")]
    for cls, kwargs, message in bad:
        with pytest.raises(ValueError, match=message):
            cls(**kwargs)
    two_channels = np.zeros((2, 6, 6, 2), "float32")
    with pytest.raises(ValueError, match=r"RandAugment .*RGB images .*\(2, 6, 6, 2\)"):
        L.RandAugment()(two_channels)
    assert L.AugMix(all_ops=False)(two_channels).shape == (2, 6, 6, 2)  # no colour operation among them
    with pytest.raises(ValueError, match=r"rand_augment.*\(RandAugment\) expected an image .*\(6, 6\)"):
        L.RandAugment()(np.zeros((6, 6)))
    with pytest.raises(ValueError, match="an 'images' entry"):
        L.RandomFlip()({"image": np.zeros((2, 4, 4, 3))})
    with pytest.raises(ValueError, match=r"expected 'images' .*\(4, 4\)"):
        L.RandomRotation(0.1)({"images": np.zeros((4, 4))})
    with pytest.raises(ValueError, match="bounding_boxes"):
        L.AugMix()({"images": np.zeros((2, 4, 4, 3)), "bounding_boxes": np.zeros((2, 1, 4))})
