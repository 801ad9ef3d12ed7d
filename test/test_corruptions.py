import itertools
import json

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from av_pose.vision.corruptions import (
    APPLY_ORDER,
    CORRUPTION_TYPES,
    CorruptionError,
    CorruptionSpec,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    corrupt,
    gaussian_blur,
    gaussian_kernel,
    hsv_to_rgb,
    rgb_to_hsv,
)


@pytest.fixture(scope='module')
def textured_image():
    """128×128 RGB image of random 2×2-pixel colour blocks: plenty of structure at every scale above a pixel."""
    blocks = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3))
    return np.kron(blocks, np.ones((2, 2, 1))).astype(np.uint8)


def correlation(a, b):
    return np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1]


def gradient_energy(image):
    return np.mean(np.diff(image, axis=0) ** 2) + np.mean(np.diff(image, axis=1) ** 2)


def test_same_seed_same_result_different_seed_different(textured_image):
    first, params_first = corrupt(textured_image, 'mixed', seed=7)
    again, params_again = corrupt(textured_image, 'mixed', seed=7)
    assert np.array_equal(first, again) and params_first == params_again
    others = [corrupt(textured_image, 'mixed', seed=s)[0] for s in range(8, 12)]
    assert all(not np.array_equal(first, other) for other in others)
    assert first.dtype == np.uint8 and first.shape == textured_image.shape
    json.dumps(params_first)  # params can be logged as they are


def test_spec_seeds_each_frame_from_base_seed_and_index(textured_image):
    spec = CorruptionSpec('noise', base_seed=3, severity=0.5)
    frame_5, params = spec.apply(textured_image, 5)
    assert params['seed'] == [3, 5]
    assert np.array_equal(frame_5, corrupt(textured_image, 'noise', [3, 5], 0.5)[0])
    assert np.array_equal(frame_5, spec.apply(textured_image, 5)[0])
    assert not np.array_equal(frame_5, spec.apply(textured_image, 6)[0])
    assert not np.array_equal(frame_5, CorruptionSpec('noise', base_seed=4, severity=0.5).apply(textured_image, 5)[0])


def test_blur_kernel_and_reference_filter():
    kernel = gaussian_kernel(2.0)
    assert kernel.sum() == pytest.approx(1.0) and len(kernel) == 17 and np.allclose(kernel, kernel[::-1])
    image = np.random.default_rng(1).random((40, 50, 3))
    expected = np.stack([gaussian_filter(image[..., c], 2.0, mode='reflect', truncate=4.0) for c in range(3)], -1)
    assert np.allclose(gaussian_blur(image, 2.0), expected, atol=1e-12)
    flat = np.full((20, 20, 3), 0.3)
    assert np.allclose(gaussian_blur(flat, 3.0), 0.3)


def test_blur_removes_high_frequencies_monotonically():
    image = np.random.default_rng(2).random((96, 96, 3))
    energies = [gradient_energy(image)] + [gradient_energy(gaussian_blur(image, s)) for s in (0.5, 1, 2, 4, 8)]
    assert all(later < earlier for earlier, later in itertools.pairwise(energies))
    assert energies[-1] < 1e-3 * energies[0]


def test_noise_std_matches_the_drawn_parameter():
    grey = np.full((256, 256, 3), 128, dtype=np.uint8)
    for severity in (0.0, 0.2):
        noisy, params = corrupt(grey, 'noise', seed=11, severity=severity)
        difference = (noisy.astype(float) - 128.0) / 255.0
        assert params['applied'] == ['noise']
        assert np.std(difference) == pytest.approx(params['noise']['std'], rel=0.03)
        assert abs(np.mean(difference)) < 0.003


def test_colour_jitter_primitives():
    rng = np.random.default_rng(3)
    image = rng.uniform(0.1, 0.6, size=(16, 16, 3))
    assert np.allclose(adjust_brightness(image, 0.5), image * 0.5)
    assert np.allclose(adjust_brightness(image, 1.0), image)
    flat = adjust_contrast(image, 0.0)
    assert np.allclose(flat, flat[0, 0, 0])
    assert np.std(adjust_contrast(image, 1.5)) > np.std(image)
    grey = adjust_saturation(image, 0.0)
    assert np.allclose(grey[..., 0], grey[..., 1]) and np.allclose(grey[..., 1], grey[..., 2])
    assert np.allclose(adjust_saturation(image, 1.0), image)
    assert np.allclose(hsv_to_rgb(rgb_to_hsv(image)), image)
    assert np.allclose(adjust_hue(image, 1.0), image)
    primaries = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])
    assert np.allclose(adjust_hue(primaries, 0.5), [[[0, 1, 1], [1, 0, 1], [1, 1, 0]]])  # red → cyan, …
    assert np.allclose(adjust_hue(primaries, 1.0 / 3.0), [[[0, 1, 0], [0, 0, 1], [1, 0, 0]]])  # 120°: r → g


def test_mixed_set_draws_every_non_empty_subset():
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    subsets = [tuple(corrupt(image, 'mixed', seed=s)[1]['applied']) for s in range(300)]
    assert all(subsets)  # never the empty set
    assert all(list(subset) == [t for t in APPLY_ORDER if t in subset] for subset in subsets)
    counts = {subset: subsets.count(subset) for subset in set(subsets)}
    assert len(counts) == 7  # all 2³ − 1 combinations
    assert min(counts.values()) > 15  # roughly uniform (expected 300 / 7 ≈ 43 each)
    for kind in CORRUPTION_TYPES:
        assert all(corrupt(image, kind, seed=s)[1]['applied'] == [kind] for s in range(20))


def test_random_severity_spans_mild_to_extreme():
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    sigmas = [corrupt(image, 'blur', seed=s)[1]['blur']['severity'] for s in range(200)]
    assert min(sigmas) < 0.05 and max(sigmas) > 0.95
    jitter = corrupt(image, 'jitter', seed=1, severity=1.0)[1]['jitter']
    assert sorted(jitter['order']) == sorted(['brightness', 'contrast', 'saturation', 'hue'])
    assert abs(jitter['hue']) == pytest.approx(0.5) and jitter['saturation'] in (0.0, 2.0)


@pytest.mark.parametrize('kind', CORRUPTION_TYPES)
def test_structure_degrades_with_severity(kind, textured_image):
    correlations = [np.mean([correlation(corrupt(textured_image, kind, seed=s, severity=severity)[0],
                                         textured_image) for s in range(4)])
                    for severity in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert correlations[0] > 0.95
    if kind != 'jitter':  # jitter draws random directions, so only its end points are ordered
        assert all(later < earlier for earlier, later in itertools.pairwise(correlations))
    assert correlations[-1] < 0.6


def test_extreme_mixed_corruption_destroys_structure(textured_image):
    seeds = [s for s in range(60) if len(corrupt(textured_image[:4, :4], 'mixed', s, 1.0)[1]['applied']) == 3]
    assert seeds
    for seed in seeds[:3]:
        out, _ = corrupt(textured_image, 'mixed', seed, severity=1.0)
        assert abs(correlation(out, textured_image)) < 0.2


def test_bad_requests_raise_corruption_error(textured_image):
    with pytest.raises(CorruptionError):
        corrupt(textured_image.astype(float), 'blur', 0)
    with pytest.raises(CorruptionError):
        corrupt(textured_image[..., 0], 'blur', 0)
    with pytest.raises(CorruptionError):
        corrupt(textured_image, 'fog', 0)
    with pytest.raises(CorruptionError):
        corrupt(textured_image, 'noise', 0, severity=1.5)
    with pytest.raises(CorruptionError):
        CorruptionSpec('mixed', base_seed=-1)
