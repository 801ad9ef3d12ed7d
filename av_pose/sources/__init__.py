"""Sound-source perception: tracking of DOA peaks (`tracker`), triangulation and a world map of the sources."""
from __future__ import annotations

from av_pose.sources.tracker import SourceTracker, Track, TrackerConfig

__all__ = ['SourceTracker', 'Track', 'TrackerConfig']
