"""Classical image features (OpenCV ORB, AKAZE, SIFT) and ratio-test nearest-neighbour matching.

Images are H×W×3 uint8 RGB; keypoints are pixel coordinates (x right, y down, origin at the centre of the
top-left pixel, as OpenCV). Detectors are built once per (name, max_features) and reused.

AKAZE: OpenCV 4.x ships it in the main package (`cv2.AKAZE_create`); OpenCV 5 moved it to the contrib
package (`cv2.xfeatures2d.AKAZE_create`, in `opencv-contrib-python-headless`). A build with neither raises
`UserInputError` naming the package to install.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from av_pose.errors import UserInputError
from av_pose.vision import DETECTORS

ORB_PATCH_PX = 19
"""ORB patch size and border (pixels at the finest level); OpenCV's 31 drops a wide border of small images."""
ORB_FAST_THRESHOLD = 10
"""FAST corner threshold (grey levels) of ORB; OpenCV's 20 finds too few corners in smooth, small images."""
SIFT_CONTRAST_THRESHOLD = 0.01
"""SIFT's contrast threshold; OpenCV's 0.04 keeps about 200 points of a 256×192 ShoeboxAV frame (ORB: 1600), too few
for a quarter of the pairs (docs/results.md "Image features: ORB and SIFT")."""
AKAZE_THRESHOLD = 1e-4
"""AKAZE detector response threshold; OpenCV's 1e-3 finds too few points in small images (40 at 256×192)."""


@dataclass(frozen=True)
class Features:
    """Keypoints and descriptors of one image.

    Attributes:
        points: N×2 float32 pixel coordinates (x, y).
        descriptors: N×D descriptors (uint8 bit strings for ORB/AKAZE, float32 for SIFT); N×0 when N = 0.
        binary: True when descriptors are compared by Hamming distance.
    """

    points: np.ndarray
    descriptors: np.ndarray
    binary: bool

    def __len__(self) -> int:
        return len(self.points)


def check_detector(name: str) -> str:
    """`name` if it is one of DETECTORS; otherwise UserInputError listing them."""
    if name not in DETECTORS:
        raise UserInputError(f'unknown feature detector {name!r}; choose one of {", ".join(DETECTORS)}')
    return name


def _akaze_factory():
    factory = getattr(cv2, 'AKAZE_create', None)
    if factory is None:
        factory = getattr(getattr(cv2, 'xfeatures2d', None), 'AKAZE_create', None)
    if factory is None:
        raise UserInputError(f'this OpenCV build ({cv2.__version__}) has no AKAZE: OpenCV 5 moved it to the contrib '
                             'package; install opencv-contrib-python-headless instead of opencv-python-headless, '
                             'or use --detector orb|sift')
    return factory


@lru_cache(maxsize=16)
def make_detector(name: str, max_features: int = 2000) -> cv2.Feature2D:
    """An OpenCV Feature2D for `name` (see DETECTORS), keeping at most `max_features` keypoints (ORB, SIFT).

    AKAZE has no keypoint cap; `detect_features` keeps its `max_features` strongest responses.
    """
    check_detector(name)
    if max_features < 8:
        raise UserInputError(f'max_features must be at least 8, got {max_features}')
    if name == 'orb':
        return cv2.ORB_create(nfeatures=int(max_features), scaleFactor=1.2, nlevels=6, edgeThreshold=ORB_PATCH_PX,
                              patchSize=ORB_PATCH_PX, fastThreshold=ORB_FAST_THRESHOLD)
    if name == 'akaze':
        return _akaze_factory()(threshold=AKAZE_THRESHOLD)
    return cv2.SIFT_create(nfeatures=int(max_features), contrastThreshold=SIFT_CONTRAST_THRESHOLD)


def to_gray(image: np.ndarray) -> np.ndarray:
    """H×W uint8 luma of an H×W×3 uint8 RGB image (UserInputError for anything else)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise UserInputError(f'features need an H×W×3 uint8 RGB image, got {image.dtype} {image.shape}')
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


def detect_features(image: np.ndarray, detector: str = 'orb', max_features: int = 2000) -> Features:
    """Keypoints and descriptors of an H×W×3 uint8 RGB image (at most `max_features`, strongest first)."""
    gray = to_gray(image)
    keypoints, descriptors = make_detector(check_detector(detector), int(max_features)).detectAndCompute(gray, None)
    binary = detector != 'sift'
    if descriptors is None or not keypoints:
        empty = np.zeros((0, 0), np.uint8 if binary else np.float32)
        return Features(np.zeros((0, 2), np.float32), empty, binary)
    if len(keypoints) > max_features:
        keep = np.argsort([-keypoint.response for keypoint in keypoints], kind='stable')[:max_features]
        keypoints, descriptors = [keypoints[i] for i in keep], descriptors[keep]
    points = np.array([keypoint.pt for keypoint in keypoints], dtype=np.float32).reshape(-1, 2)
    return Features(points, descriptors, binary)


@lru_cache(maxsize=2)
def _matcher(binary: bool) -> cv2.DescriptorMatcher:
    return cv2.BFMatcher(cv2.NORM_HAMMING if binary else cv2.NORM_L2)


def match_features(features_a: Features, features_b: Features, ratio: float = 0.8,
                   mutual: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Nearest neighbours a → b that pass Lowe's ratio test (best < `ratio` × second-best distance).

    With `mutual`, a match must also be the nearest neighbour b → a (a second matching pass); without it, a
    point of b claimed by several points of a keeps only its closest one.

    Returns:
        (M×2 points in image a, M×2 points in image b), float64 pixels, row i of each is one match.
    """
    empty = (np.zeros((0, 2)), np.zeros((0, 2)))
    if len(features_a) < 2 or len(features_b) < 2:
        return empty
    matcher = _matcher(features_a.binary)
    pairs = [(m[0].queryIdx, m[0].trainIdx, m[0].distance) for m in
             matcher.knnMatch(features_a.descriptors, features_b.descriptors, k=2)
             if len(m) == 2 and m[0].distance < ratio * m[1].distance]
    if not pairs:
        return empty
    index_a, index_b, distance = (np.array(column) for column in zip(*pairs))
    if mutual:
        best_a_for_b = np.full(len(features_b), -1)
        backward = matcher.match(features_b.descriptors, features_a.descriptors)
        best_a_for_b[[m.queryIdx for m in backward]] = [m.trainIdx for m in backward]
        keep = best_a_for_b[index_b] == index_a
    else:
        order = np.lexsort((distance, index_b))      # by b, closest first
        keep = np.zeros(len(index_b), bool)
        keep[order[np.r_[True, np.diff(index_b[order]) != 0]]] = True
    return (features_a.points[index_a[keep]].astype(np.float64), features_b.points[index_b[keep]].astype(np.float64))
