"""Console-script entry points of the nodes (`doa_node`, `pose_node`, `source_map_node`).

They catch SIGINT and SIGTERM before importing the node modules (torch, OpenCV: seconds of imports), so a
stop request during start-up ends the process cleanly instead of with a KeyboardInterrupt traceback.
"""
from __future__ import annotations

import signal
import threading

_STOP = threading.Event()


def _catch_stop_signals() -> threading.Event:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: _STOP.set())
    return _STOP


def doa_node() -> int:
    """`doa_node` console script."""
    stop = _catch_stop_signals()
    from av_pose.ros.doa_node import main

    return main(stop=stop)


def pose_node() -> int:
    """`pose_node` console script."""
    stop = _catch_stop_signals()
    from av_pose.ros.pose_node import main

    return main(stop=stop)


def source_map_node() -> int:
    """`source_map_node` console script."""
    stop = _catch_stop_signals()
    from av_pose.ros.source_map_node import main

    return main(stop=stop)
