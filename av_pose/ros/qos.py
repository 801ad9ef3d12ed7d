"""QoS profiles shared by the av_pose nodes."""
from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy


def audio_qos(depth: int = 100) -> QoSProfile:
    """Best-effort, keep-last `depth` messages: matches both reliable and best-effort audio publishers.

    The deep queue (100 chunks ≈ 3 s of 32 ms chunks) absorbs bursts such as fast bag replay.
    """
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


def latched_qos() -> QoSProfile:
    """Reliable, transient-local, depth 1: receives the last message of latched topics such as audio_info."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)
