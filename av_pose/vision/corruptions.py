"""The corrupted-vision test set: Gaussian blur, Gaussian noise and colour jitter, reproducible by seed.

Images are H×W×3 uint8 RGB arrays; outputs are the same. Internally pixels are float in [0, 1].

Kinds:
- 'mixed': per frame a uniformly drawn non-empty subset of {blur, noise, jitter} (the paper's set);
- 'blur', 'noise', 'jitter': one type only (the per-corruption table).
Chosen types are applied in the fixed order jitter → blur → noise (photometric change, optics, sensor).

Severity s ∈ [0, 1] maps linearly from mild (0) to extreme (1); with `severity=None` every type (and
every jitter component) draws its own s ~ U(0, 1) per frame. Strength ranges at s = 0 … 1:
- blur: σ = 0.5 … 8 px at a 256-px short side (scaled with the short side), separable Gaussian kernel;
- noise: σ = 0.02 … 0.5 of full scale (≈ 5 … 128 grey levels), additive, then clipped;
- jitter (order shuffled per frame, as torchvision's ColorJitter does): brightness factor 1 ± (0.1 … 0.8),
  contrast factor 1 ± (0.1 … 0.8), saturation factor 1 ± (0.1 … 1.0) (0 = grey), hue shift
  ±(0.02 … 0.5) turn (0.5 turn = 180°); the sign of each is drawn at random.
The returned params dict records everything drawn, so a test set can be logged and audited.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np
from scipy.ndimage import convolve1d

from av_pose.errors import UserInputError

CORRUPTION_TYPES = ('blur', 'noise', 'jitter')
CORRUPTION_KINDS = ('mixed',) + CORRUPTION_TYPES
APPLY_ORDER = ('jitter', 'blur', 'noise')
JITTER_COMPONENTS = ('brightness', 'contrast', 'saturation', 'hue')

BLUR_SIGMA_PX_AT_256 = (0.5, 8.0)
NOISE_STD = (0.02, 0.5)
JITTER_DEVIATION = {'brightness': (0.1, 0.8), 'contrast': (0.1, 0.8), 'saturation': (0.1, 1.0),
                    'hue': (0.02, 0.5)}
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, as torchvision's rgb_to_grayscale

Seed = Union[int, Sequence[int]]


class CorruptionError(UserInputError):
    """A corruption request that cannot be carried out (unknown kind, bad severity, bad image)."""


def _lerp(bounds: tuple[float, float], severity: float) -> float:
    return bounds[0] + (bounds[1] - bounds[0]) * severity


def _check_kind_and_severity(kind: str, severity: float | None) -> None:
    if kind not in CORRUPTION_KINDS:
        choices = ', '.join(CORRUPTION_KINDS)
        raise CorruptionError(f'unknown corruption kind {kind!r}; choose one of {choices}')
    if severity is not None and not 0.0 <= severity <= 1.0:
        raise CorruptionError(f'severity must lie in [0, 1] or be None, got {severity}')


def _check_image(image) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise CorruptionError(f'corruptions need an H×W×3 uint8 RGB image, got {image.dtype} {image.shape}')
    return image


# --- primitive operations on float images in [0, 1] -------------------------------------------------

def gaussian_kernel(sigma_px: float) -> np.ndarray:
    """Normalised 1-D Gaussian kernel with standard deviation `sigma_px`, truncated at 4σ."""
    radius = max(1, int(np.ceil(4.0 * sigma_px)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma_px) ** 2)
    return kernel / kernel.sum()


def gaussian_blur(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Blur an H×W×C float image with a separable Gaussian (rows then columns, reflected borders)."""
    if sigma_px <= 0:
        return image.copy()
    kernel = gaussian_kernel(sigma_px)
    return convolve1d(convolve1d(image, kernel, axis=0, mode='reflect'), kernel, axis=1, mode='reflect')


def add_gaussian_noise(image: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """Add i.i.d. Gaussian noise of standard deviation `std` (fraction of full scale), clip to [0, 1]."""
    return np.clip(image + rng.normal(0.0, std, size=image.shape), 0.0, 1.0)


def grayscale(image: np.ndarray) -> np.ndarray:
    """Luma (BT.601) of an H×W×3 float image, shape H×W×1."""
    return (image @ LUMA_WEIGHTS)[..., None]


def adjust_brightness(image: np.ndarray, factor: float) -> np.ndarray:
    """Scale all pixels by `factor` (0 = black, 1 = unchanged), clip to [0, 1]."""
    return np.clip(image * factor, 0.0, 1.0)


def adjust_contrast(image: np.ndarray, factor: float) -> np.ndarray:
    """Blend with the image's mean grey level (0 = flat grey, 1 = unchanged), clip to [0, 1]."""
    mean = float(grayscale(image).mean())
    return np.clip(mean + factor * (image - mean), 0.0, 1.0)


def adjust_saturation(image: np.ndarray, factor: float) -> np.ndarray:
    """Blend with the image's own grayscale (0 = grey, 1 = unchanged, >1 = more vivid), clip to [0, 1]."""
    gray = grayscale(image)
    return np.clip(gray + factor * (image - gray), 0.0, 1.0)


def rgb_to_hsv(image: np.ndarray) -> np.ndarray:
    """H×W×3 RGB in [0, 1] → HSV with hue in turns [0, 1), saturation and value in [0, 1]."""
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    value = image.max(axis=-1)
    delta = value - image.min(axis=-1)
    safe_delta = np.where(delta > 0, delta, 1.0)
    hue_sector = np.where(value == r, np.mod((g - b) / safe_delta, 6.0),
                          np.where(value == g, (b - r) / safe_delta + 2.0, (r - g) / safe_delta + 4.0))
    hue = np.where(delta > 0, hue_sector / 6.0, 0.0)
    saturation = np.where(value > 0, delta / np.where(value > 0, value, 1.0), 0.0)
    return np.stack([hue, saturation, value], axis=-1)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """Inverse of rgb_to_hsv (hue in turns, any real value; it is taken modulo 1)."""
    hue, saturation, value = np.mod(hsv[..., 0], 1.0), hsv[..., 1], hsv[..., 2]
    sector = np.floor(hue * 6.0)
    fraction = hue * 6.0 - sector
    p = value * (1.0 - saturation)
    q = value * (1.0 - saturation * fraction)
    t = value * (1.0 - saturation * (1.0 - fraction))
    sector = sector.astype(int) % 6
    choices = [np.stack(c, axis=-1) for c in ((value, t, p), (q, value, p), (p, value, t),
                                             (p, q, value), (t, p, value), (value, p, q))]
    return np.choose(sector[..., None], choices)


def adjust_hue(image: np.ndarray, shift_turns: float) -> np.ndarray:
    """Rotate the hue by `shift_turns` of a full turn (0.5 = 180°: red → cyan)."""
    hsv = rgb_to_hsv(image)
    hsv[..., 0] += shift_turns
    return hsv_to_rgb(hsv)


_JITTER_OPS = {'brightness': adjust_brightness, 'contrast': adjust_contrast,
               'saturation': adjust_saturation, 'hue': adjust_hue}


# --- sampling and applying a corruption ---------------------------------------------------------------

def _severity(severity: float | None, rng: np.random.Generator) -> float:
    return float(rng.uniform(0.0, 1.0)) if severity is None else float(severity)


def _sample_jitter(rng: np.random.Generator, severity: float | None) -> dict:
    params: dict = {'order': [JITTER_COMPONENTS[i] for i in rng.permutation(len(JITTER_COMPONENTS))]}
    for name in JITTER_COMPONENTS:
        strength = _severity(severity, rng)
        deviation = _lerp(JITTER_DEVIATION[name], strength) * rng.choice([-1.0, 1.0])
        params[name] = deviation if name == 'hue' else max(0.0, 1.0 + deviation)
        params[f'{name}_severity'] = strength
    return params


def sample_corruption(kind: str, rng: np.random.Generator, severity: float | None = None,
                      short_side_px: int = 256) -> dict:
    """Draw the parameters of one corruption of `kind` (see module doc); JSON-serialisable dict."""
    _check_kind_and_severity(kind, severity)
    if kind == 'mixed':
        mask = int(rng.integers(1, 2 ** len(CORRUPTION_TYPES)))  # uniform over the 7 non-empty subsets
        chosen = {name for bit, name in enumerate(CORRUPTION_TYPES) if mask >> bit & 1}
    else:
        chosen = {kind}
    params: dict = {'kind': kind, 'applied': [name for name in APPLY_ORDER if name in chosen]}
    for name in params['applied']:
        if name == 'jitter':
            params['jitter'] = _sample_jitter(rng, severity)
            continue
        strength = _severity(severity, rng)
        if name == 'blur':
            params['blur'] = {'sigma_px': _lerp(BLUR_SIGMA_PX_AT_256, strength) * short_side_px / 256.0,
                              'severity': strength}
        else:
            params['noise'] = {'std': _lerp(NOISE_STD, strength), 'severity': strength}
    return params


def apply_corruption(image: np.ndarray, params: dict, rng: np.random.Generator) -> np.ndarray:
    """Apply drawn `params` to a float H×W×3 image in [0, 1]; `rng` supplies the noise samples."""
    out = image
    for name in params['applied']:
        if name == 'jitter':
            for component in params['jitter']['order']:
                out = _JITTER_OPS[component](out, params['jitter'][component])
        elif name == 'blur':
            out = gaussian_blur(out, params['blur']['sigma_px'])
        else:
            out = add_gaussian_noise(out, params['noise']['std'], rng)
    return out


def corrupt(image: np.ndarray, kind: str, seed: Seed,
            severity: float | None = None) -> tuple[np.ndarray, dict]:
    """Corrupt one H×W×3 uint8 image; the same (image, kind, seed, severity) always gives the same result.

    Args:
        image: H×W×3 uint8 RGB.
        kind: 'mixed' | 'blur' | 'noise' | 'jitter'.
        seed: Seed of the numpy Generator (an int, or a sequence such as [base_seed, frame_index]).
        severity: Strength in [0, 1] (0 mild, 1 extreme), or None to draw it at random per type.

    Returns:
        (corrupted H×W×3 uint8 image, params dict as drawn by `sample_corruption`).
    """
    image = _check_image(image)
    rng = np.random.default_rng(seed)
    params = sample_corruption(kind, rng, severity, short_side_px=min(image.shape[:2]))
    out = apply_corruption(image.astype(np.float64) / 255.0, params, rng)
    return np.round(np.clip(out, 0.0, 1.0) * 255.0).astype(np.uint8), params


@dataclass(frozen=True)
class CorruptionSpec:
    """A corrupted test set: the kind, a base seed and an optional fixed severity.

    Frame `i` is corrupted with the Generator seeded by [base_seed, i], so any frame can be reproduced alone.
    """

    kind: str = 'mixed'
    base_seed: int = 0
    severity: float | None = None

    def __post_init__(self) -> None:
        _check_kind_and_severity(self.kind, self.severity)
        if int(self.base_seed) < 0:
            raise CorruptionError(f'base_seed must be non-negative, got {self.base_seed}')

    def frame_seed(self, frame_index: int) -> list[int]:
        """Seed of frame `frame_index`: [base_seed, frame_index]."""
        return [int(self.base_seed), int(frame_index)]

    def apply(self, image: np.ndarray, frame_index: int) -> tuple[np.ndarray, dict]:
        """Corrupt frame `frame_index`; returns (uint8 image, params with 'seed' added)."""
        seed = self.frame_seed(frame_index)
        out, params = corrupt(image, self.kind, seed, self.severity)
        params['seed'] = seed
        return out, params
