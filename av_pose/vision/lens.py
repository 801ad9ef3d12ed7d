"""Lens distortion of real cameras, as sensor_msgs/CameraInfo states it, and undistortion onto the pinhole.

Every estimator in av_pose works on ideal pinhole images with intrinsics K. A real lens bends straight lines (a
wide webcam's barrel distortion moves its corners by tens of pixels), which the essential matrix, the image shift
and the learned models all read as motion. `Undistorter` remaps each image onto the pinhole camera with the same K,
once, where images enter (`pose_node`, the bag reader, a scene folder), so nothing downstream changes.

Models (the ROS `distortion_model` names, OpenCV's formulas; coefficients act on normalised image coordinates
x = (u − cx) / fx, y = (v − cy) / fy, so they hold at any image scale):
- `plumb_bob`: Brown–Conrady, D = (k1, k2, p1, p2[, k3]) (4, 5, or OpenCV's 8 with the rational terms);
- `rational_polynomial`: D = (k1, k2, p1, p2, k3, k4, k5, k6);
- `equidistant`: Kannala–Brandt fisheye, D = (k1, k2, k3, k4); the same K keeps only the view a pinhole of
  that focal length has (a fisheye's far field is cut off).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from av_pose.errors import UserInputError

COEFFICIENT_COUNTS = {'plumb_bob': (4, 5, 8), 'rational_polynomial': (8,), 'equidistant': (4,)}
"""The distortion models understood, and how many coefficients each takes."""
_ITERATIONS = cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12  # inverse of the lens model, to 1e-12


@dataclass(frozen=True)
class LensDistortion:
    """A lens model and its coefficients (`COEFFICIENT_COUNTS`); the identity is represented by None, not by zeros."""

    model: str
    coefficients: tuple[float, ...]

    def __post_init__(self) -> None:
        counts = COEFFICIENT_COUNTS.get(self.model)
        if counts is None:
            raise UserInputError(f'unknown distortion model {self.model!r} (known: {", ".join(COEFFICIENT_COUNTS)})')
        values = tuple(float(c) for c in self.coefficients)
        if len(values) not in counts or not all(np.isfinite(values)):
            raise UserInputError(f'distortion model {self.model} takes {" or ".join(map(str, counts))} finite '
                                 f'coefficients, got {list(self.coefficients)}')
        object.__setattr__(self, 'coefficients', values)

    @classmethod
    def from_camera_info(cls, model: str, coefficients: Any) -> LensDistortion | None:
        """From CameraInfo's `distortion_model` and `d`: None when `d` is empty or all zeros (a pinhole).

        ROS writes plumb_bob with 5 coefficients and sometimes pads D with zeros; trailing zeros beyond the
        model's longest form are dropped. UserInputError for an unknown model or a malformed D.
        """
        values = [float(c) for c in np.asarray(coefficients, dtype=np.float64).reshape(-1)]
        if not values or not any(values):
            return None
        longest = max(COEFFICIENT_COUNTS.get(model, (len(values),)))
        if len(values) > longest and not any(values[longest:]):
            values = values[:longest]
        return cls(model or 'plumb_bob', tuple(values))

    @property
    def is_fisheye(self) -> bool:
        """True for the equidistant (fisheye) model, which OpenCV handles apart."""
        return self.model == 'equidistant'

    def to_dict(self) -> dict:
        """scene.json's `distortion`."""
        return {'model': self.model, 'coefficients': list(self.coefficients)}

    @classmethod
    def from_dict(cls, data: dict) -> LensDistortion:
        """From scene.json's `distortion`; UserInputError when malformed."""
        try:
            return cls(str(data['model']), tuple(data['coefficients']))
        except (KeyError, TypeError) as err:
            raise UserInputError(f'a distortion needs `model` and `coefficients`, got {data!r}') from err

    def distort(self, points_px: np.ndarray, K: np.ndarray) -> np.ndarray:
        """N×2 pixels of the pinhole camera K → where the lens images them (N×2 pixels, same K)."""
        K = np.asarray(K, dtype=np.float64)
        points = np.asarray(points_px, dtype=np.float64).reshape(-1, 2)
        normalised = (points - K[:2, 2]) / K[[0, 1], [0, 1]]
        rays = np.concatenate([normalised, np.ones((len(points), 1))], 1)[:, None, :]
        zero = np.zeros(3)
        if self.is_fisheye:
            image, _ = cv2.fisheye.projectPoints(rays, zero, zero, K, np.array(self.coefficients))
        else:
            image, _ = cv2.projectPoints(rays, zero, zero, K, np.array(self.coefficients))
        return image.reshape(-1, 2)

    def undistort(self, points_px: np.ndarray, K: np.ndarray) -> np.ndarray:
        """N×2 pixels of the distorted image → the same rays in the pinhole camera K (N×2 pixels)."""
        K = np.asarray(K, dtype=np.float64)
        points = np.asarray(points_px, dtype=np.float64).reshape(-1, 1, 2)
        D = np.array(self.coefficients)
        if self.is_fisheye:
            out = cv2.fisheye.undistortPoints(points, K, D, None, None, K, _ITERATIONS)
        else:
            out = cv2.undistortPoints(points, K, D, None, None, K, _ITERATIONS)
        return out.reshape(-1, 2)


class Undistorter:
    """Remaps H×W×3 images taken through `distortion` onto the pinhole camera with the same K.

    The maps are built once (for the K and size given); each call is one bilinear `cv2.remap` (about 1 ms for
    640×480). Pixels the lens never saw (a pincushion lens's corners) repeat the nearest edge, so no hard border
    that stays still in every frame is added for feature detectors to match.
    """

    def __init__(self, K: np.ndarray, distortion: LensDistortion, image_size: tuple[int, int]) -> None:
        self.K = np.asarray(K, dtype=np.float64)
        self.distortion = distortion
        self.image_size = (int(image_size[0]), int(image_size[1]))
        D = np.array(distortion.coefficients)
        build = cv2.fisheye.initUndistortRectifyMap if distortion.is_fisheye else cv2.initUndistortRectifyMap
        self._maps = build(self.K, D, np.eye(3), self.K, self.image_size, cv2.CV_32FC1)

    def matches(self, K: np.ndarray, distortion: LensDistortion, image_size: tuple[int, int]) -> bool:
        """True when this undistorter was built for the same K, lens and image size."""
        return (tuple(image_size) == self.image_size and distortion == self.distortion
                and np.array_equal(np.asarray(K, dtype=np.float64), self.K))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """The H×W(×3) image (H, W = `image_size`) as the pinhole camera K would have seen it."""
        height, width = image.shape[:2]
        if (width, height) != self.image_size:
            raise UserInputError(f'image is {width}×{height}, the undistorter was built for '
                                 f'{self.image_size[0]}×{self.image_size[1]}')
        return cv2.remap(image, *self._maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def undistorter_for(current: Undistorter | None, K: np.ndarray | None, distortion: LensDistortion | None,
                    image_size: tuple[int, int]) -> Undistorter | None:
    """`current` when it fits K, the lens and the size; a new one when not; None without a lens or K."""
    if distortion is None or K is None:
        return None
    if current is not None and current.matches(K, distortion, image_size):
        return current
    return Undistorter(K, distortion, image_size)
