"""Helpers for tests that talk to av_pose nodes over a real ROS 2 middleware (DDS).

Each test run gets its own ROS_DOMAIN_ID and namespace, so parallel runs never hear each other; nodes run
as subprocesses (`python -m <module> --ros-args ...`); discovery is awaited with publisher/subscription
counts rather than blind sleeps; nodes are stopped with SIGINT and killed only if they hang.
"""
from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import rclpy
from rclpy.executors import SingleThreadedExecutor

REPO_ROOT = Path(__file__).resolve().parents[1]
_namespace_counter = itertools.count()


def unique_domain_id() -> int:
    """A ROS_DOMAIN_ID in [1, 101] (the range safe on Linux), different for concurrent test processes."""
    return random.Random(f'{os.getpid()}-{time.time_ns()}').randint(1, 101)


def unique_namespace(prefix: str = 'avtest') -> str:
    """A namespace unique to this process and call, e.g. '/avtest_1234_0' (a second guard against crosstalk)."""
    return f'/{prefix}_{os.getpid()}_{next(_namespace_counter)}'


def ros_arg_value(value: Any) -> str:
    """A Python value as a `-p name:=value` literal (YAML parses the JSON form: strings stay strings)."""
    return json.dumps(value)


class NodeProcess:
    """A node run as `python -m module --ros-args ...` in a subprocess; a context manager.

    Args:
        module: Python module with a `main()` (e.g. 'av_pose.ros.doa_node').
        domain_id: ROS_DOMAIN_ID for the child.
        namespace: Node namespace ('' for none).
        params: Parameter overrides, name → Python value.
        remaps: Topic remappings, from → to.
        extra_args: More arguments after --ros-args (e.g. ['--params-file', path]).
    """

    def __init__(self, module: str, domain_id: int, namespace: str = '', params: dict[str, Any] | None = None,
                 remaps: dict[str, str] | None = None, extra_args: Iterable[str] = ()) -> None:
        args = [sys.executable, '-m', module, '--ros-args', *extra_args]  # before -p: overrides win
        if namespace:
            args += ['-r', f'__ns:={namespace}']
        for src, dst in (remaps or {}).items():
            args += ['-r', f'{src}:={dst}']
        for name, value in (params or {}).items():
            args += ['-p', f'{name}:={ros_arg_value(value)}']
        self.args = args
        self.env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), PYTHONUNBUFFERED='1')
        self._log = tempfile.TemporaryFile(mode='w+b')
        self.process: subprocess.Popen | None = None

    def start(self) -> NodeProcess:
        """Launch the child; output (stdout and stderr together) goes to a temporary file."""
        self.process = subprocess.Popen(self.args, env=self.env, cwd=REPO_ROOT, stdout=self._log,
                                        stderr=subprocess.STDOUT)
        return self

    def alive(self) -> bool:
        """True while the child runs."""
        return self.process is not None and self.process.poll() is None

    def wait(self, timeout_s: float) -> int:
        """Wait for the child to exit by itself; returns its exit code."""
        return self.process.wait(timeout=timeout_s)

    def stop(self, timeout_s: float = 10.0) -> int:
        """SIGINT, then SIGKILL after `timeout_s`; returns the exit code."""
        if self.alive():
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def rss_kib(self) -> int:
        """The child's resident memory (VmRSS), KiB."""
        with open(f'/proc/{self.process.pid}/status') as status:
            return next(int(line.split()[1]) for line in status if line.startswith('VmRSS:'))

    def output(self) -> str:
        """Everything the child printed so far."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors='replace')

    def __enter__(self) -> NodeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._log.close()


class RosClient:
    """The test side: its own rclpy context, node and executor on `domain_id`; a context manager."""

    def __init__(self, domain_id: int, name: str = 'test_client') -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(f'{name}_{os.getpid()}', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_for(self, seconds: float) -> None:
        """Process callbacks for `seconds` of wall time."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.executor.spin_once(timeout_sec=min(left, 0.05))

    def spin_until(self, condition: Callable[[], bool], timeout_s: float) -> bool:
        """Process callbacks until `condition()` holds (True) or `timeout_s` passes (False)."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                return False
            self.executor.spin_once(timeout_sec=0.02)
        return True

    def settle(self, received: list, quiet_s: float = 1.0, timeout_s: float = 10.0) -> None:
        """Spin until `received` has stopped growing for `quiet_s` (the node has worked off its queue)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            count = len(received)
            self.spin_for(quiet_s)
            if len(received) == count:
                return

    def collect(self, msg_type: type, topic: str, qos: Any = 50) -> list:
        """Subscribe to `topic`; the returned list fills with messages as the executor spins."""
        received: list = []
        self.node.create_subscription(msg_type, topic, received.append, qos)
        return received

    def wait_for_subscribers(self, publisher: Any, count: int = 1, timeout_s: float = 20.0,
                             settle_s: float = 0.25) -> bool:
        """Spin until `publisher` is matched by `count` subscriptions, then `settle_s` more.

        Discovery is not symmetric: the writer can see the reader a moment before the reader has matched
        the writer, and a best-effort reader drops what arrives in between; `settle_s` covers that.
        """
        matched = self.spin_until(lambda: publisher.get_subscription_count() >= count, timeout_s)
        self.spin_for(settle_s if matched else 0.0)
        return matched

    def wait_for_publishers(self, topic: str, count: int = 1, timeout_s: float = 20.0) -> bool:
        """Spin until `count` publishers of `topic` are discovered."""
        return self.spin_until(lambda: self.node.count_publishers(topic) >= count, timeout_s)

    def close(self) -> None:
        """Destroy the node and shut the context down."""
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)

    def __enter__(self) -> RosClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
