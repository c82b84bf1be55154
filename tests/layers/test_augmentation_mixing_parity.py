"""MixUp, CutMix, RandomErasing, RandomGaussianBlur, RandomPerspective, RandomElasticTransform and Pipeline
against Keras 3 (torch backend).

The draws come from different generators, so parity is checked the way Keras splits the work: one layer's
``get_random_transformation`` fed to both ``transform_images`` (and ``transform_labels`` /
``transform_segmentation_masks``), in both directions; the draws themselves are checked by their statistics
(against theory and Keras' own draws). Then the calls on dicts, seeds, inference, models, configs and errors.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L

ATOL = 1e-4


def images(shape=(6, 9, 11, 3), seed: int = 0, scale: float = 255.0) -> torch.Tensor:
    return torch.as_tensor((np.random.default_rng(seed).random(shape) * scale).astype("float32"))


def one_hot(n: int, classes: int | None = None) -> torch.Tensor:
    return torch.eye(classes or n)[torch.arange(n) % (classes or n)]


def close(got, expected, atol: float = ATOL) -> None:
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=atol)


def both_ways(keras_layer, our_layer, x: torch.Tensor, labels: torch.Tensor | None = None, atol: float = ATOL):
    """Keras' transformation through both layers, then ours through both: the same images (and labels)."""
    for drawer in (keras_layer, our_layer):
        t = drawer.get_random_transformation(x, training=True)
        close(our_layer.transform_images(x, t), keras_layer.transform_images(x.clone(), t), atol)
        if labels is not None:
            close(our_layer.transform_labels(labels, t), keras_layer.transform_labels(labels.clone(), t))


# ---- parity for a given transformation ---------------------------------------------------------------------

def test_mixup_and_cutmix_match_keras(keras):
    x, labels = images(), one_hot(6, 4)
    for alpha in (0.2, 1.0):
        both_ways(keras.layers.MixUp(alpha, seed=1), L.MixUp(alpha, seed=1), x, labels)
    for factor in (1.0, (0.3, 0.8)):
        both_ways(keras.layers.CutMix(factor, seed=2), L.CutMix(factor, seed=2), x, labels)
    # a given mix: image 0 takes 30% of image 2, etc.
    t = {"mix_weight": torch.tensor([0.7, 1.0, 0.0, 0.5, 0.2, 0.9]),
         "permutation_order": torch.tensor([2, 0, 1, 5, 3, 4])}
    expected = 0.7 * x[0] + 0.3 * x[2]
    close(L.MixUp().transform_images(x, t)[0], expected)
    close(L.MixUp().transform_labels(labels, t), keras.layers.MixUp().transform_labels(labels, t))
    close(L.MixUp().transform_images(x, t, training=False), x)


def test_random_erasing_matches_keras(keras):
    x = images()
    cases = [{}, {"fill_value": 7.0}, {"fill_value": [10.0, 300.0, -5.0]}, {"factor": (0.4, 0.6), "scale": 0.5},
             {"fill_value": 0.5, "value_range": (0, 1)}]
    for kwargs in cases:
        scale = 1.0 if kwargs.get("value_range") == (0, 1) else 255.0
        both_ways(keras.layers.RandomErasing(seed=3, **kwargs), L.RandomErasing(seed=3, **kwargs), x / 255 * scale)
    labels = one_hot(6)
    t = L.RandomErasing(seed=0).get_random_transformation(x)
    assert torch.equal(L.RandomErasing().transform_labels(labels, t), labels)  # labels are never erased


def test_gaussian_blur_matches_keras(keras):
    x = images()
    for kwargs in [{}, {"kernel_size": 5, "sigma": (0.3, 2.5)}, {"kernel_size": 7, "sigma": (1.0, 1.0)},
                   {"factor": (0.5, 0.5), "value_range": (20, 200)}]:
        both_ways(keras.layers.RandomGaussianBlur(seed=4, **kwargs), L.RandomGaussianBlur(seed=4, **kwargs), x)
    # a known blur: a delta spreads into the kernel, different along each axis
    delta = torch.zeros(1, 7, 7, 1)
    delta[0, 3, 3, 0] = 1.0
    t = {"should_apply_blur": torch.tensor([True]), "blur_factor": torch.tensor([0.8, 2.0])}
    out = L.RandomGaussianBlur(kernel_size=5, value_range=(0, 1)).transform_images(delta, t)[0, :, :, 0]
    close(out, keras.layers.RandomGaussianBlur(kernel_size=5, value_range=(0, 1)).transform_images(delta, t)[0, ..., 0])
    g = [np.exp(-0.5 * (np.arange(-2, 3) / s) ** 2) for s in (0.8, 2.0)]
    expected = np.zeros((7, 7))
    expected[1:6, 1:6] = np.outer(g[1] / g[1].sum(), g[0] / g[0].sum())  # rows: height (sigma[1])
    close(out, expected, 1e-6)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_perspective_matches_keras(keras, interpolation):
    x = images(scale=1.0)
    for kwargs in [{}, {"scale": 0.3, "fill_value": 0.5}, {"factor": (0.5, 0.5), "scale": 0.8}]:
        both_ways(keras.layers.RandomPerspective(interpolation=interpolation, seed=5, **kwargs),
                  L.RandomPerspective(interpolation=interpolation, seed=5, **kwargs), x)
    # segmentation masks follow the images' warp, sampled at the nearest pixel
    masks = torch.as_tensor(np.random.default_rng(1).integers(0, 4, (6, 9, 11, 1)).astype("float32"))
    keras_layer = keras.layers.RandomPerspective(scale=0.6, seed=6)
    t = keras_layer.get_random_transformation(x)
    close(L.RandomPerspective(scale=0.6).transform_segmentation_masks(masks, t),
          keras_layer.transform_segmentation_masks(masks, t))


def keras_elastic(keras_layer, x, t, seed=11):
    """Keras draws the displacement noise inside transform_images, from torch's global generator."""
    torch.manual_seed(seed)
    out = keras_layer.transform_images(x.clone(), t)
    torch.manual_seed(seed)
    dx = torch.normal(0.0, 1.0, size=tuple(x.shape[:3]))
    dy = torch.normal(0.0, 1.0, size=tuple(x.shape[:3]))
    return out, {**t, "dx": dx, "dy": dy}


@pytest.mark.parametrize("fill_mode", ["constant", "nearest", "wrap", "mirror", "reflect"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_elastic_transform_matches_keras(keras, fill_mode, interpolation):
    x = images((4, 12, 10, 2), scale=1.0)
    common = {"fill_mode": fill_mode, "interpolation": interpolation, "fill_value": 0.3, "value_range": (0, 1)}
    for scale in [(0.6, 0.6), (1.0, 1.0)]:  # sigma 0.3 (kernel 1) and 0.5 (kernel 3); strong displacements
        keras_layer = keras.layers.RandomElasticTransform(scale=scale, seed=7, **common)
        ours = L.RandomElasticTransform(scale=scale, **common)
        t = keras_layer.get_random_transformation(x)
        t["apply_transform"] = torch.tensor([True, False, True, True])
        expected, ours_t = keras_elastic(keras_layer, x, t)
        close(ours.transform_images(x, ours_t), expected)
    big = images((2, 40, 30, 1), scale=1.0)  # sigma 1.5 with kernel 9
    keras_layer = keras.layers.RandomElasticTransform(scale=(1.0, 1.0), seed=8, **common)
    expected, ours_t = keras_elastic(keras_layer, big, keras_layer.get_random_transformation(big))
    close(L.RandomElasticTransform(**common).transform_images(big, ours_t), expected)


# ---- the draws -----------------------------------------------------------------------------------------------

def test_mixup_and_cutmix_draws_match_keras_statistics(keras):
    x = torch.zeros(4000, 4, 4, 1)
    for alpha in (0.2, 2.0):
        ours = L.MixUp(alpha, seed=1).get_random_transformation(x)["mix_weight"].numpy()
        theirs = np.asarray(keras.layers.MixUp(alpha, seed=1).get_random_transformation(x)["mix_weight"])
        variance = 1 / (4 * (2 * alpha + 1))  # Beta(a, a)
        for w in (ours, theirs):
            assert abs(w.mean() - 0.5) < 0.02 and abs(w.var() - variance) < 0.01 and w.min() >= 0 and w.max() <= 1
    perm = L.MixUp(seed=2).get_random_transformation(torch.zeros(50, 2, 2, 1))["permutation_order"]
    assert sorted(perm.tolist()) == list(range(50)) and perm.tolist() != list(range(50))
    # CutMix: the kept fraction per image, over many batches (one Beta parameter per batch)
    x = torch.zeros(64, 16, 16, 1)
    keras_layer, ours = keras.layers.CutMix(seed=3), L.CutMix(seed=3)
    kept = [np.concatenate([np.asarray(layer.get_random_transformation(x)["mix_weight"]).ravel()
                            for _ in range(60)]) for layer in (keras_layer, ours)]
    assert abs(kept[0].mean() - kept[1].mean()) < 0.05 and abs(kept[0].std() - kept[1].std()) < 0.05
    t = ours.get_random_transformation(x)
    area = t["batch_masks"].float().mean(dim=(1, 2, 3))  # the pasted pixels, about 1 - mix_weight
    assert torch.all((area - (1 - t["mix_weight"])).abs() <= 2 * 16 / 256 + 1e-6)


def test_probabilities_and_ranges_of_the_other_draws():
    x = torch.zeros(4000, 10, 10, 1)
    erasing = L.RandomErasing(factor=(0.3, 0.3), scale=(0.1, 0.4), seed=1).get_random_transformation(x)
    assert abs(erasing["apply_erasing"].float().mean() - 0.3) < 0.03
    area = erasing["batch_masks"].float().mean(dim=(1, 2, 3))
    assert 0.03 < area.min() and area.max() < 0.55 and abs(area.mean() - 0.25 ** 2 * 4) < 0.05
    noise = erasing["fill_value"]  # Gaussian noise of std 255, clipped to [0, 255]
    assert abs((noise == 0).float().mean() - 0.5) < 0.01 and abs((noise == 255).float().mean() - 0.1587) < 0.01
    blur = L.RandomGaussianBlur(factor=0.8, sigma=(0.2, 0.7), seed=1).get_random_transformation(x)
    assert abs(blur["should_apply_blur"].float().mean() - 0.4) < 0.03  # mean probability of U(0, 0.8)
    assert blur["blur_factor"].shape == (2,) and torch.all((blur["blur_factor"] > 0.2) & (blur["blur_factor"] < 0.7))
    perspective = L.RandomPerspective(factor=1.0, scale=0.4, seed=1).get_random_transformation(x)
    shift = (perspective["end_points"] - perspective["start_points"])[:, 3] / 9  # the far corner moves +-20%
    assert abs(shift.min() + 0.2) < 0.01 and abs(shift.max() - 0.2) < 0.01
    assert torch.all(perspective["end_points"][:, 0] == 0)  # Keras' corners scale about the origin
    elastic = L.RandomElasticTransform(factor=(0.7, 0.7), scale=(0.2, 0.5), seed=1).get_random_transformation(x)
    assert abs(elastic["apply_transform"].float().mean() - 0.7) < 0.03
    assert 0.2 <= float(elastic["distortion_factor"]) < 0.5 and abs(float(elastic["dx"].std()) - 1) < 0.01
    assert L.RandomElasticTransform(scale=0.0).get_random_transformation(x) is None  # Keras' no-op
    assert torch.equal(L.RandomElasticTransform(factor=0.0, value_range=(0, 0.5))(x + 1), x + 1)  # not even clipped


# ---- calls: dicts, inference, seeds, single images ---------------------------------------------------------

def test_mixup_called_on_a_dict_mixes_images_and_labels_alike():
    x, labels = images((8, 5, 6, 3)), one_hot(8)
    extra = torch.arange(8.0)
    out = L.MixUp(alpha=1.0, seed=3)({"images": x.numpy(), "labels": labels.numpy(), "extra": extra})
    assert out["extra"] is extra  # other entries pass through
    for i in range(8):
        weights = out["labels"][i].clone()
        w = float(weights[i])  # the weight of image i itself; the rest goes to its partner (maybe itself)
        weights[i] = -1
        partner = int(weights.argmax()) if weights.max() > 0 else i
        close(out["images"][i], w * x[i] + (1 - w) * x[partner], 1e-3)
    assert torch.allclose(out["labels"].sum(dim=1), torch.ones(8))


def test_cutmix_called_on_a_dict_mixes_labels_by_pasted_area():
    x = torch.arange(8, dtype=torch.float32).view(8, 1, 1, 1).expand(8, 16, 16, 2).contiguous()  # image i is i
    out = L.CutMix(seed=5)({"images": x, "labels": one_hot(8), "segmentation_masks": x[..., :1]})
    assert torch.equal(out["segmentation_masks"], out["images"][..., :1])  # masks are cut as the images
    for i in range(8):
        values, counts = torch.unique(out["images"][i, :, :, 0], return_counts=True)
        from_partner = {int(v): int(c) / 256 for v, c in zip(values, counts) if int(v) != i}
        for partner, fraction in from_partner.items():
            assert abs(float(out["labels"][i, partner]) - fraction) <= 2 * 16 / 256 + 1e-6
        assert abs(float(out["labels"][i].sum()) - 1) < 1e-5


def test_inference_seeds_and_single_images():
    x = images((5, 8, 8, 3))
    layers = [L.MixUp(seed=1), L.CutMix(seed=1), L.RandomErasing(seed=1), L.RandomGaussianBlur(seed=1),
              L.RandomPerspective(seed=1), L.RandomElasticTransform(seed=1)]
    again = [type(layer).from_config(layer.get_config()) for layer in layers]
    for layer, twin in zip(layers, again):
        name = type(layer).__name__
        assert torch.equal(layer(x, training=False), x), name
        assert torch.equal(layer({"images": x, "labels": one_hot(5)}, training=False)["images"], x), name
        a, b = layer(x), twin(x)  # a layer called on its own augments (Keras' training=True)
        assert torch.equal(a, b) and not torch.equal(a, x), name
        assert not torch.equal(layer(x), a), name  # the seed starts a sequence of draws
        single = layer(x[0])
        assert single.shape == x[0].shape, name
        labelled = layer({"images": x[0], "labels": torch.tensor([0.0, 1.0])})
        assert labelled["images"].shape == x[0].shape and labelled["labels"].shape == (2,), name
    close(L.MixUp()(x[0]), x[0])  # a single image mixes only with itself, as in Keras


# ---- models, Pipeline, configs -------------------------------------------------------------------------------

def test_augmentations_in_a_sequential_model_train_and_pass_through_at_inference(tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.random((32, 12, 12, 3)) * 255).astype("float32")
    y = rng.integers(0, 2, 32)
    augment = L.Pipeline([L.RandomErasing(seed=1), L.RandomGaussianBlur(seed=1), L.RandomPerspective(seed=1),
                          L.RandomElasticTransform(seed=1), L.MixUp(seed=1), L.CutMix(seed=1)])
    model = layerwise.Sequential([layerwise.Input((12, 12, 3)), augment, L.Rescaling(1 / 255),
                                  L.Conv2D(4, 3, activation="relu"), L.GlobalAveragePooling2D(),
                                  L.Dense(2, activation="softmax")])
    assert model.output_shape == (None, 2)
    calls = []
    apply = augment.layers[0].apply
    augment.layers[0].apply = lambda images, t: (calls.append(len(images)), apply(images, t))[1]
    model.compile("adam", "sparse_categorical_crossentropy")
    before = model.get_weights()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert calls == [16, 16] and not np.array_equal(before[-1], model.get_weights()[-1])
    plain = layerwise.Sequential([layerwise.Input((12, 12, 3))] + model.layers[1:])
    np.testing.assert_allclose(model.predict(x, verbose=0), plain.predict(x, verbose=0), atol=1e-6)
    model.save(tmp_path / "augmented.keras")
    loaded = layerwise.saving.load_model(tmp_path / "augmented.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert [type(layer).__name__ for layer in loaded.layers[0].layers] == [type(layer).__name__ for layer in
                                                                           augment.layers]


def test_pipeline_matches_keras(keras):
    x = images((4, 6, 7, 3))
    ours = L.Pipeline([L.Rescaling(1 / 255), L.RandomBrightness((0.2, 0.2), value_range=(0, 1)),
                       L.RandomContrast((-0.5, 0.5), value_range=(0, 1))])
    theirs = keras.layers.Pipeline([keras.layers.Rescaling(1 / 255),
                                    keras.layers.RandomBrightness((0.2, 0.2), value_range=(0, 1)),
                                    keras.layers.RandomContrast((-0.5, 0.5), value_range=(0, 1))])
    close(ours(x), theirs(x), 1e-5)  # called on its own: training
    close(ours(x, training=False), theirs(x, training=False), 1e-6)
    assert ours.compute_output_shape((None, 6, 7, 3)) == (None, 6, 7, 3)
    crop = L.Pipeline([L.RandomCrop(4, 5), L.Resizing(8, 8)])
    assert crop.compute_output_shape((None, 6, 7, 3)) == (None, 8, 8, 3) and crop(x).shape == (4, 8, 8, 3)
    mixed = L.Pipeline([L.RandomErasing(), L.MixUp()])({"images": x, "labels": one_hot(4)})  # dicts pass along
    assert mixed["images"].shape == x.shape and torch.allclose(mixed["labels"].sum(1), torch.ones(4))
    # configs: Keras' keys, and a Keras pipeline's config loads
    config = ours.get_config()
    assert set(config) == set(theirs.get_config()) == {"layers", "name"}
    again = L.Pipeline.from_config(config)
    assert [type(layer).__name__ for layer in again.layers] == ["Rescaling", "RandomBrightness", "RandomContrast"]
    close(again(x), ours(x), 1e-6)
    from_keras = L.Pipeline.from_config(theirs.get_config())
    close(from_keras(x), theirs(x), 1e-5)


def test_configs_match_keras_and_round_trip(keras):
    cases = [("MixUp", {"alpha": 0.4, "seed": 2}), ("CutMix", {"factor": (0.8, 0.2)}),
             ("RandomErasing", {"factor": 0.5, "scale": 0.3, "fill_value": [1.0, 2.0, 3.0], "value_range": (0, 1)}),
             ("RandomGaussianBlur", {"kernel_size": 5, "sigma": (0.5, 2.0), "factor": 0.7}),
             ("RandomPerspective", {"scale": 0.5, "interpolation": "nearest", "fill_value": 2.0}),
             ("RandomElasticTransform", {"scale": 0.4, "fill_mode": "mirror", "factor": (0.2, 0.6)})]
    x = images((2, 8, 8, 3))
    for name, kwargs in cases:
        ours, theirs = getattr(L, name)(**kwargs), getattr(keras.layers, name)(**kwargs)
        config, keras_config = ours.get_config(), theirs.get_config()
        assert list(config) == list(keras_config), name  # Keras' keys in Keras' order, the policy too
        for key, value in keras_config.items():
            if key != "name":
                expected = list(value) if isinstance(value, tuple) else value
                assert config[key] == expected, (name, key)
        again = getattr(L, name).from_config(config)
        assert again.get_config() == config, name
        assert getattr(L, name).from_config({**keras_config, "name": "from_keras"}).get_config() == \
            {**config, "name": "from_keras"}, name
        seeded = getattr(L, name).from_config({**config, "seed": 9})
        twin = getattr(L, name).from_config(seeded.get_config())
        assert torch.equal(seeded(x), twin(x)), name


def test_bad_inputs():
    bad = [(L.MixUp, {"alpha": 0.0}, "MixUp alpha must be a positive number"),
           (L.CutMix, {"factor": 1.5}, r"CutMix factor .*\[0, 1\], got factor=1.5"),
           (L.CutMix, {"factor": (0.1, 0.2, 0.3)}, "CutMix factor"),
           (L.RandomErasing, {"scale": -0.1}, "RandomErasing scale"),
           (L.RandomErasing, {"fill_value": [1, 2]}, "RandomErasing fill_value"),
           (L.RandomErasing, {"value_range": (255, 0)}, "value_range"),
           (L.RandomGaussianBlur, {"kernel_size": 4}, "kernel_size must be a positive odd integer"),
           (L.RandomGaussianBlur, {"sigma": 2.0}, r"RandomGaussianBlur sigma .*\[0, 1\]"),
           (L.RandomPerspective, {"scale": 1.5}, r"RandomPerspective scale must be a number in \[0, 1\]"),
           (L.RandomPerspective, {"interpolation": "bicubic"}, "interpolation must be one of"),
           (L.RandomElasticTransform, {"fill_mode": "edge"}, "fill_mode must be one of"),
           (L.RandomElasticTransform, {"scale": (2, 3)}, "RandomElasticTransform scale"),
           (L.MixUp, {"data_format": "channels_middle"}, "data_format must be .* 'channels_first', received")]
    for cls, kwargs, message in bad:
        with pytest.raises(ValueError, match=message):
            cls(**kwargs)
    with pytest.raises(ValueError, match=r"mix_up.*\(MixUp\) expected an image .*\(4, 4\)"):
        L.MixUp()(np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"expected 'images' .*\(2, 1, 4, 4, 3\)"):
        L.CutMix()({"images": np.zeros((2, 1, 4, 4, 3)), "labels": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="an 'images' entry"):
        L.RandomErasing()({"image": np.zeros((2, 4, 4, 3))})
    with pytest.raises(ValueError, match="bounding_boxes"):
        L.RandomPerspective()({"images": np.zeros((2, 4, 4, 3)), "bounding_boxes": np.zeros((2, 1, 4))})
    with pytest.raises(ValueError, match="three channels, but the images have 1"):
        L.RandomErasing(fill_value=[1, 2, 3])(np.zeros((2, 4, 4, 1)))
    with pytest.raises(ValueError, match=r"layers\[1\] is 'flip'"):
        L.Pipeline([L.RandomFlip(), "flip"])
    with pytest.raises(ValueError, match="must hold 'layers'"):
        L.Pipeline.from_config({"name": "p"})
