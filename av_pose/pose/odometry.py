"""Visual(-acoustic) odometry from relative poses: pairing by gap, covariance propagation, direction hold.

The core of `pose_node` and of any bag tool that integrates `PoseEstimate`s. No ROS here.

Integration (REP-105 `odom` semantics: continuous, drifting): every keyframe b is paired with an earlier
keyframe a about `gap_s` before it (its *partner*), and

    T_odom_b = T_odom_a · T_a_b,

where T_a_b is the estimated relative pose with its translation scaled by the scale policy. The poses are
those of the sensor (camera optical frame); `OdometryStep.body_pose()` conjugates them by the base → camera
extrinsic so the odom frame is the body frame at the first keyframe.

Covariances are 6×6, ordered (tx, ty, tz, rx, ry, rz) (metres, radians). A keyframe's covariance is that of
a right perturbation, i.e. of the error expressed in its own (sensor) axes: T_true = T_est · exp(ξ). The
relative estimate's covariance is in camera-a axes (`av_pose.pose.base`), so both are added in a's axes and
transported into b's: Σ_b = Ad(T_b_a) (Σ_a + Σ_rel) Ad(T_b_a)ᵀ. The covariance therefore only grows.

Scale: monocular relative poses give a translation *direction*; a `ScalePolicy` (`av_pose.pose.scale`) gives the
distance travelled between the two stamps, or nothing (then translation is zero with UNKNOWN_VARIANCE).

Direction hold: where the estimate has no translation direction (vision failed: the image shift or the audio
answered the rotation alone) but the scale policy knows the distance, `direction_hold_s` > 0 moves the keyframe
that distance along the last known direction of travel (a constant-direction motion model), kept in odom or in the
rig's own axes (`direction_hold_frame`); only an estimate whose direction's 1-σ is within HOLD_MAX_DIRECTION_STD_DEG
renews it. Only the pose's mean moves: the covariance stays UNKNOWN_VARIANCE, so a filter fusing the odometry learns
nothing from it, while the trajectory and the sound-source map do not stall.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from av_pose.errors import UserInputError
from av_pose.geometry import adjoint, invert_transform, se3_log, symmetric
from av_pose.pose.base import UNKNOWN_VARIANCE, PoseEstimate
from av_pose.pose.scale import STAMP_TOLERANCE_S, ScalePolicy, scaled_relative
from av_pose.pose.smoothing import ChainEdge, ChainSmoother, rotation_information

DIRECTION_HOLD_FRAMES = ('sensor', 'odom')
DEFAULT_DIRECTION_HOLD_S = 5.0
"""How long a known direction of travel carries steps whose direction vision could not give (s; docs/results.md
"Holding the direction of travel": the lowest mean ATE over the moving ShoeboxAV set, clean and corrupted)."""
MIN_TRAVEL_M = 1e-3
"""A step shorter than this (m) does not renew the held direction of travel: standing still, it is noise."""
PERSISTENCE_LAG_S = 2.0
"""The travel prior (`OdometryIntegrator.translation_prior`) is given only while the rig keeps its direction: each sure
direction is compared with the one measured this long before (s; within PERSISTENCE_SLACK_S) ..."""
PERSISTENCE_SLACK_S = 0.5
PERSISTENCE_CHECKS = 10
"""... the last this many comparisons count ..."""
PERSISTENCE_MIN_CHECKS = 3
"""... at least this many ..."""
PERSISTENCE_MAX_DEG = 30.0
"""... and their median angle must stay within this (degrees). ShoeboxAV's random paths (a new heading every second)
turn a median 29° (hand-held, in odom) to 60° (ground robots, in the rig's axes) in 2 s; the demo's arc 18°. Without
the check, the parallax correction cost the ground-robot scenes 0.9–1.4° of heading per frame (docs/results.md)."""
HOLD_MAX_DIRECTION_STD_DEG = 35.0
"""An estimate whose translation direction is less sure than this (1-σ, degrees) does not renew the held direction:
integrated as it is, but not carried on for seconds (docs/results.md "Holding the direction of travel": on the moving
set the lowest mean ATE of 15-50° and none; on the bag test's scenes it kept a 100° wrong direction from being held)."""


def _direction_std_deg(estimate: PoseEstimate) -> float:
    """1-σ of an estimate's unit translation direction, degrees (its covariance's trace, radians² for small errors)."""
    return math.degrees(math.sqrt(max(float(np.trace(np.asarray(estimate.covariance)[:3, :3])), 0.0)))


def hold_frame_for(planar_motion: bool) -> str:
    """Where a held direction of travel is fixed: `sensor` or `odom`.

    The rig's axes for a ground robot (it drives along its heading), else odom (a hand-held camera looks around as
    it walks).
    """
    return 'sensor' if planar_motion else 'odom'


# ------------------------------------------------------------------------------------------ integration
@dataclass
class Keyframe:
    """An integrated frame: stamp (s), sensor pose in odom (4×4), its covariance (6×6, own axes), payload.

    `partner_stamp_s`, `T_a_b` and `rotation_information` keep the relative estimate it was integrated with (its
    partner's stamp, the scaled T_a_b, the inverse of its rotation covariance in a's axes) for the smoother; None
    for an anchor (and the information without a smoother).
    """

    stamp_s: float
    T_odom_sensor: np.ndarray
    covariance: np.ndarray
    payload: Any = None
    partner_stamp_s: float | None = None
    T_a_b: np.ndarray | None = None
    rotation_information: np.ndarray | None = None


@dataclass(frozen=True)
class OdometryStep:
    """The result of integrating one relative pose.

    Attributes:
        stamp_s: time of the new keyframe b (s).
        partner_stamp_s: time of its partner a (s).
        T_odom_sensor: 4×4 pose of the sensor at b in odom; `covariance` 6×6 in b's sensor axes.
        T_a_b: the scaled relative pose (metric translation, or zero when unknown); `relative_covariance`
            its covariance in a's axes.
        twist: (vx, vy, vz, wx, wy, wz), the mean body twist of the sensor over [t_a, t_b] in b's axes
            (m/s, rad/s); `twist_covariance` 6×6.
        scale_known: whether the translation is metric.
        direction_held: whether its translation follows the last known direction of travel (`direction_hold_s`).
    """

    stamp_s: float
    partner_stamp_s: float
    T_odom_sensor: np.ndarray
    covariance: np.ndarray
    T_a_b: np.ndarray
    relative_covariance: np.ndarray
    twist: np.ndarray
    twist_covariance: np.ndarray
    scale_known: bool
    direction_held: bool = False

    def body_pose(self, T_body_sensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pose of the body in odom (odom = the body at the first keyframe) and its covariance (body axes)."""
        T_sensor_body = invert_transform(T_body_sensor)
        T = T_body_sensor @ self.T_odom_sensor @ T_sensor_body
        Ad = adjoint(T_body_sensor)
        return T, symmetric(Ad @ self.covariance @ Ad.T)

    def body_twist(self, T_body_sensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The twist of the rigidly attached body, in body axes, and its covariance."""
        Ad = adjoint(T_body_sensor)
        return Ad @ self.twist, symmetric(Ad @ self.twist_covariance @ Ad.T)


def checked_estimate(estimate: PoseEstimate) -> PoseEstimate:
    """`estimate`, or an invalid one in its place where a valid estimate carries non-finite numbers."""
    if not estimate.valid or (np.all(np.isfinite(estimate.T_a_b)) and np.all(np.isfinite(estimate.covariance))):
        return estimate
    return PoseEstimate.invalid('non-finite estimate')


@dataclass
class BatchPlan:
    """What `OdometryIntegrator.plan` made of a batch of keyframes (positions index the batch).

    Attributes:
        anchors: (position, keyframe) of the keyframes that (re)started the chain.
        pairs: (position, partner) of the keyframes to estimate against their partner, then `settle`.
        deferred: positions that need a restart but wait for the earlier keyframes' estimates (`finish`).
    """

    anchors: list[tuple[int, Keyframe]] = field(default_factory=list)
    pairs: list[tuple[int, Keyframe]] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)


@dataclass
class OdometryIntegrator:
    """Chains relative poses of keyframes `gap_s` apart into odometry (see the module docstring).

    Args:
        scale: the translation scale policy.
        gap_s: preferred time between the two frames of a pair (s; the paper's models work for 0.5–4 s).
        min_gap_s: shortest accepted gap (default gap_s / 2): younger keyframes are not partners.
        max_gap_s: longest accepted gap (default 4·gap_s); keyframes older than this are forgotten.
        smoother: ties the interleaved chains together after each keyframe (`av_pose.pose.smoothing`), where they
            interleave (the new keyframe's partner is not the keyframe before it); None: every keyframe is exactly
            its partner's pose times its estimate.
        direction_hold_s: where a valid pair's translation direction is unknown (vision failed; the rotation came
            from the image shift or the audio) but the scale policy knows the distance, move that distance along
            the last known direction of travel, if it was known at most this long ago (s; 0 = off: such steps do
            not move); where the scale policy knows the travel itself (a reference odometry with orientations,
            `ScalePolicy.travel`), move by that instead. The covariance stays UNKNOWN_VARIANCE: the translation is
            a guess for the pose's mean, not a measurement of this estimator's.
        direction_hold_frame: where the held direction is fixed: `sensor` (the rig's own axes: a ground robot
            drives along its heading) or `odom` (the world: a hand-held camera looks around as it walks).
    """

    scale: ScalePolicy
    gap_s: float = 1.0
    min_gap_s: float | None = None
    max_gap_s: float | None = None
    keyframes: deque[Keyframe] = field(default_factory=deque)
    smoother: ChainSmoother | None = None
    direction_hold_s: float = 0.0
    direction_hold_frame: str = 'odom'

    def __post_init__(self) -> None:
        self.min_gap_s = 0.5 * self.gap_s if self.min_gap_s is None else float(self.min_gap_s)
        self.max_gap_s = 4.0 * self.gap_s if self.max_gap_s is None else float(self.max_gap_s)
        if not 0 < self.min_gap_s <= self.gap_s <= self.max_gap_s:
            raise UserInputError(f'need 0 < min_gap_s <= gap_s <= max_gap_s, got {self.min_gap_s}, '
                                 f'{self.gap_s}, {self.max_gap_s}')
        if self.direction_hold_frame not in DIRECTION_HOLD_FRAMES:
            raise UserInputError(f'direction_hold_frame must be one of {", ".join(DIRECTION_HOLD_FRAMES)}, '
                                 f'got {self.direction_hold_frame!r}')
        if not (math.isfinite(self.direction_hold_s) and self.direction_hold_s >= 0):
            raise UserInputError(f'direction_hold_s must be >= 0 s, got {self.direction_hold_s}')
        self._anchor = (np.eye(4), np.zeros((6, 6)))
        self._restarted = False
        self.restarts = 0   # chain restarts after no pose for longer than max_gap_s (`plan`, `finish`)
        # the recent sure directions of travel: (stamp, unit direction in odom, in sensor), newest last
        self._travels: deque[tuple[float, np.ndarray, np.ndarray]] = deque(maxlen=64)
        self._turns: deque[float] = deque(maxlen=PERSISTENCE_CHECKS)  # their angles PERSISTENCE_LAG_S apart, deg

    @property
    def latest(self) -> Keyframe | None:
        """The newest keyframe."""
        return self.keyframes[-1] if self.keyframes else None

    def needs_anchor(self, stamp_s: float) -> bool:
        """True when `stamp_s` cannot be paired and should start (or restart) the chain instead.

        That is the case with no keyframes, or when every keyframe is older than `max_gap_s` (a long pause
        of the input): the chain restarts there, continuing from the last pose.
        """
        latest = self.latest
        return latest is None or stamp_s - latest.stamp_s > self.max_gap_s + STAMP_TOLERANCE_S

    def anchor(self, stamp_s: float, payload: Any = None) -> Keyframe:
        """Start the chain at `stamp_s`: identity at the very start, else the last pose.

        A restarted chain (after a pause longer than `max_gap_s` or a `reset`) does not know the motion in
        between, so UNKNOWN_VARIANCE is added to every axis of the covariance: odom stays continuous, honestly.
        """
        latest = self.latest
        T, cov = (latest.T_odom_sensor, latest.covariance) if latest is not None else self._anchor
        if latest is not None or self._restarted:
            cov = cov + np.eye(6) * UNKNOWN_VARIANCE
        self._restarted = False
        self.keyframes.clear()
        keyframe = Keyframe(float(stamp_s), T.copy(), cov.copy(), payload)
        self.keyframes.append(keyframe)
        return keyframe

    def drop(self, partner: Keyframe, stamp_s: float, payload: Any = None) -> Keyframe | None:
        """An invalid estimate for the pair (`partner`, the frame at `stamp_s`): that frame gets no pose.

        The next frame pairs across it with an older keyframe (`partner_for`), except where the partner is the lone
        anchor of a (re)started chain: then the chain restarts at this frame instead (`anchor`; the anchor may be
        the frame that could not be paired, e.g. blurred, and nothing was measured from it). Returns the new anchor,
        or None.
        """
        if len(self.keyframes) == 1 and self.keyframes[0] is partner and stamp_s > partner.stamp_s:
            return self.anchor(stamp_s, payload)
        return None

    def plan(self, stamps_s: Sequence[float], payloads: Sequence[Any]) -> BatchPlan:
        """Anchor or pair each keyframe of a batch (in time order, closer together than `min_gap_s`).

        A keyframe that needs a (re)start after one that is to be estimated waits for that estimate (`finish`):
        anchored first, it would put the chain out of time order. One without a partner old enough is skipped.
        """
        plan = BatchPlan()
        for position, (stamp_s, payload) in enumerate(zip(stamps_s, payloads)):
            if self.needs_anchor(stamp_s):
                if plan.pairs:
                    plan.deferred.append(position)
                else:
                    plan.anchors.append((position, self._restart(stamp_s, payload)))
            elif (partner := self.partner_for(stamp_s)) is not None:
                plan.pairs.append((position, partner))
        return plan

    def settle(self, partner: Keyframe, stamp_s: float, estimate: PoseEstimate,
               payload: Any = None) -> OdometryStep | Keyframe | None:
        """Take the estimate of a planned pair.

        Valid and finite: integrated (`add`; returns the step). Else dropped (`drop`; returns the anchor the chain
        restarted at, or None).
        """
        estimate = checked_estimate(estimate)
        if estimate.valid:
            return self.add(partner, stamp_s, estimate, payload)
        return self.drop(partner, stamp_s, payload)

    def finish(self, plan: BatchPlan, stamps_s: Sequence[float],
               payloads: Sequence[Any]) -> list[tuple[int, Keyframe]]:
        """After the batch's estimates, restart at the deferred keyframes that still have nothing to pair with.

        Returns their (position, anchor); the others' partners are too young: skipped.
        """
        return [(position, self._restart(stamps_s[position], payloads[position])) for position in plan.deferred
                if self.needs_anchor(stamps_s[position])]

    def _restart(self, stamp_s: float, payload: Any) -> Keyframe:
        """`anchor`, counting a restart of a chain that had keyframes (`restarts`)."""
        self.restarts += self.latest is not None
        return self.anchor(stamp_s, payload)

    def partner_for(self, stamp_s: float) -> Keyframe | None:
        """The keyframe to pair with a frame at `stamp_s`: age within [min_gap_s, max_gap_s], nearest to gap_s.

        None when every keyframe is younger than min_gap_s (wait for the next frame) or there are none.
        """
        best, best_error = None, math.inf
        for keyframe in self.keyframes:
            age = stamp_s - keyframe.stamp_s
            if self.min_gap_s - STAMP_TOLERANCE_S <= age <= self.max_gap_s + STAMP_TOLERANCE_S \
                    and abs(age - self.gap_s) < best_error:
                best, best_error = keyframe, abs(age - self.gap_s)
        return best

    def add(self, partner: Keyframe, stamp_s: float, estimate: PoseEstimate, payload: Any = None) -> OdometryStep:
        """Integrate `estimate` (T_a_b with a = partner, b = the frame at `stamp_s`) and store b as a keyframe."""
        dt = float(stamp_s) - partner.stamp_s
        if dt <= 0:
            raise UserInputError(f'keyframe at {stamp_s} s is not after its partner at {partner.stamp_s} s')
        scale = self.scale.scale(partner.stamp_s, float(stamp_s))
        T_a_b, cov_rel = scaled_relative(estimate, scale)
        direction_known = estimate.translation_known and bool(np.any(estimate.T_a_b[:3, 3]))
        sure = direction_known and _direction_std_deg(estimate) <= HOLD_MAX_DIRECTION_STD_DEG
        if sure and scale is not None and scale.distance_m > MIN_TRAVEL_M:
            unit = T_a_b[:3, 3] / np.linalg.norm(T_a_b[:3, 3])
            self._note_persistence((float(stamp_s), partner.T_odom_sensor[:3, :3] @ unit, unit))
        held = not direction_known and estimate.valid and scale is not None and self.direction_hold_s > 0
        if held:
            travel = self.scale.travel(partner.stamp_s, float(stamp_s))
            direction = self._held_direction(partner, float(stamp_s)) if travel is None else None
            held = travel is not None or direction is not None
            if held:
                T_a_b[:3, 3] = travel if travel is not None else scale.distance_m * direction
        Ad_b_a = adjoint(invert_transform(T_a_b))
        covariance = symmetric(Ad_b_a @ (partner.covariance + cov_rel) @ Ad_b_a.T)
        T_odom_b = partner.T_odom_sensor @ T_a_b
        twist = se3_log(T_a_b) / dt
        twist_cov = symmetric(Ad_b_a @ cov_rel @ Ad_b_a.T) / dt**2
        information = rotation_information(cov_rel) if self.smoother is not None else None
        self.keyframes.append(Keyframe(float(stamp_s), T_odom_b, covariance, payload, partner.stamp_s, T_a_b,
                                       information))
        while self.keyframes and stamp_s - self.keyframes[0].stamp_s > self.max_gap_s + STAMP_TOLERANCE_S:
            self.keyframes.popleft()
        if self.smoother is not None and len(self.keyframes) >= 2 and self.keyframes[-2] is not partner:
            T_odom_b = self._smooth()   # chains interleave (one chain: nothing to tie, the prior would only bend it)
        return OdometryStep(float(stamp_s), partner.stamp_s, T_odom_b, covariance, T_a_b, cov_rel, twist,
                            twist_cov, scale is not None and estimate.translation_known, held)

    def _held_direction(self, partner: Keyframe, stamp_s: float) -> np.ndarray | None:
        """The last known direction of travel in the partner's axes (unit 3-vector), or None.

        None unless a sure direction was renewed within `direction_hold_s` of `stamp_s`.
        """
        if not self._travels or stamp_s - self._travels[-1][0] > self.direction_hold_s:
            return None
        _, in_odom, in_sensor = self._travels[-1]
        return in_sensor if self.direction_hold_frame == 'sensor' else partner.T_odom_sensor[:3, :3].T @ in_odom

    def _note_persistence(self, travel: tuple[float, np.ndarray, np.ndarray]) -> None:
        """Compare a new sure direction with the one measured about PERSISTENCE_LAG_S before (in the hold frame)."""
        column = 2 if self.direction_hold_frame == 'sensor' else 1
        lag = travel[0] - PERSISTENCE_LAG_S
        earlier = min(self._travels, key=lambda old: abs(old[0] - lag), default=None)
        if earlier is not None and abs(earlier[0] - lag) <= PERSISTENCE_SLACK_S:
            cosine = float(np.clip(earlier[column] @ travel[column], -1.0, 1.0))
            self._turns.append(math.degrees(math.acos(cosine)))
        self._travels.append(travel)

    def path_persists(self) -> bool:
        """Whether the rig has lately kept its direction of travel (`translation_prior`'s condition).

        True when at least PERSISTENCE_MIN_CHECKS of the last PERSISTENCE_CHECKS sure directions could be compared
        with the one measured PERSISTENCE_LAG_S before (in the hold frame) and their median angle is within
        PERSISTENCE_MAX_DEG.
        """
        return len(self._turns) >= PERSISTENCE_MIN_CHECKS and float(np.median(self._turns)) <= PERSISTENCE_MAX_DEG

    def translation_prior(self, partner: Keyframe, stamp_s: float) -> np.ndarray | None:
        """The sensor's expected displacement from `partner` to the frame at `stamp_s` (3,), or None.

        In the partner's axes, metres: the reference odometry's own travel where it knows it (`ScalePolicy.travel`),
        else the scale policy's distance along the held direction of travel (where the direction hold would move
        it); None without a scale or a recent direction, or while the path does not keep its direction
        (`path_persists`: a held direction would then point anywhere). For `PosePair.translation_prior_m` (the
        parallax of the audio yaw, `av_pose.pose.parallax`).
        """
        travel = self.scale.travel(partner.stamp_s, float(stamp_s))
        if travel is not None:
            return travel
        direction = self._held_direction(partner, float(stamp_s))
        if direction is None or not self.path_persists():
            return None
        scale = self.scale.scale(partner.stamp_s, float(stamp_s))
        return None if scale is None else scale.distance_m * direction

    def describe_direction_hold(self) -> str:
        """One line for logs and diagnostics."""
        if self.direction_hold_s <= 0:
            return 'off'
        axes = "the rig's axes" if self.direction_hold_frame == 'sensor' else 'odom'
        return f'{self.direction_hold_s:g} s in {axes}'

    def _smooth(self) -> np.ndarray:
        """Re-estimate the recent keyframes' poses with the smoother; the newest one's pose."""
        index = {keyframe.stamp_s: k for k, keyframe in enumerate(self.keyframes)}
        edges = [ChainEdge(index[keyframe.partner_stamp_s], k, keyframe.T_a_b, keyframe.rotation_information)
                 for k, keyframe in enumerate(self.keyframes)
                 if keyframe.rotation_information is not None and keyframe.partner_stamp_s in index]
        poses = self.smoother.smooth([keyframe.stamp_s for keyframe in self.keyframes],
                                     [keyframe.T_odom_sensor for keyframe in self.keyframes], edges)
        for keyframe, pose in zip(self.keyframes, poses):
            keyframe.T_odom_sensor = pose
        return poses[-1].copy()

    def reset(self) -> None:
        """Forget the keyframes (after time went backwards) but keep the pose: odom stays continuous.

        The next frame anchors a new chain at the last pose (see `anchor`).
        """
        latest = self.latest
        if latest is not None:
            self._anchor = (latest.T_odom_sensor.copy(), latest.covariance.copy())
            self._restarted = True
        self.keyframes.clear()
        self._travels.clear()
        self._turns.clear()
        self.scale.reset()

