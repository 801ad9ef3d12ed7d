"""Console-script entry points of the nodes (`doa_node`, `pose_node`, `source_map_node`).

They catch SIGINT and SIGTERM before importing the node modules (torch, OpenCV: seconds of imports), so a
stop request during start-up ends the process cleanly instead of with a KeyboardInterrupt traceback.
"""
from __future__ import annotations

import signal


class StopRequest:
    """A stop flag that signal handlers set: lock-free, unlike `threading.Event`.

    `Event.set` takes a lock; a second SIGINT that arrives while the first handler is inside it runs the
    handler again in the same thread, which waits for that lock forever (a launch file's SIGINT followed by
    the terminal's did hang a node). Setting a boolean cannot block.
    """

    def __init__(self) -> None:
        self._requested = False

    def set(self) -> None:
        """Request the stop (safe inside a signal handler, any number of times)."""
        self._requested = True

    def is_set(self) -> bool:
        """True once a stop was requested."""
        return self._requested


_STOP = StopRequest()


def catch_stop_signals(stop: StopRequest) -> StopRequest:
    """Make SIGINT and SIGTERM set `stop` (and do nothing else); returns `stop`."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _catch_stop_signals() -> StopRequest:
    return catch_stop_signals(_STOP)


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
