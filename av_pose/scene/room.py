"""A shoebox room: geometry and appearance as plain data.

World frame: z up; the room occupies [0, Lx]×[0, Ly]×[0, Lz] metres. Its six faces are named after the
plane they lie on: 'x0' (x = 0), 'x1' (x = Lx), 'y0', 'y1', 'floor' (z = 0) and 'ceiling' (z = Lz).
Furniture are axis-aligned boxes standing inside; posters are photo rectangles on the four walls.
Textures are referred to by (kind, seed), so a room serialises to a small JSON-able dict.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from av_pose.errors import UserInputError
from av_pose.scene.textures import POSTER_PHOTOS, TEXTURE_KINDS, poster_aspect

FACE_NAMES = ('x0', 'x1', 'y0', 'y1', 'floor', 'ceiling')
WALL_NAMES = FACE_NAMES[:4]


class SceneConfigError(UserInputError):
    """A room description that cannot be used (unknown texture, box outside the room, missing key...)."""


@dataclass(frozen=True)
class Surface:
    """Appearance of a face.

    Texture `kind` (see textures.TEXTURE_KINDS), its `seed`, and `scale_m`, the side length in metres that
    one tile of the (periodic) texture covers.
    """

    kind: str
    seed: int
    scale_m: float

    def __post_init__(self) -> None:
        if self.kind not in TEXTURE_KINDS:
            raise SceneConfigError(f'unknown texture kind {self.kind!r}; choose from {", ".join(TEXTURE_KINDS)}')
        if not self.scale_m > 0:
            raise SceneConfigError(f'texture scale must be positive, got {self.scale_m} m')


@dataclass(frozen=True)
class Box:
    """Axis-aligned box (furniture) from corner `min_m` to corner `max_m` (world metres).

    All six faces share `surface`.
    """

    min_m: tuple[float, float, float]
    max_m: tuple[float, float, float]
    surface: Surface

    def __post_init__(self) -> None:
        object.__setattr__(self, 'min_m', tuple(float(v) for v in self.min_m))
        object.__setattr__(self, 'max_m', tuple(float(v) for v in self.max_m))


@dataclass(frozen=True)
class Poster:
    """A photograph (`photo` in textures.POSTER_PHOTOS) hung on wall `wall` (one of WALL_NAMES).

    `center_m` is the poster centre along the wall (the world y coordinate on walls x0/x1, x on y0/y1),
    `center_z_m` its height; `width_m` × `height_m` its size. Seen from inside, the photo is upright and
    not mirrored.
    """

    photo: str
    wall: str
    center_m: float
    center_z_m: float
    width_m: float
    height_m: float


@dataclass(frozen=True)
class Room:
    """A textured shoebox with furniture and posters.

    Attributes:
        size_m: (Lx, Ly, Lz) in metres.
        faces: Six Surfaces in FACE_NAMES order.
        boxes: Furniture boxes, inside the room.
        posters: Posters on the walls.
        rt60_s: Reverberation time in seconds for the acoustic simulation (the audio side maps it to
            wall materials).
    """

    size_m: tuple[float, float, float]
    faces: tuple[Surface, ...]
    boxes: tuple[Box, ...] = field(default=())
    posters: tuple[Poster, ...] = field(default=())
    rt60_s: float = 0.4

    def __post_init__(self) -> None:
        # Tuples throughout keep rooms hashable (renderers are cached per room) and comparable.
        for name in ('size_m', 'faces', 'boxes', 'posters'):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        size = np.asarray(self.size_m, dtype=np.float64)
        if size.shape != (3,) or not np.all(size > 0):
            raise SceneConfigError(f'room size must be three positive lengths in metres, got {self.size_m}')
        if len(self.faces) != len(FACE_NAMES):
            raise SceneConfigError(f'a room needs {len(FACE_NAMES)} face surfaces, got {len(self.faces)}')
        if not self.rt60_s > 0:
            raise SceneConfigError(f'rt60 must be positive, got {self.rt60_s} s')
        for box in self.boxes:
            lo, hi = np.asarray(box.min_m, dtype=np.float64), np.asarray(box.max_m, dtype=np.float64)
            if lo.shape != (3,) or hi.shape != (3,) or np.any(lo >= hi) or np.any(lo < 0) or np.any(hi > size):
                raise SceneConfigError(f'box {box.min_m}..{box.max_m} is empty or not inside the room {self.size_m}')
        for poster in self.posters:
            self._check_poster(poster, size)

    @staticmethod
    def _check_poster(poster: Poster, size: np.ndarray) -> None:
        if poster.photo not in POSTER_PHOTOS:
            raise SceneConfigError(f'unknown poster photo {poster.photo!r}; choose from {", ".join(POSTER_PHOTOS)}')
        if poster.wall not in WALL_NAMES:
            raise SceneConfigError(f'a poster hangs on one of {", ".join(WALL_NAMES)}, got {poster.wall!r}')
        length = size[1] if poster.wall.startswith('x') else size[0]
        half_w, half_h = poster.width_m / 2, poster.height_m / 2
        if (half_w <= 0 or half_h <= 0 or poster.center_m - half_w < 0 or poster.center_m + half_w > length
                or poster.center_z_m - half_h < 0 or poster.center_z_m + half_h > size[2]):
            raise SceneConfigError(f'poster {poster.photo!r} does not fit on wall {poster.wall}')

    @property
    def center_m(self) -> np.ndarray:
        """Centre of the room (3,) in world metres."""
        return 0.5 * np.asarray(self.size_m, dtype=np.float64)

    def is_free(self, points_m, margin_m: float = 0.0) -> np.ndarray:
        """Mask (...,) of points (..., 3) at least `margin_m` inside the walls and away from every box.

        The distance to a box is measured per axis (the boxes are inflated by the margin).
        """
        points = np.asarray(points_m, dtype=np.float64)
        size = np.asarray(self.size_m, dtype=np.float64)
        free = np.all((points >= margin_m) & (points <= size - margin_m), axis=-1)
        for box in self.boxes:
            inside = np.all((points > np.asarray(box.min_m) - margin_m)
                            & (points < np.asarray(box.max_m) + margin_m), axis=-1)
            free &= ~inside
        return free

    def to_dict(self) -> dict:
        """Plain-data (JSON-able) form; `Room.from_dict(room.to_dict()) == room`."""
        return {'dims_m': [float(v) for v in self.size_m],  # the scene format's key for the size
                'faces': {name: asdict(surface) for name, surface in zip(FACE_NAMES, self.faces)},
                'boxes': [{'min_m': [float(v) for v in b.min_m], 'max_m': [float(v) for v in b.max_m],
                           'surface': asdict(b.surface)} for b in self.boxes],
                'posters': [asdict(p) for p in self.posters],
                'rt60_s': float(self.rt60_s)}

    @classmethod
    def from_dict(cls, data: dict) -> Room:
        """Inverse of to_dict; raises SceneConfigError on missing or malformed entries."""
        try:
            faces = tuple(_surface(data['faces'][name]) for name in FACE_NAMES)
            boxes = tuple(Box(b['min_m'], b['max_m'], _surface(b['surface'])) for b in data.get('boxes', []))
            posters = tuple(Poster(str(p['photo']), str(p['wall']), float(p['center_m']), float(p['center_z_m']),
                                   float(p['width_m']), float(p['height_m'])) for p in data.get('posters', []))
            return cls(tuple(float(v) for v in data['dims_m']), faces, boxes, posters, float(data['rt60_s']))
        except (KeyError, TypeError, ValueError) as error:
            if isinstance(error, SceneConfigError):
                raise
            raise SceneConfigError(f'malformed room description: {type(error).__name__}: {error}') from None

    @classmethod
    def random(cls, rng: np.random.Generator, size_range_m=((4.0, 9.0), (3.0, 7.0), (2.5, 3.5)),
               max_boxes: int = 3, max_posters: int = 4, rt60_range_s=(0.2, 0.6),
               clear_radius_m: float = 0.8) -> Room:
        """Sample a room.

        Uniform dimensions in `size_range_m`, random textures, 0..max_boxes boxes on the floor (none within
        `clear_radius_m` of the centre, so the middle of the room stays free for the camera), 1..max_posters
        posters, and rt60 uniform in `rt60_range_s`.
        """
        size = np.array([rng.uniform(lo, hi) for lo, hi in size_range_m])
        faces = tuple(_random_surface(rng, scale_range_m=(1.0, 3.0)) for _ in FACE_NAMES)
        boxes: list[Box] = []
        for _ in range(int(rng.integers(0, max_boxes + 1))):
            box = _random_box(rng, size, boxes, clear_radius_m)
            if box is not None:
                boxes.append(box)
        posters: list[Poster] = []
        for _ in range(int(rng.integers(min(1, max_posters), max_posters + 1))):
            poster = _random_poster(rng, size, posters)
            if poster is not None:
                posters.append(poster)
        rt60 = rng.uniform(*rt60_range_s)
        return cls(tuple(float(v) for v in size), faces, tuple(boxes), tuple(posters), float(rt60))


def _surface(data: dict) -> Surface:
    return Surface(str(data['kind']), int(data['seed']), float(data['scale_m']))


def _random_surface(rng: np.random.Generator, scale_range_m: tuple[float, float]) -> Surface:
    kind = TEXTURE_KINDS[int(rng.integers(len(TEXTURE_KINDS)))]
    return Surface(kind, int(rng.integers(0, 2**31 - 1)), float(rng.uniform(*scale_range_m)))


def _random_box(rng: np.random.Generator, size: np.ndarray, others: list[Box], clear_radius_m: float,
                tries: int = 20) -> Box | None:
    """A box on the floor that overlaps no other box (0.3 m gap) and keeps clear of the room centre."""
    for _ in range(tries):
        footprint = rng.uniform(0.4, 1.6, size=2)
        height = rng.uniform(1.6, 2.1) if rng.random() < 0.2 else rng.uniform(0.4, 1.2)
        if np.any(footprint >= size[:2] / 2) or height >= size[2] - 0.3:
            continue
        lo_xy = rng.uniform(0.0, size[:2] - footprint)
        if rng.random() < 0.5:  # push against the nearest wall along one axis
            axis = int(rng.integers(2))
            lo_xy[axis] = 0.0 if lo_xy[axis] < (size[axis] - footprint[axis]) / 2 else size[axis] - footprint[axis]
        lo = np.array([lo_xy[0], lo_xy[1], 0.0])
        # min(): a box pushed against the far wall must not poke through it by a rounding error
        hi = np.minimum(np.array([lo_xy[0] + footprint[0], lo_xy[1] + footprint[1], height]), size)
        gap_to_centre = np.maximum(np.maximum(lo[:2] - size[:2] / 2, size[:2] / 2 - hi[:2]), 0.0)
        if np.hypot(*gap_to_centre) < clear_radius_m:
            continue
        if any(np.all(lo[:2] < np.asarray(b.max_m[:2]) + 0.3) and np.all(hi[:2] > np.asarray(b.min_m[:2]) - 0.3)
               for b in others):
            continue
        return Box(lo, hi, _random_surface(rng, scale_range_m=(0.5, 1.5)))
    return None


def _random_poster(rng: np.random.Generator, size: np.ndarray, others: list[Poster],
                   tries: int = 20) -> Poster | None:
    """A poster on a random wall, 0.8–1.8 m wide, centred 1.1–1.9 m high, overlapping no other poster."""
    for _ in range(tries):
        photo = POSTER_PHOTOS[int(rng.integers(len(POSTER_PHOTOS)))]
        wall = WALL_NAMES[int(rng.integers(len(WALL_NAMES)))]
        width = rng.uniform(0.8, 1.8)
        height = width / poster_aspect(photo)
        length = size[1] if wall.startswith('x') else size[0]
        if width > length - 0.2 or height > size[2] - 0.4:
            continue
        center = rng.uniform(0.1 + width / 2, length - 0.1 - width / 2)
        center_z = float(np.clip(rng.uniform(1.1, 1.9), 0.2 + height / 2, size[2] - 0.2 - height / 2))
        if any(p.wall == wall and abs(p.center_m - center) < (p.width_m + width) / 2
               and abs(p.center_z_m - center_z) < (p.height_m + height) / 2 for p in others):
            continue
        return Poster(photo, wall, float(center), center_z, float(width), float(height))
    return None
