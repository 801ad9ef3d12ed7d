"""Multi-source tracking of DOA peaks on the circle: ids that live and die with the sound sources.

Each update takes the K peaks of one DOA window (azimuths in the ARRAY frame, degrees CCW from the array's +x,
REP-103) and returns the live tracks. Per track a small Kalman filter holds the azimuth and its rate on the wrapped
angle; peaks are associated to predicted tracks inside an angular gate by the Hungarian method (confirmed tracks
first, then tentative ones); a peak left over starts a tentative track, which is confirmed after M hits in its first
N updates and otherwise dropped; a confirmed track that gets no peak coasts on its prediction and dies once it has
not been heard for `coast_s`. There is no maximum number of tracks: the number of peaks per window is the limit.
Ids count up from 0 and are never given to another source; a track confirmed where a track died moments ago takes
that track's id back (revival: a talker's pause longer than the coasting keeps its id), and so does one confirmed
near a track that is still coasting and has not been heard since the new one was born (its source came back beyond
the gate: the coasting track is dropped and its id goes on).

Rig rotation: when the array's yaw in a world (odom) frame is given, the filters run in the world-aligned frame
(azimuth + yaw), so a turning rig neither sweeps its static sources nor breaks association; the outputs go back to
the array frame with the current yaw. This is exact for a level array (z up); tilt leaves a small error.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from av_pose.errors import UserInputError
from av_pose.geometry import wrap_deg

TENTATIVE, CONFIRMED, COASTING = 'tentative', 'confirmed', 'coasting'


def _wrap180(angle_deg: np.ndarray | float) -> np.ndarray | float:
    """Wrap degrees to [−180, 180)."""
    return (np.asarray(angle_deg) + 180.0) % 360.0 - 180.0


@dataclass(frozen=True)
class TrackerConfig:
    """Tuning of `SourceTracker` (defaults tuned on ShoeboxAV: respeaker4, 1 s windows every 0.1 s, NormMUSIC).

    Attributes:
        gate_deg: A peak further than this from a track's predicted azimuth cannot update it, degrees ...
        gate_sigmas: ... unless it lies within this many predicted standard deviations (innovation: track
            uncertainty plus the peak's), so that a coasting track can be picked up again ...
        max_gate_deg: ... and never beyond this, degrees.
        measurement_std_deg: Standard deviation of one DOA peak, degrees. The tracking front end's peaks within
            10° of a ShoeboxAV source are off by a median of 3.0–4.9° (reflections), a Gaussian's σ of 4.5–7.3°,
            and 6° cut the id switches by 30 % on the six sets of docs/results.md ("Sound sources") and by 22 % on
            the four held-out ones (same coverage, errors and lingering). It stays at 3° because the smoother
            track then held on to a piece of wrong bearings that revival joined to the demo's music, whose
            map entry moved from 0.25 to 0.50 m (`test_demo.py`; 0.29 m at 4°).
        accel_std_deg_s2: Process noise: standard deviation of the azimuth acceleration (white), deg/s².
            Covers moving sources and rig translation (rig rotation is removed when its yaw is given).
        initial_rate_std_deg_s: Standard deviation of a new track's azimuth rate, deg/s.
        rate_tau_s: The azimuth rate decays to 0 with this time constant when not measured (a coasting track
            slows down instead of running off on a noisy rate), seconds; while no rig yaw is given, when the
            rig's own turning moves every source and its rate persists.
        compensated_rate_tau_s: The same once a rig yaw is given (`update(rig_yaw_deg=...)`): sources then
            move only by their own motion and the rig's travel, and a short memory of the rate keeps a coasting
            track near its last bearing.
        max_rate_deg_s: The azimuth rate is clipped to ±this, deg/s.
        min_confidence: Peaks with a lower DOA confidence (DoaResult.confidence, in [0, 1]) are ignored.
        birth_confidence: Only peaks at least this confident start tracks (≥ min_confidence).
        confirm_hits, confirm_window: M of N: a tentative track is confirmed after M hits within its first N
            updates (the birth counts as one) and dropped as soon as M can no longer be reached.
        coast_s: A confirmed track not heard for longer than this dies, seconds. With 1 s DOA windows a source
            still shows in windows centred up to ~0.5 s after it stops, so death follows within about
            0.5 s + coast_s of the stop.
        birth_separation_deg: No track is born closer than this to a live track (duplicates of one source).
        activity_tau_s: Time constant of `Track.activity`, an exponential average of hits (1) and misses (0).
        phantom_turn_deg: Array-locked phantom rejection (needs `rig_yaw_deg`; 0 = off). Once the rig has turned
            by at least this within the last `phantom_window_s` of a track's hits, the slope of the track's
            array-frame azimuth against the rig yaw tells a source in the world (slope ≈ −1) from a phantom that
            turns with the array (slope ≈ 0: spatial aliasing, the array normal, the robot's own noise). A track
            whose slope lies above −`phantom_slope` is hidden (not output) while it keeps absorbing its peaks, so
            that they start no new tracks; it reappears if its slope recovers.
        phantom_window_s: History of hits used for that test, seconds.
        phantom_slope: Threshold on the slope (see above), in (0, 1).
        revive_s, revive_deg: A tentative track confirmed within `revive_deg` (world-aligned azimuth) of where
            a confirmed track that died less than `revive_s` ago was last heard (its filtered azimuth at its last
            hit, not where its coasting prediction drifted to) takes that track's id and age (the closest, each
            dead track once); 0 = off. Speech pauses, music breaks and masked stretches then cost no id switch,
            while the dead track is still not output during the gap. Defaults 15 s and 30°: on the ShoeboxAV
            sets of docs/results.md ("Sound sources"), with births 16° apart, they cut id switches by 0–30 %
            against 4 s and 20°, with the same coverage, errors and lingering; 30° leaves room for a source that
            walks while it is silent. Reviving from the last hit rather than the place of death (stop 31) cut id
            switches from 1.77 to 1.73 per source-minute with ZoneNet (held out 2.89 → 2.78) and from 3.22 to
            3.03 with zone voting (4.33 → 4.17), coverage, errors and MOTA unchanged. A track still coasting
            is a candidate too when it has not been heard since the new one was born (the two were never heard at
            once): its source came back beyond the gate, often 20–30° from its last hit after a walk or a biased
            stretch of bearings. With ZoneNet's peaks on the ten sets (stop 34) that cut id switches from 0.73
            to 0.50 per source-minute (held out 1.48 → 1.30), zone voting's 3.03 → 2.88 (4.17 → 3.84), coverage,
            errors, MOTA and lingering unchanged; only within 20° it gained nothing.

    Tuning: raise `gate_deg` and `accel_std_deg_s2` for fast sources or when no rig yaw is given on a turning
    robot; lower `coast_s` for faster deaths (at the price of id switches in pauses of speech); raise
    `confirm_hits` / `birth_confidence` if spurious peaks (reflections, aliasing) become confirmed tracks, lower
    them for faster confirmation. Measured on ShoeboxAV (`av-pose eval --tracks`): with peaks of 3° noise the
    defaults cover ~97 % of resolvable source-windows; with NormMUSIC peaks the persistent spurious peaks of a
    small array are confirmed like sources, and `birth_confidence=0.3` (uma8, 3 sources) cut false tracks
    from ~50 to ~14 per minute at a coverage loss of 63 → 48 %. `revive_s`/`revive_deg` 15 s and 30° (were
    4 s and 20°) and `birth_separation_deg` 16 (was 12) were tuned on the six sets of docs/results.md ("Sound
    sources", rig yaw given) and checked on four held-out ones: they cut id switches on nine of the ten sets,
    and a second track is no longer born just beside a live one. `compensated_rate_tau_s` 0.5 cut them further
    with the true rig yaw (a coasting track then stays near its last bearing). But with the yaw of the
    `geometric` odometry it mapped a bag's talker 0.71 m off instead of 0.30 m (test_bag_process.py), and 0.15
    let an array-locked phantom through (test_tracker.py). So it stays at 1 s like `rate_tau_s`, to be tuned
    with good odometry. Per-update cost grows with tracks × peaks.
    """

    gate_deg: float = 12.0
    gate_sigmas: float = 3.0
    max_gate_deg: float = 20.0
    measurement_std_deg: float = 3.0
    accel_std_deg_s2: float = 20.0
    initial_rate_std_deg_s: float = 15.0
    rate_tau_s: float = 1.0
    compensated_rate_tau_s: float = 1.0
    max_rate_deg_s: float = 90.0
    min_confidence: float = 0.0
    birth_confidence: float = 0.0
    confirm_hits: int = 3
    confirm_window: int = 5
    coast_s: float = 0.8
    birth_separation_deg: float = 16.0
    activity_tau_s: float = 0.5
    phantom_turn_deg: float = 0.0
    phantom_window_s: float = 3.0
    phantom_slope: float = 0.5
    revive_s: float = 15.0
    revive_deg: float = 30.0

    def __post_init__(self) -> None:
        if not (self.gate_deg > 0 and self.measurement_std_deg > 0 and self.accel_std_deg_s2 >= 0
                and self.initial_rate_std_deg_s >= 0 and self.coast_s >= 0 and self.activity_tau_s > 0
                and self.birth_separation_deg >= 0 and self.rate_tau_s > 0 and self.compensated_rate_tau_s > 0
                and self.max_rate_deg_s > 0
                and self.revive_s >= 0 and self.revive_deg >= 0):
            raise UserInputError('tracker: gates, standard deviations and times must be positive')
        if not 1 <= self.confirm_hits <= self.confirm_window:
            raise UserInputError(f'tracker: need 1 <= confirm_hits <= confirm_window, got '
                                 f'{self.confirm_hits} of {self.confirm_window}')
        if not 0.0 <= self.min_confidence <= self.birth_confidence <= 1.0:
            raise UserInputError(f'tracker: need 0 <= min_confidence <= birth_confidence <= 1, got '
                                 f'{self.min_confidence:g} and {self.birth_confidence:g}')


@dataclass(frozen=True)
class Track:
    """One tracked source at an update.

    Attributes:
        id: Track id (never reused).
        azimuth_deg: Azimuth in the ARRAY frame, degrees [0, 360), CCW from the array's +x.
        elevation_deg: Elevation above the array's x-y plane, degrees; NaN when the array does not resolve it.
        activity: In [0, 1]: exponential average (`activity_tau_s`) of the track being heard.
        age_s: Time since birth, seconds.
        confirmed: The track has passed confirmation (stays True while it coasts).
        state: 'tentative', 'confirmed' (heard at this update) or 'coasting' (confirmed, not heard now).
            (Tracks found to be array-locked phantoms are not output.)
        azimuth_rate_deg_s: Azimuth rate in the world-aligned frame (array frame without rig yaw), deg/s.
        azimuth_std_deg: Standard deviation of the azimuth estimate, degrees.
        measured_azimuth_deg: The DOA peak associated to the track at this update, ARRAY frame, degrees [0, 360);
            NaN when none was (coasting). Consumers that fit their own model to independent bearings (the
            source map's ray fit) want this rather than the filtered `azimuth_deg`, whose lag and correlation
            over time the filter's smoothing brings.
    """

    id: int
    azimuth_deg: float
    elevation_deg: float
    activity: float
    age_s: float
    confirmed: bool
    state: str
    azimuth_rate_deg_s: float = 0.0
    azimuth_std_deg: float = 0.0
    measured_azimuth_deg: float = math.nan


def track_fields(track: Track) -> dict:
    """The av_pose_msgs/SoundTrack fields of a track as plain values.

    Angles in radians (azimuths in [−π, π), elevation and the measured azimuth NaN when unresolved / not heard),
    activity clipped to [0, 1], age in s.
    """
    heard = math.isfinite(track.measured_azimuth_deg)
    return {'id': int(track.id), 'azimuth': math.radians((track.azimuth_deg + 180.0) % 360.0 - 180.0),
            'elevation': math.radians(track.elevation_deg) if math.isfinite(track.elevation_deg) else math.nan,
            'activity': float(min(max(track.activity, 0.0), 1.0)), 'age': float(track.age_s),
            'confirmed': bool(track.confirmed), 'heard': heard,
            'measured_azimuth': math.radians((track.measured_azimuth_deg + 180.0) % 360.0 - 180.0) if heard
            else math.nan}


class _Filter:
    """Constant-rate Kalman filter on a wrapped angle (degrees) plus the track's bookkeeping."""

    def __init__(self, track_id: int, azimuth_deg: float, elevation_deg: float, stamp_s: float,
                 config: TrackerConfig) -> None:
        self.id = track_id
        self.x = np.array([azimuth_deg % 360.0, 0.0])
        self.P = np.diag([config.measurement_std_deg ** 2, config.initial_rate_std_deg_s ** 2])
        self.elevation_deg = elevation_deg
        self.birth_s = self.last_hit_s = stamp_s
        self.hits, self.updates = 1, 1
        self.confirmed = config.confirm_hits <= 1
        self.hit_now = True
        self.measured_deg = azimuth_deg % 360.0  # world-aligned frame; NaN when not heard at this update
        self.last_hit_deg = self.measured_deg  # filtered world-aligned azimuth at the last hit (revival)
        self.activity = 0.5
        self.phantom = False
        self.hits_log: deque[tuple[float, float, float]] = deque()  # (stamp s, unwrapped rig yaw, array az) deg

    def check_phantom(self, stamp_s: float, config: TrackerConfig) -> None:
        """Update `phantom` from the slope of the array-frame azimuth against the rig yaw over recent hits."""
        while self.hits_log and self.hits_log[0][0] < stamp_s - config.phantom_window_s:
            self.hits_log.popleft()
        if config.phantom_turn_deg <= 0 or len(self.hits_log) < 3:
            return
        log = np.array(self.hits_log)
        yaw = log[:, 1] - log[:, 1].mean()
        if np.ptp(yaw) < config.phantom_turn_deg:
            return
        azimuth = np.asarray(_wrap180(log[:, 2] - log[0, 2]))
        slope = float(yaw @ (azimuth - azimuth.mean()) / (yaw @ yaw))
        self.phantom = slope > -config.phantom_slope

    def predict(self, dt: float, config: TrackerConfig, compensated: bool) -> None:
        tau = config.compensated_rate_tau_s if compensated else config.rate_tau_s
        decay = math.exp(-dt / tau)
        F = np.array([[1.0, tau * (1.0 - decay)], [0.0, decay]])  # rate: first-order Gauss-Markov
        Q = config.accel_std_deg_s2 ** 2 * np.array([[dt ** 3 / 3.0, dt ** 2 / 2.0], [dt ** 2 / 2.0, dt]])
        self.x = F @ self.x
        self.x[0] %= 360.0
        self.P = F @ self.P @ F.T + Q

    def correct(self, azimuth_deg: float, meas_var: float, max_rate: float) -> None:
        innovation = float(_wrap180(azimuth_deg - self.x[0]))
        S = self.P[0, 0] + meas_var
        gain = self.P[:, 0] / S
        self.x = self.x + gain * innovation
        self.x[0] %= 360.0
        self.x[1] = min(max(self.x[1], -max_rate), max_rate)
        self.P = self.P - np.outer(gain, self.P[0, :])


class SourceTracker:
    """Track sound sources from per-window DOA peaks (see the module docstring).

    Args:
        config: Tuning; default `TrackerConfig()`.
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.reset()

    def reset(self) -> None:
        """Forget all tracks (ids keep counting up)."""
        self._filters: list[_Filter] = []
        self._dead: list[tuple[float, int, float, float]] = []  # (death s, id, last heard world azimuth deg, birth s)
        self._last_stamp_s: float | None = None
        self._yaw_deg = 0.0
        self._yaw_unwrapped_deg: float | None = None  # None: no yaw given yet
        self._next_id = getattr(self, '_next_id', 0)
        self.tracks: list[Track] = []

    def update(self, stamp_s: float, azimuths_deg: np.ndarray, confidence: np.ndarray | None = None,
               elevations_deg: np.ndarray | None = None, rig_yaw_deg: float | None = None) -> list[Track]:
        """Associate one window's peaks and return the live tracks (tentative ones included), sorted by id.

        Args:
            stamp_s: Audio time the peaks describe (window centre), seconds; must not decrease.
            azimuths_deg: (K,) peak azimuths in the array frame, degrees; NaN entries are no peak.
            confidence: (K,) peak confidences in [0, 1] (None = all 1).
            elevations_deg: (K,) elevations, degrees, or None when the array does not resolve them.
            rig_yaw_deg: The array's yaw in a world/odom frame (degrees, CCW about z). None = no compensation:
                the last yaw given is held (0 if none was ever given).
        """
        cfg = self.config
        stamp_s = float(stamp_s)
        if self._last_stamp_s is not None and stamp_s < self._last_stamp_s:
            raise UserInputError(f'tracker: stamp {stamp_s:.3f} s is before the previous {self._last_stamp_s:.3f} s')
        if rig_yaw_deg is not None:
            if not math.isfinite(rig_yaw_deg):
                raise UserInputError('tracker: rig_yaw_deg must be finite (or None)')
            if self._yaw_unwrapped_deg is None:
                self._yaw_unwrapped_deg = float(rig_yaw_deg)
            else:
                self._yaw_unwrapped_deg += float(_wrap180(rig_yaw_deg - self._yaw_deg))
            self._yaw_deg = float(rig_yaw_deg)
        azimuths = np.atleast_1d(np.asarray(azimuths_deg, dtype=np.float64))
        conf = np.ones_like(azimuths) if confidence is None else np.atleast_1d(np.asarray(confidence, float))
        elev = np.full_like(azimuths, np.nan) if elevations_deg is None else \
            np.atleast_1d(np.asarray(elevations_deg, dtype=np.float64))
        if not (azimuths.ndim == 1 and conf.shape == azimuths.shape and elev.shape == azimuths.shape):
            raise UserInputError(f'tracker: azimuths, confidence and elevations must be (K,) alike, got '
                                 f'{azimuths.shape}, {conf.shape}, {elev.shape}')
        keep = np.isfinite(azimuths) & (np.nan_to_num(conf, nan=0.0) >= cfg.min_confidence)
        peaks = (azimuths[keep] + self._yaw_deg) % 360.0  # world-aligned frame
        peak_elev, peak_conf, peak_array = elev[keep], np.nan_to_num(conf[keep], nan=0.0), azimuths[keep]

        dt = 0.0 if self._last_stamp_s is None else stamp_s - self._last_stamp_s
        self._last_stamp_s = stamp_s
        for f in self._filters:
            f.predict(dt, cfg, self._yaw_unwrapped_deg is not None)
            f.hit_now, f.measured_deg = False, math.nan

        free = np.ones(len(peaks), dtype=bool)
        for group in ([f for f in self._filters if f.confirmed], [f for f in self._filters if not f.confirmed]):
            for f, k in self._associate(group, peaks, free):
                f.correct(peaks[k], cfg.measurement_std_deg ** 2, cfg.max_rate_deg_s)
                if math.isfinite(peak_elev[k]):
                    f.elevation_deg = peak_elev[k] if not math.isfinite(f.elevation_deg) else \
                        0.7 * f.elevation_deg + 0.3 * peak_elev[k]
                f.hit_now, f.last_hit_s, f.measured_deg = True, stamp_s, float(peaks[k])
                f.last_hit_deg = float(f.x[0])
                f.hits += 1
                free[k] = False
                if self._yaw_unwrapped_deg is not None:
                    f.hits_log.append((stamp_s, self._yaw_unwrapped_deg, peak_array[k]))

        decay = math.exp(-dt / cfg.activity_tau_s)
        self._dead = [d for d in self._dead if stamp_s - d[0] <= cfg.revive_s]
        survivors = []
        for f in self._filters:  # deaths first: the tracks that died now are revival candidates as dead ones
            f.activity = decay * f.activity + (1.0 - decay) * float(f.hit_now)
            f.check_phantom(stamp_s, cfg)
            if f.confirmed and stamp_s - f.last_hit_s > cfg.coast_s:
                if cfg.revive_s > 0:
                    self._dead.append((stamp_s, f.id, float(f.last_hit_deg), f.birth_s))
                continue  # dead
            survivors.append(f)
        self._filters = survivors
        for f in [f for f in survivors if not f.confirmed]:
            f.updates += 1
            if f.hits >= cfg.confirm_hits:
                f.confirmed = True
                self._revive(f)
            elif f.hits + (cfg.confirm_window - f.updates) < cfg.confirm_hits:
                self._filters.remove(f)  # can no longer be confirmed

        for k in np.flatnonzero(free & (peak_conf >= cfg.birth_confidence)):  # births, strongest peaks first
            live = np.array([f.x[0] for f in self._filters])
            if live.size and np.min(np.abs(_wrap180(live - peaks[k]))) < cfg.birth_separation_deg:
                continue
            born = _Filter(self._next_id, peaks[k], float(peak_elev[k]), stamp_s, cfg)
            if self._yaw_unwrapped_deg is not None:
                born.hits_log.append((stamp_s, self._yaw_unwrapped_deg, peak_array[k]))
            self._filters.append(born)
            self._next_id += 1

        self.tracks = [self._snapshot(f, stamp_s) for f in sorted(self._filters, key=lambda f: f.id) if not f.phantom]
        return self.tracks

    def _revive(self, f: _Filter) -> None:
        """Give a just-confirmed track the id and birth of the track it continues, if any.

        Candidates: confirmed tracks that died less than `revive_s` ago, and live confirmed tracks coasting that
        have not been heard since `f` was born (a source that came back beyond the gate of its own track: the two
        were never heard at once; the coasting one is dropped). The closest, by where it was last heard
        (world-aligned), within `revive_deg`.
        """
        cfg = self.config
        if cfg.revive_deg <= 0 or cfg.revive_s <= 0:
            return
        coasting = [g for g in self._filters if g is not f and g.confirmed and not g.phantom and not g.hit_now
                    and g.last_hit_s < f.birth_s]
        last_heard = [d[2] for d in self._dead] + [g.last_hit_deg for g in coasting]
        if not last_heard:
            return
        distance = np.abs(_wrap180(np.array(last_heard) - f.x[0]))
        best = int(np.argmin(distance))
        if distance[best] > cfg.revive_deg:
            return
        if best < len(self._dead):
            _, f.id, _, f.birth_s = self._dead.pop(best)
            return
        replaced = coasting[best - len(self._dead)]
        f.id, f.birth_s = replaced.id, replaced.birth_s
        self._filters.remove(replaced)

    def _associate(self, filters: list[_Filter], peaks: np.ndarray, free: np.ndarray) -> list[tuple[_Filter, int]]:
        """Hungarian assignment of free peaks to `filters` by wrapped distance, within the gate."""
        free_idx = np.flatnonzero(free)
        if not filters or free_idx.size == 0:
            return []
        cfg = self.config
        predicted = np.array([f.x[0] for f in filters])
        innovation_std = np.sqrt(np.array([f.P[0, 0] for f in filters]) + cfg.measurement_std_deg ** 2)
        gate = np.clip(cfg.gate_sigmas * innovation_std, cfg.gate_deg, max(cfg.gate_deg, cfg.max_gate_deg))[:, None]
        cost = np.abs(_wrap180(peaks[free_idx][None, :] - predicted[:, None]))
        inside = cost <= gate
        rows, cols = linear_sum_assignment(np.where(inside, cost, 1e6))
        return [(filters[r], int(free_idx[c])) for r, c in zip(rows, cols) if inside[r, c]]

    def _snapshot(self, f: _Filter, stamp_s: float) -> Track:
        state = TENTATIVE if not f.confirmed else (CONFIRMED if f.hit_now else COASTING)
        return Track(id=f.id, azimuth_deg=float(wrap_deg(f.x[0] - self._yaw_deg)),
                     elevation_deg=float(f.elevation_deg), activity=float(f.activity),
                     age_s=stamp_s - f.birth_s, confirmed=f.confirmed, state=state,
                     azimuth_rate_deg_s=float(f.x[1]), azimuth_std_deg=float(math.sqrt(max(f.P[0, 0], 0.0))),
                     measured_azimuth_deg=float(wrap_deg(f.measured_deg - self._yaw_deg)))
