"""Procedural textures and photo posters for the synthetic rooms, and bilinear texture lookup.

A texture is a square S×S×3 float32 array with values in [0, 1] (row 0 at the top). Procedural kinds tile
seamlessly (they are periodic in both directions) and carry structure at several scales, so that feature
matchers find corners at any viewing distance. Everything is deterministic given (kind, seed, size).
Posters are the colour photographs that ship inside the scikit-image wheel (no download at run time).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from av_pose.errors import UserInputError

TEXTURE_KINDS = ('noise', 'bricks', 'tiles', 'blobs', 'photo_brick', 'photo_gravel', 'photo_grass')
"""noise: multi-octave value noise through a random colour ramp; bricks: running-bond brickwork with
mortar; tiles: a checkerboard of shaded tiles with grout; blobs: coloured soft discs on noise;
photo_*: the greyscale texture photographs of scikit-image, tinted."""

POSTER_PHOTOS = ('astronaut', 'coffee', 'chelsea', 'rocket', 'immunohistochemistry', 'hubble_deep_field',
                 'motorcycle')
"""Colour photographs bundled with scikit-image, used as posters on the walls."""


def _periodic_value_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """size×size value noise in [0, 1] on a periodic `cells`×`cells` lattice (smoothstep interpolation)."""
    lattice = rng.random((cells, cells))
    coords = np.arange(size) * (cells / size)
    i0 = np.floor(coords).astype(np.int64)
    frac = coords - i0
    w = frac * frac * (3.0 - 2.0 * frac)
    i0 %= cells
    i1 = (i0 + 1) % cells
    rows = lattice[i0] * (1.0 - w)[:, None] + lattice[i1] * w[:, None]
    return rows[:, i0] * (1.0 - w)[None, :] + rows[:, i1] * w[None, :]


def _fractal_noise(rng: np.random.Generator, size: int, base_cells: int = 4, octaves: int = 5,
                   persistence: float = 0.6) -> np.ndarray:
    """Sum of `octaves` periodic value noises, doubling the frequency each time; rescaled to [0, 1]."""
    total = np.zeros((size, size))
    for octave in range(octaves):
        cells = min(base_cells * 2**octave, size // 2)
        total += persistence**octave * _periodic_value_noise(rng, size, cells)
    return (total - total.min()) / max(np.ptp(total), 1e-12)


def _random_colours(rng: np.random.Generator, count: int) -> np.ndarray:
    """`count`×3 RGB colours with well-spread brightness in [0.1, 0.9]."""
    colours = rng.uniform(0.1, 0.9, size=(count, 3))
    colours[:, :] += (np.linspace(-0.25, 0.25, count)[rng.permutation(count)])[:, None]
    return np.clip(colours, 0.05, 0.95)


def _colour_ramp(values: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] (H×W) through a piecewise-linear ramp of K colours (K×3) to H×W×3."""
    stops = np.linspace(0.0, 1.0, len(colours))
    return np.stack([np.interp(values, stops, colours[:, c]) for c in range(3)], axis=-1)


def _noise_texture(rng: np.random.Generator, size: int) -> np.ndarray:
    base = _fractal_noise(rng, size, base_cells=int(rng.integers(2, 5)))
    detail = _fractal_noise(rng, size, base_cells=16, octaves=3)
    rgb = _colour_ramp(base, _random_colours(rng, 4))
    return rgb * (0.75 + 0.5 * detail[..., None])


def _bricks_texture(rng: np.random.Generator, size: int) -> np.ndarray:
    rows, cols = 2 * int(rng.integers(3, 6)), int(rng.integers(2, 5))
    y, x = np.mgrid[0:size, 0:size] / size
    row = np.floor(y * rows).astype(np.int64)
    shifted = x * cols + 0.5 * (row % 2)
    col = np.floor(shifted).astype(np.int64) % cols
    mortar_width = rng.uniform(0.05, 0.09)
    in_brick_y = (y * rows) % 1.0
    in_brick_x = shifted % 1.0
    mortar = ((in_brick_y < mortar_width) | (in_brick_x < mortar_width * cols / rows))
    brick_colours = _random_colours(rng, 1)[0] * rng.uniform(0.6, 1.3, size=(rows, cols, 1))
    rgb = brick_colours[row, col]
    rgb = rgb * (0.7 + 0.6 * _fractal_noise(rng, size, base_cells=8, octaves=4)[..., None])
    mortar_colour = rng.uniform(0.55, 0.85) * np.ones(3)
    return np.where(mortar[..., None], mortar_colour, rgb)


def _tiles_texture(rng: np.random.Generator, size: int) -> np.ndarray:
    cells = 2 * int(rng.integers(2, 5))
    y, x = np.mgrid[0:size, 0:size] / size
    iy, ix = np.floor(y * cells).astype(np.int64), np.floor(x * cells).astype(np.int64)
    colours = _random_colours(rng, 2)
    shade = rng.uniform(0.7, 1.2, size=(cells, cells, 1))
    rgb = np.where(((iy + ix) % 2 == 0)[..., None], colours[0], colours[1]) * shade[iy, ix]
    grout = (((y * cells) % 1.0) < 0.04) | (((x * cells) % 1.0) < 0.04)
    rgb = rgb * (0.8 + 0.4 * _fractal_noise(rng, size, base_cells=8, octaves=4)[..., None])
    return np.where(grout[..., None], 0.15, rgb)


def _blobs_texture(rng: np.random.Generator, size: int) -> np.ndarray:
    rgb = _colour_ramp(_fractal_noise(rng, size, base_cells=4), _random_colours(rng, 3))
    y, x = np.mgrid[0:size, 0:size] / size
    for _ in range(int(rng.integers(12, 24))):
        cy, cx, radius = rng.random(), rng.random(), rng.uniform(0.03, 0.12)
        dy = (y - cy + 0.5) % 1.0 - 0.5  # periodic distance keeps the texture seamless
        dx = (x - cx + 0.5) % 1.0 - 0.5
        weight = 1.0 / (1.0 + np.exp(((np.hypot(dx, dy) / radius) - 1.0) * 12.0))
        rgb = rgb * (1.0 - weight[..., None]) + _random_colours(rng, 1)[0] * weight[..., None]
    return rgb


def _resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    from skimage.transform import resize  # heavy import, only needed for photographs

    return resize(image, shape, order=1, anti_aliasing=True, mode='reflect')


def _photo_texture(rng: np.random.Generator, size: int, name: str) -> np.ndarray:
    import skimage.data

    grey = getattr(skimage.data, name)().astype(np.float64) / 255.0
    grey = _resize(grey, (size, size))
    grey = (grey - grey.min()) / max(np.ptp(grey), 1e-12)
    tint = _random_colours(rng, 1)[0]
    return (0.25 + 0.75 * grey[..., None]) * (0.4 + 0.6 * tint)


@lru_cache(maxsize=64)
def make_texture(kind: str, seed: int, size: int = 256) -> np.ndarray:
    """A seamless procedural texture: size×size×3 float32 in [0, 1], read-only, cached.

    kind is one of TEXTURE_KINDS; the same (kind, seed, size) always gives the same pixels.
    """
    if kind not in TEXTURE_KINDS:
        raise UserInputError(f'unknown texture kind {kind!r}; choose from {", ".join(TEXTURE_KINDS)}')
    if size < 16:
        raise UserInputError(f'texture size must be at least 16 texels, got {size}')
    rng = np.random.default_rng([int(seed), TEXTURE_KINDS.index(kind)])
    if kind.startswith('photo_'):
        rgb = _photo_texture(rng, size, kind.removeprefix('photo_'))
    else:
        builder = {'noise': _noise_texture, 'bricks': _bricks_texture,
                   'tiles': _tiles_texture, 'blobs': _blobs_texture}[kind]
        rgb = builder(rng, size)
    out = np.clip(rgb, 0.0, 1.0).astype(np.float32)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=16)
def _load_photo(name: str) -> np.ndarray:
    """The full-size photograph `name` (H×W×3 float32 in [0, 1])."""
    if name not in POSTER_PHOTOS:
        raise UserInputError(f'unknown poster photo {name!r}; choose from {", ".join(POSTER_PHOTOS)}')
    import skimage.data

    image = skimage.data.stereo_motorcycle()[0] if name == 'motorcycle' else getattr(skimage.data, name)()
    return (np.asarray(image)[..., :3] / 255.0).astype(np.float32)


def poster_aspect(name: str) -> float:
    """Width / height of the photograph `name` (a poster keeps this aspect ratio on the wall)."""
    height, width = _load_photo(name).shape[:2]
    return width / height


@lru_cache(maxsize=16)
def load_poster(name: str, size: int = 256) -> np.ndarray:
    """Photograph `name` resampled to size×size×3 float32 in [0, 1], read-only.

    The poster's rectangle on the wall restores the aspect ratio.
    """
    out = np.clip(_resize(_load_photo(name), (size, size)), 0.0, 1.0).astype(np.float32)
    out.setflags(write=False)
    return out


def sample_bilinear(stack: np.ndarray, index: np.ndarray, x: np.ndarray, y: np.ndarray,
                    wrap: bool) -> np.ndarray:
    """Bilinear lookup in a stack of square textures.

    Args:
        stack: n×S×S×C float32 textures (C = 4, i.e. RGB padded, gathers fastest).
        index: (N,) integer texture index per sample.
        x: (N,) continuous texel column; texel centres sit at integers.
        y: (N,) continuous texel row.
        wrap: True tiles the textures (periodic), False clamps to the border (posters).

    Returns:
        N×C float32 values.
    """
    size = stack.shape[1]
    flat = stack.reshape(-1, stack.shape[-1])
    x0 = np.floor(x)
    y0 = np.floor(y)
    fx = (x - x0).astype(np.float32)[:, None]
    fy = (y - y0).astype(np.float32)[:, None]
    x0 = x0.astype(np.int64)
    y0 = y0.astype(np.int64)
    if wrap:
        x0 %= size
        y0 %= size
        x1 = x0 + 1
        x1[x1 == size] = 0
        y1 = y0 + 1
        y1[y1 == size] = 0
    else:
        x1 = np.clip(x0 + 1, 0, size - 1)
        y1 = np.clip(y0 + 1, 0, size - 1)
        x0 = np.clip(x0, 0, size - 1)
        y0 = np.clip(y0, 0, size - 1)
    row0 = index.astype(np.int64) * (size * size) + y0 * size
    row1 = row0 + (y1 - y0) * size
    top = np.take(flat, row0 + x0, axis=0)
    top += (np.take(flat, row0 + x1, axis=0) - top) * fx
    bottom = np.take(flat, row1 + x0, axis=0)
    bottom += (np.take(flat, row1 + x1, axis=0) - bottom) * fx
    top += (bottom - top) * fy
    return top
