"""A world-frame map of sound sources built from tracked bearings and the rig's trajectory.

Each confirmed track of the tracker (`sources.tracker`) feeds its bearings, turned into the world (odom) frame
with the array pose at the bearing's audio time, to a `SourceLocator`. The locator fits the rays by least squares
(`triangulation.fit_rays`). When the rays stop meeting (their residual exceeds the noise model) the source is
moving: it is refitted with a constant velocity over the recent bearings and flagged `moving`. A track that is
reborn for a source already in the map (a talker who paused) is merged into the old source instead of a second entry.

`source_fields` and `source_marker_specs` say what a map's messages hold without any message library, so
`source_map_node` (rclpy) and `av-pose bag` (rosbags) publish and draw it alike.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from av_pose.pose.outputs import ADD, ARROW, DELETEALL, MarkerSpec
from av_pose.sources.triangulation import RayFit, bearing_vectors, fit_rays

SOURCE_NAMESPACES = ('sound_sources', 'sound_source_covariance', 'sound_source_ids')
SPHERE, CYLINDER, TEXT_VIEW_FACING = 2, 3, 9
"""visualization_msgs/Marker types (the others: `av_pose.pose.outputs`)."""
_PALETTE = np.array([[0.90, 0.10, 0.29], [0.24, 0.71, 0.29], [0.26, 0.39, 0.85], [0.96, 0.51, 0.19],
                     [0.57, 0.12, 0.71], [0.27, 0.94, 0.94], [0.94, 0.20, 0.90], [0.74, 0.96, 0.05]])


class TrackLike(Protocol):
    """What the map needs of a track: an id and a bearing in the array frame (degrees).

    The bearing is `measured_azimuth_deg` where the track has one (the DOA peak of this window), else
    `azimuth_deg` (a coasting track's prediction).
    """

    id: int
    azimuth_deg: float
    elevation_deg: float


@dataclass(frozen=True)
class SourceMapConfig:
    """Tuning of the source map.

    Attributes:
        bearing_sigma_deg: Standard deviation of one bearing, degrees (DOA error plus tracker lag; ~5° measured
            on ShoeboxAV with 1 s windows).
        prior_range_m: Prior distance along the bearing before the rig has moved, metres.
        prior_std_m: Prior standard deviation, metres (weak: the rays decide once they cross).
        window_s: Bearings of a static source kept for its fit, seconds.
        moving_window_s: Shortest span of bearings fitted once a source is found moving, seconds. A moving
            source is fitted with a constant velocity over the longest recent span (halved from the whole
            window) whose rays agree; its position is observable while the rig's own path bends.
        moving_chi2: Residual per degree of freedom above which the rays no longer meet; the source counts as
            moving when a constant velocity over all its bearings halves that residual (else it is a static
            source with worse bearings than `bearing_sigma_deg` says, and its covariance is inflated).
        min_observations: Bearings before a source is reported (15 = 1.5 s of a track at 10 Hz: shorter-lived
            tracks are mostly reflections and noise).
        merge_distance_m: A new track's source within this distance (and 3σ) of a source whose track has
            ended is merged into it.
        localized_std_m: A source is `localized` when its largest position standard deviation is below this.
        forget_s: A source not heard for this long leaves the map (inf = never).
        robust_sigmas: Cauchy scale of the ray fit, in bearing standard deviations (`fit_rays`): bearings a
            track took from another source or a reflection lose their pull (None: plain least squares).
        prediction_s: A coasting track's predicted bearing (no DOA peak in this window) is used for this long
            after the track was last heard, seconds; later predictions are left out. The tracker may coast longer
            to keep showing a source (ZoneNet's tracks coast 1.5 s): on the ten ShoeboxAV sets that raised the
            tracked share of source-windows by 4–5 points, but fed the longer predictions to the map it cost the
            held-out map 0.1 m; with the horizon 0.01–0.02 m after 5 s and at the end (stop 34).
    """

    bearing_sigma_deg: float = 5.0
    prior_range_m: float = 2.0
    prior_std_m: float = 5.0
    window_s: float = 30.0
    moving_window_s: float = 3.0
    moving_chi2: float = 6.0
    min_observations: int = 15
    merge_distance_m: float = 0.6
    localized_std_m: float = 0.5
    forget_s: float = float('inf')
    robust_sigmas: float | None = 3.0
    prediction_s: float = 0.8


@dataclass(frozen=True)
class MappedSource:
    """One source of the map, in the world (odom) frame.

    Attributes:
        id: Map id (the id of the first track that heard it).
        position_m: (3,) metres. For planar arrays the height is the array's, with a 1 m standard deviation.
        covariance: 3×3 m².
        moving: the rays do not meet: the position is the recent one.
        localized: the largest standard deviation is below `localized_std_m` (the rays cross).
        num_observations: bearings in the fit.
        first_heard_s, last_heard_s: audio times, seconds.
        track_ids: tracker ids merged into this source.
    """

    id: int
    position_m: np.ndarray
    covariance: np.ndarray
    moving: bool
    localized: bool
    num_observations: int
    first_heard_s: float
    last_heard_s: float
    track_ids: tuple[int, ...]


@dataclass
class _Observation:
    stamp_s: float
    origin: np.ndarray      # (3,) array centre, world
    direction: np.ndarray   # (3,) unit bearing, world
    planar: bool            # elevation unresolved


@dataclass
class SourceLocator:
    """Bearings of one source and their fit."""

    config: SourceMapConfig
    id: int
    observations: deque = field(default_factory=deque)
    track_ids: list[int] = field(default_factory=list)
    moving: bool = False
    fit: RayFit | None = None

    def add(self, observation: _Observation) -> None:
        """Append a bearing; drop those older than the window."""
        self.observations.append(observation)
        while self.observations and observation.stamp_s - self.observations[0].stamp_s > self.config.window_s:
            self.observations.popleft()
        self.fit = None

    def absorb(self, other: SourceLocator) -> None:
        """Take over the bearings and track ids of `other` (a later track of the same source)."""
        merged = sorted([*self.observations, *other.observations], key=lambda obs: obs.stamp_s)
        self.observations = deque(merged)
        self.track_ids += [tid for tid in other.track_ids if tid not in self.track_ids]
        self.fit = None

    def solve(self) -> MappedSource | None:
        """The current estimate, or None before `min_observations` bearings."""
        cfg = self.config
        if len(self.observations) < cfg.min_observations:
            return None
        if self.fit is None:
            self.fit, self.moving = self._fit(list(self.observations)), False
            if self.fit.chi2_per_dof > cfg.moving_chi2:  # the rays do not meet: a moving source, if motion explains it
                whole = self._fit(list(self.observations), with_velocity=True)
                if whole.chi2_per_dof < 0.5 * self.fit.chi2_per_dof:
                    self.fit, self.moving = self._fit_moving(), True
        return self._mapped(self.fit)

    def _fit_moving(self) -> RayFit:
        """Constant-velocity fit over the longest recent span whose rays agree (halving down to the minimum)."""
        latest = self.observations[-1].stamp_s
        span = latest - self.observations[0].stamp_s
        while True:
            recent = [obs for obs in self.observations if latest - obs.stamp_s <= span]
            fit = self._fit(recent, with_velocity=True)
            if fit.chi2_per_dof <= self.config.moving_chi2 or span <= self.config.moving_window_s:
                return fit
            span = max(self.config.moving_window_s, span / 2.0)

    def _fit(self, observations: list[_Observation], with_velocity: bool = False) -> RayFit:
        cfg = self.config
        origins = np.stack([obs.origin for obs in observations])
        directions = np.stack([obs.direction for obs in observations])
        planar = all(obs.planar for obs in observations)
        dims = 2 if planar else 3
        if planar:
            directions = directions.copy()
            directions[:, 2] = 0.0
        prior = origins[-1] + cfg.prior_range_m * directions[-1] / np.linalg.norm(directions[-1])
        fit = fit_rays(origins[:, :dims], directions[:, :dims], np.radians(cfg.bearing_sigma_deg),
                       prior_mean=prior[:dims], prior_std_m=cfg.prior_std_m, robust_sigmas=cfg.robust_sigmas,
                       times_s=np.array([obs.stamp_s for obs in observations]) if with_velocity else None)
        if not planar:
            return fit
        position = np.append(fit.position, origins[:, 2].mean())
        covariance = np.zeros((3, 3))
        covariance[:2, :2] = fit.covariance
        covariance[2, 2] = 1.0
        return RayFit(position, covariance, fit.chi2_per_dof, fit.num_rays)

    def _mapped(self, fit: RayFit) -> MappedSource:
        dims = 2 if self.observations[-1].planar else 3
        largest_std = float(np.sqrt(np.linalg.eigvalsh(fit.covariance[:dims, :dims]).max()))
        return MappedSource(self.id, fit.position, fit.covariance, self.moving,
                            largest_std < self.config.localized_std_m, len(self.observations),
                            self.observations[0].stamp_s, self.observations[-1].stamp_s, tuple(self.track_ids))


class SourceMap:
    """Tracks' bearings + array poses → source positions in the world frame.

    `update(stamp_s, tracks, T_world_array)` adds one bearing per track; `sources()` returns the map.
    """

    def __init__(self, config: SourceMapConfig | None = None) -> None:
        self.config = config or SourceMapConfig()
        self._locators: dict[int, SourceLocator] = {}   # map id → locator
        self._by_track: dict[int, int] = {}              # tracker id → map id
        self._last_heard_s: dict[int, float] = {}        # tracker id → audio time of its last DOA peak
        self._last_stamp_s = -np.inf

    def update(self, stamp_s: float, tracks: list[TrackLike], T_world_array: np.ndarray) -> None:
        """Add the bearings of `tracks` (array frame, heard at `stamp_s`) seen from the array pose `T_world_array`."""
        T = np.asarray(T_world_array, dtype=np.float64)
        self._last_stamp_s = max(self._last_stamp_s, float(stamp_s))
        live = {track.id for track in tracks}
        self._last_heard_s = {i: t for i, t in self._last_heard_s.items() if i in live}
        for track in tracks:
            measured = float(getattr(track, 'measured_azimuth_deg', track.azimuth_deg))  # no such field: heard
            if np.isfinite(measured):
                self._last_heard_s[track.id] = float(stamp_s)
            elif float(stamp_s) - self._last_heard_s.get(track.id, float(stamp_s)) > self.config.prediction_s + 1e-6:
                continue  # coasting for longer than the map trusts a prediction
            azimuth = measured if np.isfinite(measured) else float(track.azimuth_deg)
            if not getattr(track, 'confirmed', True) or not np.isfinite(azimuth):
                continue
            elevation = float(getattr(track, 'elevation_deg', np.nan))
            direction = bearing_vectors(azimuth, elevation, T[:3, :3])[0]
            observation = _Observation(float(stamp_s), T[:3, 3].copy(), direction, not np.isfinite(elevation))
            map_id = self._by_track.get(track.id)
            if map_id is None:
                map_id = self._by_track[track.id] = track.id
                self._locators[map_id] = SourceLocator(self.config, map_id, track_ids=[track.id])
            self._locators[map_id].add(observation)
        self._merge_reborn_tracks()
        self._forget()

    def sources(self) -> list[MappedSource]:
        """Every source with enough bearings, by id."""
        mapped = (locator.solve() for _, locator in sorted(self._locators.items()))
        return [source for source in mapped if source is not None]

    def source(self, source_id: int) -> MappedSource | None:
        """One source by map id (None if unknown or not yet located)."""
        locator = self._locators.get(source_id)
        return None if locator is None else locator.solve()

    def _merge_reborn_tracks(self) -> None:
        """A locator whose track is new and whose position matches an ended source joins that source."""
        stamp = self._last_stamp_s
        fitted = {map_id: locator.solve() for map_id, locator in self._locators.items()}
        for young_id, young in list(fitted.items()):
            if young is None or young.moving or young_id not in self._locators:
                continue
            for old_id, old in fitted.items():
                if old is None or old_id == young_id or old_id not in self._locators or old.moving \
                        or old.first_heard_s >= young.first_heard_s or old.last_heard_s >= young.first_heard_s:
                    continue  # only an older source that had fallen silent before this one started
                if self._same_place(young, old) and stamp - young.first_heard_s >= 0:
                    self._locators[old_id].absorb(self._locators.pop(young_id))
                    for track_id, map_id in self._by_track.items():
                        if map_id == young_id:
                            self._by_track[track_id] = old_id
                    break

    def _same_place(self, a: MappedSource, b: MappedSource) -> bool:
        difference = a.position_m - b.position_m
        if not (a.localized and b.localized) or np.linalg.norm(difference[:2]) > self.config.merge_distance_m:
            return False
        covariance = a.covariance + b.covariance
        mahalanobis2 = float(difference[:2] @ np.linalg.solve(covariance[:2, :2], difference[:2]))
        return mahalanobis2 <= 9.0

    def _forget(self) -> None:
        for map_id, locator in list(self._locators.items()):
            if self._last_stamp_s - locator.observations[-1].stamp_s > self.config.forget_s:
                del self._locators[map_id]
                self._by_track = {tid: mid for tid, mid in self._by_track.items() if mid != map_id}


def goal_pose(source: MappedSource, robot_xy: np.ndarray, standoff_m: float = 0.8) -> tuple[float, float, float]:
    """A 2-D navigation goal (x, y metres, yaw radians, world frame) `standoff_m` short of the source, facing it.

    The goal lies on the line from the robot's position towards the source.
    """
    robot = np.asarray(robot_xy, dtype=np.float64)[:2]
    target = source.position_m[:2]
    offset = target - robot
    distance = float(np.linalg.norm(offset))
    heading = float(np.arctan2(offset[1], offset[0])) if distance > 1e-9 else 0.0
    stop = robot + offset * max(0.0, distance - standoff_m) / distance if distance > 1e-9 else robot
    return float(stop[0]), float(stop[1]), heading


def id_rgba(item_id: int, alpha: float = 1.0) -> tuple[float, float, float, float]:
    """A stable colour (RGBA in [0, 1]) per track or source id."""
    r, g, b = _PALETTE[int(item_id) % len(_PALETTE)]
    return float(r), float(g), float(b), float(alpha)


@dataclass(frozen=True)
class PlacedMarkerSpec(MarkerSpec):
    """A `MarkerSpec` with a pose (4×4 T_frame_marker; `points` are in the marker's frame) and a text."""

    pose: np.ndarray = field(default_factory=lambda: np.eye(4))
    text: str = ''


def _in_frame(T_frame_map: np.ndarray | None) -> np.ndarray:
    return np.eye(4) if T_frame_map is None else np.asarray(T_frame_map, dtype=np.float64).reshape(4, 4)


def source_fields(source: MappedSource, T_frame_map: np.ndarray | None = None) -> dict:
    """The av_pose_msgs/SoundSource fields of a map entry as plain values, in the frame of `T_frame_map`.

    `T_frame_map` (4×4, default identity) takes the map's frame to the published one: position (m) and
    covariance (m², row-major 9) are transformed. `last_heard_s` is the map's audio time (s).
    """
    T = _in_frame(T_frame_map)
    position = T[:3, :3] @ np.asarray(source.position_m, dtype=np.float64) + T[:3, 3]
    covariance = T[:3, :3] @ np.asarray(source.covariance, dtype=np.float64).reshape(3, 3) @ T[:3, :3].T
    return {'id': int(source.id), 'position': tuple(float(v) for v in position),
            'position_covariance': [float(v) for v in covariance.reshape(9)], 'moving': bool(source.moving),
            'localized': bool(source.localized), 'observations': int(source.num_observations),
            'last_heard_s': float(source.last_heard_s), 'track_ids': [int(t) for t in source.track_ids]}


def source_marker_specs(sources: list[MappedSource], sigmas: float = 2.0,
                        T_frame_map: np.ndarray | None = None) -> list[MarkerSpec]:
    """Per source: a sphere, a flat ellipse of the horizontal covariance (`sigmas` std) and its id as text.

    Drawn in the map's (z-up) frame and placed with `T_frame_map` (4×4, default identity) in the published
    frame. The first spec deletes the previous markers; the others never expire. Sizes in metres.
    """
    T = _in_frame(T_frame_map)
    empty = np.zeros((0, 3))
    specs: list[MarkerSpec] = [MarkerSpec(SOURCE_NAMESPACES[0], 0, ARROW, DELETEALL, empty, (0.0, 0.0, 0.0, 0.0),
                                          (0.0, 0.0, 0.0))]
    sphere_ns, ellipse_ns, label_ns = SOURCE_NAMESPACES
    for source in sources:
        position = np.asarray(source.position_m, dtype=np.float64)
        values, vectors = np.linalg.eigh(np.asarray(source.covariance, dtype=np.float64)[:2, :2])
        radii = sigmas * np.sqrt(np.maximum(values, 0.0))
        yaw = float(np.arctan2(vectors[1, 1], vectors[0, 1]))  # major axis → marker x
        ellipse = np.eye(4)
        ellipse[:2, :2] = [[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]]
        ellipse[:3, 3] = position
        sphere, label = np.eye(4), np.eye(4)
        sphere[:3, 3], label[:3, 3] = position, position + [0.0, 0.0, 0.3]
        alpha = 1.0 if source.localized else 0.4
        text = f'source {source.id}' + (' (moving)' if source.moving else '')
        specs += [PlacedMarkerSpec(sphere_ns, int(source.id), SPHERE, ADD, empty, id_rgba(source.id, alpha),
                                   (0.2, 0.2, 0.2), pose=T @ sphere),
                  PlacedMarkerSpec(ellipse_ns, int(source.id), CYLINDER, ADD, empty, id_rgba(source.id, 0.25),
                                   (2 * float(radii[1]), 2 * float(radii[0]), 0.01), pose=T @ ellipse),
                  PlacedMarkerSpec(label_ns, int(source.id), TEXT_VIEW_FACING, ADD, empty, id_rgba(source.id),
                                   (0.0, 0.0, 0.2), pose=T @ label, text=text)]
    return specs
