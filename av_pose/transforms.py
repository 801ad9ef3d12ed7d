"""A tree of coordinate frames, as tf2 keeps it, without ROS: static edges and time series of moving ones.

Each edge is T_parent_child (4×4, maps child-frame points into the parent frame); a frame has one parent.
`lookup(target, source)` composes the edges up to the two frames' nearest common ancestor, so any two connected
frames can be asked for, whatever the tree's layout: a bag written by `av-pose scene-to-bag` (world → camera →
array) and a robot's (odom → base_link on /tf, base_link → camera_link → camera optical frame and base_link →
mic_array on /tf_static) answer the same questions. Frame names lose a leading slash, as tf2 stores them.

`TransformTree` holds fixed edges (a node's /tf_static); `TimedTransforms` adds moving edges with stamps and
answers at a time t, each moving edge interpolated there (slerp and linear, `geometry.interpolate_poses`; held
at its first or last transform outside the stamps it has).
"""
from __future__ import annotations

import numpy as np

from av_pose.geometry import interpolate_poses, invert_transform


def _frame(name: str) -> str:
    return name.lstrip('/')


def _edge(parent: str, child: str, T_parent_child: np.ndarray) -> tuple[str, str, np.ndarray] | None:
    """(parent, child, T) with names as tf2 stores them, or None for an unusable edge.

    Unusable: a name empty, the two frames the same, the transform not 4×4 or not finite.
    """
    parent, child = _frame(parent), _frame(child)
    T = np.asarray(T_parent_child, dtype=np.float64)
    usable = parent and child and parent != child and T.shape == (4, 4) and np.all(np.isfinite(T))
    return (parent, child, T) if usable else None


class TransformTree:
    """Fixed edges child → (parent, T_parent_child); later edges replace earlier ones for the same child."""

    def __init__(self) -> None:
        self._parents: dict[str, tuple[str, np.ndarray]] = {}

    def add(self, parent: str, child: str, T_parent_child: np.ndarray) -> None:
        """Record one edge (ignored when a name is empty, the frames are the same or the transform is not finite)."""
        edge = _edge(parent, child, T_parent_child)
        if edge is not None:
            self._parents[edge[1]] = (edge[0], edge[2])

    def parents(self) -> dict[str, tuple[str, np.ndarray]]:
        """Every edge: child → (parent, T_parent_child)."""
        return dict(self._parents)

    def lookup(self, target: str, source: str) -> np.ndarray | None:
        """T_target_source (4×4) through their nearest common ancestor, or None when not connected."""
        return _lookup(self._parents, _frame(target), _frame(source))


class TimedTransforms:
    """Fixed edges (`static`) and moving ones with stamps in seconds (`add_moving`), looked up at a time."""

    def __init__(self) -> None:
        self.static = TransformTree()
        self._moving: dict[str, tuple[str, list[float], list[np.ndarray]]] = {}
        self._series: dict[str, tuple[str, np.ndarray, np.ndarray]] | None = None  # sorted arrays, built on lookup

    def add_moving(self, parent: str, child: str, stamp_s: float, T_parent_child: np.ndarray) -> None:
        """Record the edge parent → child at `stamp_s` (a moving edge: the child's parent must stay the same)."""
        edge = _edge(parent, child, T_parent_child)
        if edge is None or not np.isfinite(stamp_s):
            return
        parent, child, T = edge
        known = self._moving.get(child)
        if known is None or known[0] != parent:  # a new parent starts the child's series afresh
            known = self._moving[child] = (parent, [], [])
        known[1].append(float(stamp_s))
        known[2].append(T)
        self._series = None

    def moving_frames(self) -> list[str]:
        """Children of the moving edges."""
        return sorted(self._moving)

    def fewest_stamps(self, target: str, source: str) -> int | None:
        """The fewest stamps of a moving edge between the two frames (None: no moving edge, or not connected)."""
        edges = {**self.static.parents(), **{child: (parent, np.eye(4)) for child, (parent, _, _) in
                                             self._moving.items()}}
        path = _edges_between(edges, _frame(target), _frame(source))
        counts = [len(self._moving[child][1]) for child in (path or []) if child in self._moving]
        return min(counts) if counts else None

    def lookup(self, target: str, source: str, t: float) -> np.ndarray | None:
        """T_target_source at time `t` (seconds, the stamps' clock), or None when the frames are not connected."""
        if self._series is None:
            self._series = {}
            for child, (parent, stamps, poses) in self._moving.items():
                order = np.argsort(stamps, kind='stable')
                self._series[child] = (parent, np.asarray(stamps)[order], np.asarray(poses)[order])
        edges = self.static.parents()
        for child, (parent, stamps, poses) in self._series.items():
            edges[child] = (parent, interpolate_poses(stamps, poses, float(t)))
        return _lookup(edges, _frame(target), _frame(source))


def _chain_to_root(edges: dict[str, tuple[str, np.ndarray]], frame: str) -> list[tuple[str, np.ndarray]]:
    """[(frame, I), (parent, T_parent_frame), (grandparent, T_grandparent_frame), ...] up to the root (cycles cut)."""
    chain, T = [(frame, np.eye(4))], np.eye(4)
    while frame in edges and len(chain) <= len(edges):
        frame, T_parent_child = edges[frame]
        T = T_parent_child @ T
        chain.append((frame, T))
    return chain


def _edges_between(edges: dict[str, tuple[str, np.ndarray]], target: str, source: str) -> list[str] | None:
    """Children of the edges between two frames (below their nearest common ancestor), or None if not connected."""
    up_target, up_source = [f for f, _ in _chain_to_root(edges, target)], [f for f, _ in _chain_to_root(edges, source)]
    common = next((f for f in up_target if f in up_source), None)
    if common is None:
        return None
    return up_target[:up_target.index(common)] + up_source[:up_source.index(common)]


def _lookup(edges: dict[str, tuple[str, np.ndarray]], target: str, source: str) -> np.ndarray | None:
    if not target or not source:
        return None
    from_source = dict(_chain_to_root(edges, source))
    for frame, T_frame_target in _chain_to_root(edges, target):
        if frame in from_source:
            return invert_transform(T_frame_target) @ from_source[frame]
    return None
