"""glibc's malloc thresholds fixed for the nodes (`av_pose.ros.heap`), checked in fresh interpreters."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != 'glibc', reason='glibc malloc only')

PROBE = r'''
import ctypes, json, sys
from av_pose.ros.heap import fix_malloc_thresholds

libc = ctypes.CDLL(None)
wide = hasattr(libc, 'mallinfo2')  # glibc >= 2.33; mallinfo (int fields) before


class MallInfo(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t if wide else ctypes.c_int) for name in
                ('arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks', 'fsmblks', 'uordblks', 'fordblks',
                 'keepcost')]


mallinfo = libc.mallinfo2 if wide else libc.mallinfo
mallinfo.restype = MallInfo
if sys.argv[1] == 'entry':  # what the nodes' console scripts do before importing the node
    from av_pose.ros.entry import _prepare_process
    _prepare_process()
fixed = fix_malloc_thresholds() if sys.argv[1] == 'fix' else None
block = bytearray(1 << 20)   # 1 MiB: above the starting threshold, so mmapped
del block                    # glibc's default raises its threshold to 1 MiB here
blocks = [bytearray(1 << 20) for _ in range(4)]
print(json.dumps({'fixed': fixed, 'mmapped_blocks': mallinfo().hblks}))
'''


def probe(mode: str, **env: str) -> dict:
    environment = {k: v for k, v in os.environ.items() if not k.startswith('MALLOC_')} | env
    out = subprocess.run([sys.executable, '-c', PROBE, mode], capture_output=True, text=True, env=environment,
                         check=True)
    return json.loads(out.stdout)


def test_fixed_thresholds_keep_freed_megabyte_blocks_out_of_the_heap():
    default, fixed = probe('default'), probe('fix')
    assert fixed['fixed'] is True
    assert fixed['mmapped_blocks'] >= 4       # each 1 MiB block has its own mapping, returned when freed
    assert default['mmapped_blocks'] < 4      # glibc's moving threshold put them on the heap


def test_a_threshold_from_the_environment_is_left_alone():
    assert probe('fix', MALLOC_MMAP_THRESHOLD_='65536')['fixed'] is False


def test_the_nodes_console_scripts_fix_them_before_their_imports():
    assert probe('entry')['mmapped_blocks'] >= 4
