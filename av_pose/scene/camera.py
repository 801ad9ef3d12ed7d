"""Pinhole camera in the OpenCV optical convention (z forward, x right, y down), optionally behind a lens.

Pixel (column u, row v) has its centre at image coordinates (u, v): the ray of pixel (u, v) passes through
K⁻¹·[u, v, 1], or with a lens distortion through K⁻¹ of that pixel undistorted (`av_pose.vision.lens`).
Poses are camera-to-world transforms `T_world_cam` (4×4, metres).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from av_pose.errors import UserInputError
from av_pose.vision.lens import LensDistortion


@dataclass(frozen=True)
class PinholeCamera:
    """Pinhole camera, ideal unless `distortion` is given.

    Attributes:
        width, height: Image size in pixels.
        fx, fy: Focal lengths in pixels.
        cx, cy: Principal point in pixels (column, row).
        distortion: The lens (None: an ideal pinhole); its coefficients act on normalised coordinates.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion: LensDistortion | None = None

    def __post_init__(self) -> None:
        if int(self.width) != self.width or int(self.height) != self.height or self.width < 1 or self.height < 1:
            raise UserInputError(f'image size must be positive integers, got {self.width}×{self.height}')
        if not (self.fx > 0 and self.fy > 0 and np.isfinite(self.cx) and np.isfinite(self.cy)):
            raise UserInputError(f'focal lengths must be positive, got fx={self.fx}, fy={self.fy}')

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float) -> PinholeCamera:
        """Square-pixel camera with horizontal field of view `hfov_deg` and the principal point at the centre."""
        if not 0 < hfov_deg < 180:
            raise UserInputError(f'horizontal field of view must be in (0, 180) degrees, got {hfov_deg}')
        focal = (width / 2.0) / np.tan(np.radians(hfov_deg) / 2.0)
        return cls(int(width), int(height), float(focal), float(focal), (width - 1) / 2.0, (height - 1) / 2.0)

    @property
    def K(self) -> np.ndarray:
        """3×3 intrinsic matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def scaled(self, factor: int) -> PinholeCamera:
        """The same camera sampled `factor` times more densely in each direction (for supersampling).

        Pixel (u, v) here covers pixels factor·u .. factor·u + factor − 1 of the scaled camera.
        """
        return PinholeCamera(self.width * factor, self.height * factor, self.fx * factor, self.fy * factor,
                             (self.cx + 0.5) * factor - 0.5, (self.cy + 0.5) * factor - 0.5, self.distortion)

    @cached_property
    def pixel_directions_cam(self) -> np.ndarray:
        """(H·W)×3 ray directions in the camera frame with z = 1 (row-major pixel order), float64."""
        v, u = np.mgrid[0:self.height, 0:self.width]
        u, v = u.ravel().astype(np.float64), v.ravel().astype(np.float64)
        if self.distortion is not None:  # the pinhole pixel each lens pixel sees
            u, v = self.distortion.undistort(np.stack([u, v], -1), self.K).T
        x = (u - self.cx) / self.fx
        y = (v - self.cy) / self.fy
        return np.stack([x, y, np.ones_like(x)], axis=-1)

    def rays(self, T_world_cam, normalize: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """World-frame rays of all pixels, row-major.

        Returns:
            origins: (H·W)×3 camera centre (a broadcast, read-only view).
            directions: (H·W)×3; unit vectors, or with camera-frame z = 1 when `normalize` is False
                (then the ray parameter of a hit equals its depth along the optical axis).
        """
        T = _as_pose(T_world_cam)
        directions = self.pixel_directions_cam @ T[:3, :3].T
        if normalize:
            directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
        origins = np.broadcast_to(T[:3, 3], directions.shape)
        return origins, directions

    def project(self, points_world, T_world_cam) -> tuple[np.ndarray, np.ndarray]:
        """Project world points (N×3) into the image.

        Returns:
            uv: N×2 pixel coordinates (column, row); meaningless where depth ≤ 0.
            depth: (N,) depth along the optical axis in metres (negative behind the camera).
        """
        T = _as_pose(T_world_cam)
        points = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
        points_cam = (points - T[:3, 3]) @ T[:3, :3]
        depth = points_cam[:, 2]
        with np.errstate(divide='ignore', invalid='ignore'):
            uv = np.stack([self.fx * points_cam[:, 0] / depth + self.cx,
                           self.fy * points_cam[:, 1] / depth + self.cy], axis=-1)
        if self.distortion is not None:
            in_front = depth > 0
            uv[in_front] = self.distortion.distort(uv[in_front], self.K)
        return uv, depth


def _as_pose(T_world_cam) -> np.ndarray:
    T = np.asarray(T_world_cam, dtype=np.float64)
    if T.shape != (4, 4):
        raise UserInputError(f'a camera pose must be a 4×4 transform, got shape {T.shape}')
    return T
