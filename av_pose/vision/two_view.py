"""Relative pose of two calibrated views from image features: an essential matrix, or a pure rotation.

Pipeline (`estimate_two_view`): features (`av_pose.vision.features`, ORB by default) → ratio-test matches →
essential matrix and homography with OpenCV USAC (MAGSAC++; RANSAC where the build lacks USAC) →
 - the parallax: the median residual of the essential inliers under the best pure rotation (a homography
   K·R·K⁻¹ projected to SO(3), refined by Kabsch and Gauss-Newton). Within `rotation_parallax_ratio` of what
   keypoint noise alone leaves (and under MAX_ROTATION_PARALLAX_PX), the rotation explains the matches (pure
   rotation or a tiny baseline): that rotation is returned with `translation_ok` False.
 - otherwise Levenberg-Marquardt on the robust Sampson cost from the decomposition of E that puts the points
   in front of both cameras (as `cv2.recoverPose`) and, in near-planar scenes (where E has two solutions),
   from the homography's decompositions too; the lowest cost wins. The translation direction is reported
   only when the parallax reaches `min_parallax_px`.
 - planar motion (`up`: a ground robot's up axis in the camera frame): the same refinement in two parameters,
   the turn about `up` and the heading of the translation across it (`epipolar.planar_pose`), from the
   projected starts and `local_solutions.PLANAR_HEADINGS` more; fits that turn the optical axis beyond the
   field of view are refused; the direction is reported from less parallax (PLANAR_PARALLAX_RATIO × what
   noise leaves: two parameters pin it down where five trade it against the turn), with the covariance
   PLANAR_COVARIANCE_SCALE·σ²(JᵀJ)⁻¹ plus PLANAR_TILT_STD_DEG on the held directions.

Frames: camera optical frames (OpenCV: z forward, x right, y down). `R_a_b`, `t_a_b` form T_a_b, which maps
camera-b points into camera a (Reloc3r's 2→1 pose, ground truth inv(T_world_a)·T_world_b); `t_a_b` is the unit
direction of camera b's origin seen from camera a. OpenCV's decompositions (`recoverPose(E, pts_a, pts_b, K)`,
`decomposeEssentialMat`, `decomposeHomographyMat`) give the inverse (x_b = R x_a + t): R_a_b = Rᵀ, t_a_b ∝ −Rᵀt.

Covariance: 6×6 over (tx, ty, tz, rx, ry, rz) in camera-a coordinates, translation in unit-direction², rotation
in rad² (rotation error = so3_log(R_trueᵀ·R_est), as `av_pose.pose.base`). It is the Fisher covariance of the
fitted model, σ²·(JᵀJ)⁻¹, with σ the keypoint noise estimated robustly from the inlier residuals and J the
Jacobian of each inlier's residual (Sampson distance for the essential matrix, reprojection for the rotation):
it grows as inliers fall, and its translation part grows as the parallax shrinks (the Sampson distance's
derivative with respect to the translation is proportional to the parallax). Competing local solutions widen
it by their spread, weighted by exp(−Δχ²/2), or equally in a planar scene (two views of a plane fit two poses
exactly alike: the reported one is the lower-cost, which is the wrong one about half the time); they are kept
(`alternatives`, with `solution_covariance` for the reported one alone) so that another sensor can choose
among them (`av_pose.pose.geometric`). The pure-rotation model adds the pan/tilt that an unseen baseline could
cause (UNSEEN_BASELINE_FACTOR). ESSENTIAL_COVARIANCE_SCALE
and TRANSLATION_STD_FACTOR are calibrated on ShoeboxAV clean pairs (ORB, 256×192, 1 s apart; 31 scenes: seeds
100–107 (6 s), 1–8 (3 s) and 1–5 (4 s) moving, 200–204 (6 s) and 1–5 (4 s) turning) so that the median
Mahalanobis errors of the moving pairs match a Gaussian's (χ²(3) for the rotation, χ²(2) for the direction).
Scenes differ a lot (planar walls and repeated textures make some far harder), so one scene may sit a factor of
2 off in std. Everything is then multiplied by (RELIABLE_INLIER_RATIO / inlier ratio)² when the inlier ratio is
low (more outliers, more risk of a wrong model). With `calibrated=False` the plain Fisher covariance is returned
(on synthetic matches with Gaussian noise it matches the errors within ~10 % in std).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from av_pose.errors import UserInputError
from av_pose.geometry import UNKNOWN_VARIANCE, make_transform, planar_up_axis
from av_pose.vision.epipolar import (
    PLANAR_TILT_STD_DEG,
    essential_covariance,
    in_front,
    normalized_points,
    planar_pose,
    planar_rotation_covariance,
    project_to_so3,
    refine_essential,
    refine_rotation,
    robust_sigma,
    rotation_covariance,
    rotation_residuals,
    sampson,
    tilt_prior,
)
from av_pose.vision.features import DETECTORS, Features, check_detector, detect_features, match_features
from av_pose.vision.local_solutions import (
    beyond_field_of_view,
    competing_solutions,
    essential_starts,
    solution_spread,
    view_turn_deg,
)

__all__ = ['DETECTORS', 'TwoViewGeometry', 'estimate_from_features', 'estimate_from_matches', 'estimate_two_view']

RADIAL_VARIANCE = 1e-6
"""Variance of a unit translation direction along itself (its error is second order there)."""
ESSENTIAL_COVARIANCE_SCALE = 8.5
"""Multiplies the essential model's σ²(JᵀJ)⁻¹ (its cost valley is curved, keypoint errors are not independent
Gaussians); calibrated on ShoeboxAV pairs (see the module docstring)."""
TRANSLATION_STD_FACTOR = 2.4
"""Further multiplies the essential model's translation standard deviations (the direction's errors are heavier
than the rotation's); calibrated on ShoeboxAV pairs like ESSENTIAL_COVARIANCE_SCALE."""
ROTATION_COVARIANCE_SCALE = 1.0
"""Multiplies the pure-rotation model's σ²(JᵀJ)⁻¹; calibrated on ShoeboxAV rotation-only pairs."""
UNSEEN_BASELINE_FACTOR = 1.5
"""The pure-rotation model adds (factor · parallax / focal)² rad² to the pan and tilt variances: a baseline
too small to leave parallax above the keypoint noise (a few centimetres at a few metres) still turns the fitted
rotation by about baseline / depth. Calibrated on ShoeboxAV pairs of a slowly moving camera (see the module
docstring); it makes true pure rotations look several times less certain than they are."""
RELIABLE_INLIER_RATIO = 0.5
"""Inlier ratio at and above which the covariance is not inflated."""
NOISE_PARALLAX_PER_SIGMA = np.sqrt(2.0) * np.sqrt(2.0 * np.log(2.0))
"""Median length of a 2-D residual between two images with keypoint noise σ per coordinate: 1.67·σ."""
MAX_ROTATION_PARALLAX_PX = 0.8
"""Above this parallax (pixels) the pure-rotation model is never chosen, however noisy the keypoints: a planar
view of a translating camera leaves little parallax after the best rotation, which then absorbs the baseline
(measured on ShoeboxAV: rotation errors of 1–4° at 0.9 px)."""
INLIER_SIGMAS = 3.0
"""Final inliers: Sampson distance below max(threshold_px, this many keypoint-noise σ)."""
NOISE_FLOOR_PX = 0.3
"""Smallest keypoint noise assumed (pixels), so a few lucky residuals never claim sub-pixel certainty."""
PLANAR_SHARE = 0.5
"""A homography that explains this share of the essential inliers marks a near-planar scene: its decompositions
then seed the refinement too."""
OFF_PLANE_SHARE = 0.1
"""Fewer essential inliers than this share off the homography: a planar scene, whose two solutions two views
cannot tell apart; the covariance then spans both."""
PLANAR_COVARIANCE_SCALE = 1.6
"""Planar motion: multiplies the two-parameter model's σ²(JᵀJ)⁻¹ (turn and heading alike), in place of
ESSENTIAL_COVARIANCE_SCALE and TRANSLATION_STD_FACTOR; calibrated on level ShoeboxAV walks (`generate_showcase`
seeds 11–16, 20 s, 192×144, pairs 1 s apart) so that the median squared error over variance of the turn and of
the heading is χ²(1)'s 0.455 (seeds 17–22, held out: see docs/results.md). Two parameters leave the Fisher
covariance nearly honest; five leave a long curved valley (ESSENTIAL_COVARIANCE_SCALE)."""
PLANAR_PARALLAX_RATIO = 2.5
"""Planar motion: the direction is also reported under `min_parallax_px` when the parallax is at least this many
times what keypoint noise alone leaves (two parameters pin the direction down with less parallax than five).
Measured on level ShoeboxAV rigs (the planar and ground sets of docs/results.md, pairs under 2 px of parallax,
clean and corrupted): it keeps 111 of 212 moving pairs (median direction error 10.5°, against 25.8° for the
dropped ones) and 1 of 28 still pairs that noise had pushed out of the pure-rotation model."""
ROBUST_METHOD = getattr(cv2, 'USAC_MAGSAC', cv2.RANSAC)
"""MAGSAC++ (OpenCV ≥ 4.5.1), else RANSAC."""


@dataclass
class TwoViewGeometry:
    """The relative pose of two views (see the module docstring for frames and units).

    Attributes:
        ok: False when there is no reliable solution (too few matches or inliers, degenerate); then R_a_b = I,
            t_a_b = 0 and the covariance is UNKNOWN_VARIANCE on the diagonal.
        R_a_b: 3×3 rotation, camera b → camera a.
        t_a_b: (3,) unit direction of camera b's origin in camera a, or zeros when `translation_ok` is False.
        translation_ok: False when the baseline is too small to give a direction (pure rotation).
        matches: ratio-test matches. inliers: matches the returned model explains.
        inlier_ratio: inliers / matches.
        covariance: 6×6 (tx, ty, tz, rx, ry, rz), camera-a coordinates; unit-direction² and rad².
        reason: '' when ok, else why not.
        model: 'essential', 'rotation' (translation not observable) or 'none'.
        parallax_px: median over inliers of the parallax left after the best pure rotation (pixels).
        noise_px: robust keypoint noise (pixels, per coordinate) estimated from the inlier residuals.
    """

    ok: bool
    R_a_b: np.ndarray
    t_a_b: np.ndarray
    translation_ok: bool
    matches: int
    inliers: int
    inlier_ratio: float
    covariance: np.ndarray
    reason: str = ''
    model: str = 'none'
    parallax_px: float = 0.0
    noise_px: float = 0.0
    inlier_points: tuple[np.ndarray, np.ndarray] = field(default_factory=lambda: (np.zeros((0, 2)), np.zeros((0, 2))),
                                                         repr=False)
    """(M×2 in image a, M×2 in image b) pixel coordinates of the inliers, for plots and diagnostics."""
    solution_covariance: np.ndarray | None = field(default=None, repr=False)
    """6×6 covariance of (R_a_b, t_a_b) as if it were the right local solution (`covariance` without the
    alternatives' spread); None means the same as `covariance`."""
    alternatives: tuple[tuple[np.ndarray, np.ndarray, float], ...] = ()
    """Competing local solutions (R_k, t_k, probability p_k) of the essential model (a planar scene has two);
    the reported solution's probability is 1 − Σ p_k. `covariance` = `solution_covariance` + their spread."""

    @property
    def T_a_b(self) -> np.ndarray:
        """4×4 camera b → camera a (translation = unit direction or zeros)."""
        return make_transform(self.R_a_b, self.t_a_b)

    @property
    def rotation_std_deg(self) -> float:
        """Root of the total rotation variance (trace of the rotation block), degrees."""
        return float(np.degrees(np.sqrt(np.trace(self.covariance[3:, 3:]))))

    @classmethod
    def failed(cls, reason: str, matches: int = 0, inliers: int = 0) -> TwoViewGeometry:
        """No solution: identity rotation, zero translation, unknown covariance."""
        return cls(ok=False, R_a_b=np.eye(3), t_a_b=np.zeros(3), translation_ok=False, matches=int(matches),
                   inliers=int(inliers), inlier_ratio=inliers / matches if matches else 0.0,
                   covariance=np.eye(6) * UNKNOWN_VARIANCE, reason=reason)


def _check_intrinsics(K) -> np.ndarray:
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3) or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0 or K[2, 2] != 1:
        raise UserInputError(f'K must be a 3×3 pinhole matrix with positive focal lengths, got {K.tolist()}')
    return K


def _inflation(inlier_ratio: float) -> float:
    """Covariance factor for a low inlier ratio: (RELIABLE_INLIER_RATIO / ratio)², at least 1."""
    return max(1.0, RELIABLE_INLIER_RATIO / max(inlier_ratio, 1e-3)) ** 2


# --- estimation -------------------------------------------------------------------------------------------

def _rotation_model(H_ab: np.ndarray | None, R_start: np.ndarray, x_a: np.ndarray, x_b: np.ndarray, K: np.ndarray,
                    threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Robust pure rotation x_a ∝ R·x_b: from the homography (K⁻¹·H_ab·K ∝ R_b_a) or `R_start`, refined by Kabsch."""
    best = refine_rotation(R_start, x_a, x_b, threshold)
    if H_ab is not None and np.all(np.isfinite(H_ab)) and abs(np.linalg.det(H_ab)) > 1e-12:
        M = np.linalg.inv(K) @ np.linalg.inv(H_ab) @ K
        from_homography = refine_rotation(project_to_so3(M / np.cbrt(np.linalg.det(M))), x_a, x_b, threshold)
        if from_homography[1].sum() > best[1].sum():
            best = from_homography
    return best


def estimate_from_matches(points_a: np.ndarray, points_b: np.ndarray, K: np.ndarray, *, min_inliers: int = 15,
                          threshold_px: float = 1.0, rotation_parallax_ratio: float = 1.3, min_parallax_px: float = 2.0,
                          min_inlier_ratio: float = 0.2, calibrated: bool = True,
                          up: np.ndarray | None = None) -> TwoViewGeometry:
    """Relative pose from M matched pixel points.

    Args:
        points_a: M×2 pixel points in image a; row i matches row i of `points_b`.
        points_b: M×2 pixel points in image b.
        K: 3×3 intrinsics shared by both images.
        min_inliers: fewer inliers than this → ok False.
        threshold_px: inlier threshold of the robust fits (pixels).
        rotation_parallax_ratio: the pure-rotation model is returned when the parallax (the median residual of
            the essential inliers under the best pure rotation, pixels) is below this many times the parallax that
            keypoint noise alone leaves (1.67·σ for noise σ per coordinate, σ estimated from the Sampson residuals),
            and below MAX_ROTATION_PARALLAX_PX.
        min_parallax_px: below this parallax the translation direction is not reported (zeros, translation
            variance UNKNOWN_VARIANCE); the rotation still comes from the essential model.
        min_inlier_ratio: fewer inliers per match than this → ok False (the model is likely wrong).
        calibrated: False returns the plain Fisher covariance σ²(JᵀJ)⁻¹ of the fitted model, without the
            calibrated scales, the inflations and the competing solutions (for checking the derivation).
        up: planar motion (a ground robot): the rig's up axis in the camera frame (3,). The rotation is then a
            turn about it and the translation lies across it (two parameters instead of five), which the
            covariance states with PLANAR_TILT_STD_DEG on the constrained directions. None: free motion.
    """
    K = _check_intrinsics(K)
    up = planar_up_axis(up)
    points_a = np.asarray(points_a, dtype=np.float64).reshape(-1, 2)
    points_b = np.asarray(points_b, dtype=np.float64).reshape(-1, 2)
    matches = len(points_a)
    needed = max(min_inliers, 5)
    if matches < needed:
        return TwoViewGeometry.failed(f'too few matches ({matches} < {needed})', matches)
    focal = 0.5 * (K[0, 0] + K[1, 1])
    threshold = threshold_px / focal
    x_a, x_b = normalized_points(points_a, K), normalized_points(points_b, K)

    def rotation_result() -> TwoViewGeometry:  # uses R_rotation, rotation_inlier, parallax_px as set below
        keep = rotation_inlier
        kept = int(keep.sum())
        if kept < min_inliers or kept < min_inlier_ratio * matches:
            return TwoViewGeometry.failed(f'too few rotation inliers ({kept}) and no baseline', matches, kept)
        residual, _ = rotation_residuals(R_rotation, x_a[keep], x_b[keep])
        noise = max(robust_sigma(residual.ravel()), np.sqrt(2.0) * NOISE_FLOOR_PX / focal)
        covariance = np.eye(6) * UNKNOWN_VARIANCE
        covariance[3:, 3:] = rotation_covariance(R_rotation, x_a[keep], x_b[keep], noise)
        rotation = R_rotation
        if up is not None:  # the turn alone: its own variance, and the floor's tilt on the other two axes
            rotation = planar_pose(R_rotation, np.zeros(3), up)[0]
            covariance[3:, 3:] = planar_rotation_covariance(up @ covariance[3:, 3:] @ up, up)
        if calibrated:  # a baseline too small to show parallax is absorbed into the pan and tilt: allow for it
            unseen_baseline = np.diag([1.0, 1.0, 0.0]) * (UNSEEN_BASELINE_FACTOR * parallax_px / focal) ** 2
            covariance[3:, 3:] = (covariance[3:, 3:] * ROTATION_COVARIANCE_SCALE + unseen_baseline) \
                * _inflation(kept / matches)
        return TwoViewGeometry(ok=True, R_a_b=rotation, t_a_b=np.zeros(3), translation_ok=False, matches=matches,
                               inliers=kept, inlier_ratio=kept / matches, covariance=covariance, model='rotation',
                               parallax_px=parallax_px, noise_px=noise * focal / np.sqrt(2.0),
                               inlier_points=(points_a[keep], points_b[keep]))

    try:  # degenerate samples can trip OpenCV's polynomial solvers (an assertion, not a result)
        E, mask = cv2.findEssentialMat(points_a, points_b, K, method=ROBUST_METHOD, prob=0.999,
                                       threshold=threshold_px)
        H_ab, homography_mask = cv2.findHomography(points_a, points_b, ROBUST_METHOD, 2.0 * threshold_px)
    except cv2.error as error:
        return TwoViewGeometry.failed(f'OpenCV could not fit the matches ({str(error).splitlines()[-1][:80]})',
                                      matches)
    count = 0 if mask is None or E is None else int(mask.sum())
    if count < needed:  # no epipolar geometry: a still camera (zero disparity) still fits a pure rotation
        R_rotation, rotation_inlier = _rotation_model(H_ab, np.eye(3), x_a, x_b, K, 2.0 * threshold)
        if rotation_inlier.sum() >= needed:
            residual, _ = rotation_residuals(R_rotation, x_a[rotation_inlier], x_b[rotation_inlier])
            parallax_px = float(np.median(np.linalg.norm(residual, axis=1)) * focal)
            if parallax_px < MAX_ROTATION_PARALLAX_PX:
                return rotation_result()
        return TwoViewGeometry.failed(f'too few inliers ({count} < {needed})', matches, count)
    essential_inlier = mask.ravel() > 0
    near_planar = homography_mask is not None and homography_mask.sum() >= PLANAR_SHARE * count
    off_plane = int((essential_inlier & (homography_mask.ravel() == 0)).sum()) if near_planar else count
    starts = essential_starts(E[:3], H_ab if near_planar else None, x_a, x_b, K, essential_inlier, up)

    # The pure-rotation model and the parallax it leaves on the essential inliers, against the keypoint noise.
    R_rotation, rotation_inlier = _rotation_model(H_ab, starts[0][0], x_a, x_b, K, 2.0 * threshold)
    residual, _ = rotation_residuals(R_rotation, x_a[essential_inlier], x_b[essential_inlier])
    parallax_px = float(np.median(np.linalg.norm(residual, axis=1)) * focal)
    R0, t0 = starts[0]
    noise = max(robust_sigma(sampson(R0, t0, x_a[essential_inlier], x_b[essential_inlier])[0]),
                NOISE_FLOOR_PX / focal)
    noise_parallax_px = NOISE_PARALLAX_PER_SIGMA * noise * focal

    if parallax_px < min(rotation_parallax_ratio * noise_parallax_px, MAX_ROTATION_PARALLAX_PX):
        return rotation_result()

    # Essential model: Levenberg-Marquardt from every start on the robust Sampson cost of all matches (planar:
    # of the RANSAC inliers, where the sideways solution cannot collect stray matches along the rows).
    fit_a, fit_b = (x_a, x_b) if up is None else (x_a[essential_inlier], x_b[essential_inlier])
    refined = sorted((refine_essential(R, t, fit_a, fit_b, noise, iterations=5, up=up) for R, t in starts),
                     key=lambda fit: fit[2])
    R, t, _ = refine_essential(*refined[0][:2], x_a, x_b, noise, up=up)
    if up is not None and beyond_field_of_view(R, K):
        return TwoViewGeometry.failed(f'the planar fit turns the view by {view_turn_deg(R):.0f}°, beyond the field '
                                      'of view of views that share matches', matches, count)
    front = in_front(R, t, x_a, x_b)
    if front.sum() < in_front(R, -t, x_a, x_b).sum():
        t, front = -t, in_front(R, -t, x_a, x_b)
    inlier = (np.abs(sampson(R, t, x_a, x_b)[0]) < max(threshold, INLIER_SIGMAS * noise)) & front
    count = int(inlier.sum())
    if count < min_inliers or count < min_inlier_ratio * matches:
        if rotation_inlier.sum() >= count:
            return rotation_result()
        return TwoViewGeometry.failed(f'too few inliers in front of both cameras ({count})', matches, count)

    # Polish on the inliers with a loss that is nearly least squares there (the fit whose Fisher covariance
    # follows): the Cauchy loss at scale σ that kept outliers out costs efficiency.
    noise = max(robust_sigma(sampson(R, t, x_a[inlier], x_b[inlier])[0]), NOISE_FLOOR_PX / focal)
    R, t, _ = refine_essential(R, t, x_a[inlier], x_b[inlier], INLIER_SIGMAS * noise, iterations=5, up=up)
    own = essential_covariance(R, t, x_a[inlier], x_b[inlier], noise, up)
    alternatives: list[tuple[np.ndarray, np.ndarray, float]] = []
    if calibrated:
        alternatives = competing_solutions(R, t, [fit[:2] for fit in refined[1:]], x_a, x_b, noise,
                                            planar=off_plane < OFF_PLANE_SHARE * count)
        if up is None:
            stretch = np.diag([TRANSLATION_STD_FACTOR] * 3 + [1.0] * 3) \
                * np.sqrt(ESSENTIAL_COVARIANCE_SCALE * _inflation(count / matches))
        else:
            stretch = np.eye(6) * np.sqrt(PLANAR_COVARIANCE_SCALE * _inflation(count / matches))
        own = stretch @ own @ stretch
        if up is not None:
            own[3:, 3:] += tilt_prior(up)
            own[:3, :3] += np.radians(PLANAR_TILT_STD_DEG) ** 2 * np.outer(up, up)
        covariance = own + stretch @ solution_spread(R, t, alternatives) @ stretch
    else:
        covariance = own.copy()
    translation_ok = parallax_px >= min_parallax_px or (  # noise: the inliers' own, as `noise_px` reports
        up is not None and parallax_px >= PLANAR_PARALLAX_RATIO * NOISE_PARALLAX_PER_SIGMA * noise * focal)
    for block in (covariance, own):
        block[:3, :3] += RADIAL_VARIANCE * np.outer(t, t)
        if not translation_ok:
            block[:3, :] = block[:, :3] = 0.0
            block[:3, :3] = np.eye(3) * UNKNOWN_VARIANCE
    if not translation_ok:
        t = np.zeros(3)
        alternatives = [(R_k, np.zeros(3), p_k) for R_k, _, p_k in alternatives]
    return TwoViewGeometry(ok=True, R_a_b=R, t_a_b=t, translation_ok=translation_ok, matches=matches, inliers=count,
                           inlier_ratio=count / matches, covariance=covariance, model='essential',
                           parallax_px=parallax_px, noise_px=noise * focal,
                           inlier_points=(points_a[inlier], points_b[inlier]), solution_covariance=own,
                           alternatives=tuple(alternatives))


def estimate_from_features(features_a: Features, features_b: Features, K: np.ndarray, *, min_inliers: int = 15,
                           match_ratio: float = 0.8, **options) -> TwoViewGeometry:
    """Relative pose from features detected in each image (`detect_features`): lets a caller detect once per frame.

    `options` are those of `estimate_from_matches`.
    """
    if min(len(features_a), len(features_b)) < min_inliers:
        return TwoViewGeometry.failed(f'too few features ({len(features_a)}, {len(features_b)})')
    points_a, points_b = match_features(features_a, features_b, match_ratio)
    return estimate_from_matches(points_a, points_b, K, min_inliers=min_inliers, **options)


def estimate_two_view(image_a: np.ndarray, image_b: np.ndarray, K: np.ndarray, *, detector: str = 'orb',
                      max_features: int = 2000, min_inliers: int = 15, match_ratio: float = 0.8,
                      threshold_px: float = 1.0, rotation_parallax_ratio: float = 1.3, min_parallax_px: float = 2.0,
                      min_inlier_ratio: float = 0.2, up: np.ndarray | None = None) -> TwoViewGeometry:
    """Relative pose T_a_b of two H×W×3 uint8 RGB images taken with the same intrinsics K (3×3).

    Never raises on image content (a black, blurred or unrelated image gives ok False with a reason); raises
    UserInputError for an unknown detector (or AKAZE on an OpenCV build without it), a malformed image or K,
    or images of different sizes. `detector` is one of DETECTORS; `max_features` caps the keypoints per image;
    `match_ratio` is Lowe's ratio; see `estimate_from_matches` for the rest (`up`: planar motion).
    """
    check_detector(detector)
    K = _check_intrinsics(K)
    image_a, image_b = np.asarray(image_a), np.asarray(image_b)
    if image_a.shape != image_b.shape:
        raise UserInputError(f'two-view geometry needs images of one size, got {image_a.shape} and {image_b.shape}')
    return estimate_from_features(detect_features(image_a, detector, max_features),
                                  detect_features(image_b, detector, max_features), K, min_inliers=min_inliers,
                                  match_ratio=match_ratio, threshold_px=threshold_px,
                                  rotation_parallax_ratio=rotation_parallax_ratio, min_parallax_px=min_parallax_px,
                                  min_inlier_ratio=min_inlier_ratio, up=up)
