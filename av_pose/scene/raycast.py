"""Exact ray casting of a textured shoebox room: colour images and depth maps.

Every pixel's ray is intersected analytically with the six room planes and the furniture boxes (numpy,
vectorised over pixels, CPU). The nearest hit is textured by bilinear lookup and, optionally, shaded by a
Lambertian point light fixed in the world. Shading depends only on the world point, never on the camera, so
images of a purely rotating camera are exact homographies of each other (up to resampling).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from av_pose.errors import UserInputError
from av_pose.scene.camera import PinholeCamera
from av_pose.scene.room import FACE_NAMES, Room
from av_pose.scene.textures import load_poster, make_texture, sample_bilinear

_AMBIENT = 0.4           # shade of a surface the light does not reach
_LIGHT_FALLOFF_M = 6.0   # distance at which the direct light has dropped to half
_TINY = 1e-12            # replaces zero ray-direction components (the ray then never hits that slab)


@dataclass(frozen=True)
class Hits:
    """Nearest intersections of a batch of N rays.

    Attributes:
        t: (N,) ray parameter of the hit (the depth along the optical axis for camera rays with z = 1).
        surface: (N,) index of the surface hit: 0..5 the room faces in FACE_NAMES order, 6 + b box b.
        axis: (N,) world axis (0, 1, 2) the hit face is perpendicular to.
        normal_sign: (N,) ±1: the face normal towards the ray origin is normal_sign · e_axis.
        points: N×3 hit points in world metres.
    """

    t: np.ndarray
    surface: np.ndarray
    axis: np.ndarray
    normal_sign: np.ndarray
    points: np.ndarray


def _min_and_argmin(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum and its row index (first on ties) of a 3×N array (faster than argmin along a short axis)."""
    smallest = np.minimum(np.minimum(rows[0], rows[1]), rows[2])
    return smallest, np.where(rows[0] == smallest, 0, np.where(rows[1] == smallest, 1, 2))


def _max_and_argmax(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximum and its row index (first on ties) of a 3×N array."""
    largest = np.maximum(np.maximum(rows[0], rows[1]), rows[2])
    return largest, np.where(rows[0] == largest, 0, np.where(rows[1] == largest, 1, 2))


def intersect(room: Room, origin, directions: np.ndarray) -> Hits:
    """Nearest hits of rays from one `origin` (3,) inside the room along `directions` (N×3, any length)."""
    origin = np.asarray(origin, dtype=np.float64)
    size = np.asarray(room.size_m, dtype=np.float64)
    if not np.all((origin > 0) & (origin < size)):
        raise UserInputError(f'the camera at {np.round(origin, 3).tolist()} m is outside the room {room.size_m}')
    # 3×N layout: per-axis arithmetic runs over contiguous rows.
    d = np.ascontiguousarray(np.where(np.abs(directions) < _TINY, _TINY, directions).T)
    column = origin[:, None]
    # Inside a box the exit through the room's walls is the first plane reached on each axis.
    t, axis = _min_and_argmin((np.where(d > 0, size[:, None], 0.0) - column) / d)
    surface = 2 * axis + (np.choose(axis, d) > 0)
    for index, box in enumerate(room.boxes):
        t_lo = (np.asarray(box.min_m)[:, None] - column) / d
        t_hi = (np.asarray(box.max_m)[:, None] - column) / d
        t_enter, enter_axis = _max_and_argmax(np.minimum(t_lo, t_hi))
        t_exit, _ = _min_and_argmin(np.maximum(t_lo, t_hi))
        hit = (t_enter <= t_exit) & (t_enter > 0) & (t_enter < t)
        t = np.where(hit, t_enter, t)
        axis = np.where(hit, enter_axis, axis)
        surface = np.where(hit, len(FACE_NAMES) + index, surface)
    normal_sign = -np.sign(np.choose(axis, d))
    points = origin + t[:, None] * directions
    return Hits(t, surface, axis, normal_sign, points)


def surface_coordinates(hits: Hits) -> tuple[np.ndarray, np.ndarray]:
    """Texture coordinates (u, v) in metres of each hit on its face.

    On vertical faces u runs to the right as seen from the side the ray came from and v runs down (−z), so
    pictures are upright and not mirrored; on floor and ceiling (u, v) = (x, y).
    """
    x, y, z = hits.points.T
    s = hits.normal_sign
    u = np.where(hits.axis == 0, s * y, np.where(hits.axis == 1, -s * x, x))
    v = np.where(hits.axis == 2, y, -z)
    return u, v


class RoomRenderer:
    """Renders one room through one camera for any number of poses (textures are prepared once).

    Args:
        room: The scene.
        camera: Intrinsics of the output images.
        texture_size: Side in texels of each texture and poster.
        supersample: Rays per pixel along each axis (1 = one ray through each pixel centre); the colour is
            the mean over the sub-pixels (antialiasing).
        shading: Lambertian point light at the room centre (plus ambient) when True; flat textures otherwise.
    """

    def __init__(self, room: Room, camera: PinholeCamera, texture_size: int = 256, supersample: int = 1,
                 shading: bool = True) -> None:
        if int(supersample) != supersample or supersample < 1:
            raise UserInputError(f'supersample must be a positive integer, got {supersample}')
        self.room, self.camera, self.supersample, self.shading = room, camera, int(supersample), shading
        self._ray_camera = camera.scaled(self.supersample) if self.supersample > 1 else camera
        surfaces = list(room.faces) + [box.surface for box in room.boxes]
        keys = sorted({(s.kind, s.seed) for s in surfaces})
        self._textures = _padded_rgba([make_texture(kind, seed, texture_size) for kind, seed in keys])
        self._surface_texture = np.array([keys.index((s.kind, s.seed)) for s in surfaces])
        self._surface_texels_per_m = np.array([texture_size / s.scale_m for s in surfaces])
        if room.posters:
            self._posters = _padded_rgba([load_poster(p.photo, texture_size) for p in room.posters])
        self._light_m = room.center_m

    def cast(self, T_world_cam) -> Hits:
        """Hits of the rays through the pixel centres of the (supersampled) camera, row-major."""
        origins, directions = self._ray_camera.rays(T_world_cam, normalize=False)
        return intersect(self.room, origins[0], directions)

    def render(self, T_world_cam) -> np.ndarray:
        """H×W×3 uint8 RGB image seen from camera pose `T_world_cam` (4×4 camera-to-world)."""
        hits = self.cast(T_world_cam)
        u, v = surface_coordinates(hits)
        texels_per_m = self._surface_texels_per_m[hits.surface]
        rgb = sample_bilinear(self._textures, self._surface_texture[hits.surface], u * texels_per_m,
                              v * texels_per_m, wrap=True)
        self._paint_posters(hits, u, rgb)
        if self.shading:
            rgb *= self._shade(hits)[:, None]
        cam = self._ray_camera
        image = rgb[:, :3].reshape(cam.height, cam.width, 3)
        if self.supersample > 1:
            k = self.supersample
            image = image.reshape(self.camera.height, k, self.camera.width, k, 3).mean(axis=(1, 3))
        return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)

    def render_depth(self, T_world_cam) -> np.ndarray:
        """H×W float32 depth in metres along the optical axis (camera z) at each pixel centre."""
        return render_depth(self.room, self.camera, T_world_cam)

    def _paint_posters(self, hits: Hits, u: np.ndarray, rgb: np.ndarray) -> None:
        """Overwrite `rgb` (N×4, in place) where rays hit a poster (clamped bilinear lookup)."""
        size = self._posters.shape[1] if self.room.posters else 0
        for index, poster in enumerate(self.room.posters):
            on_wall = np.flatnonzero(hits.surface == FACE_NAMES.index(poster.wall))
            if on_wall.size == 0:
                continue
            inward_sign = 1.0 if poster.wall.endswith('0') else -1.0
            center_u = inward_sign * poster.center_m * (1.0 if poster.wall.startswith('x') else -1.0)
            across = (u[on_wall] - (center_u - poster.width_m / 2)) / poster.width_m
            down = ((poster.center_z_m + poster.height_m / 2) - hits.points[on_wall, 2]) / poster.height_m
            inside = (across >= 0) & (across <= 1) & (down >= 0) & (down <= 1)
            pixels = on_wall[inside]
            rgb[pixels] = sample_bilinear(self._posters, np.full(pixels.size, index), across[inside] * size - 0.5,
                                          down[inside] * size - 0.5, wrap=False)

    def _shade(self, hits: Hits) -> np.ndarray:
        """(N,) brightness factor of a Lambertian face under the point light (depends on the world point only)."""
        to_light = (self._light_m - hits.points).T
        distance = np.sqrt(to_light[0] ** 2 + to_light[1] ** 2 + to_light[2] ** 2)
        cosine = hits.normal_sign * np.choose(hits.axis, to_light) / distance
        direct = np.maximum(cosine, 0.0) / (1.0 + (distance / _LIGHT_FALLOFF_M) ** 2)
        return (_AMBIENT + (1.0 - _AMBIENT) * direct).astype(np.float32)


def _padded_rgba(textures: list[np.ndarray]) -> np.ndarray:
    """Stack S×S×3 textures into n×S×S×4 (a zero fourth channel: 16-byte texels gather faster)."""
    stack = np.stack(textures)
    return np.concatenate([stack, np.zeros(stack.shape[:-1] + (1,), dtype=stack.dtype)], axis=-1)


@lru_cache(maxsize=4)
def _renderer(room: Room, camera: PinholeCamera, texture_size: int, supersample: int,
              shading: bool) -> RoomRenderer:
    return RoomRenderer(room, camera, texture_size, supersample, shading)


def render(room: Room, camera: PinholeCamera, T_world_cam, texture_size: int = 256, supersample: int = 1,
           shading: bool = True) -> np.ndarray:
    """H×W×3 uint8 image of `room` from pose `T_world_cam` (see RoomRenderer; renderers are cached)."""
    return _renderer(room, camera, texture_size, supersample, shading).render(T_world_cam)


def render_depth(room: Room, camera: PinholeCamera, T_world_cam) -> np.ndarray:
    """H×W float32 depth map in metres along the optical axis (see RoomRenderer.render_depth)."""
    _, directions = camera.rays(T_world_cam, normalize=False)
    hits = intersect(room, np.asarray(T_world_cam, dtype=np.float64)[:3, 3], directions)
    return hits.t.reshape(camera.height, camera.width).astype(np.float32)
