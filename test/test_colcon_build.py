"""The package builds as an ament_python package with colcon, as in a ROS 2 workspace."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
COLCON = Path(sys.executable).parent / 'colcon'


@pytest.mark.skipif(not COLCON.exists(), reason='colcon is not installed in this environment')
def copy_checkout(tmp_path: Path) -> Path:
    """The checkout's files (tracked and untracked, not ignored) as ws/src/av_pose under `tmp_path`."""
    source = tmp_path / 'ws' / 'src' / 'av_pose'
    listed = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split()
    for name in listed:
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    return source


@pytest.mark.skipif(not COLCON.exists(), reason='colcon is not installed in this environment')
def test_colcon_build_installs_executables_launch_and_config(tmp_path, monkeypatch):
    copy_checkout(tmp_path)
    env = {**os.environ, 'PATH': f'{COLCON.parent}:{os.environ["PATH"]}'}
    build = subprocess.run([str(COLCON), 'build', '--base-paths', 'src'], cwd=tmp_path / 'ws', env=env,
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    assert 'Summary: 1 package finished' in build.stdout  # colcon does not look inside a package
    install = tmp_path / 'ws' / 'install' / 'av_pose'
    for relative in ('lib/av_pose/doa_node', 'lib/av_pose/source_map_node', 'lib/av_pose/av-pose',
                     'share/av_pose/package.xml',
                     'share/av_pose/launch/pose.launch.py', 'share/av_pose/config/doa.yaml',
                     'share/av_pose/config/sources.yaml', 'share/av_pose/av_pose_msgs/msg/SoundTrackArray.msg',
                     'share/ament_index/resource_index/packages/av_pose'):
        assert (install / relative).exists(), relative
    # bag writing finds those message definitions through the install prefix, with no av_pose_msgs package
    from av_pose.bag.scene_to_bag import msg_definition_folders

    monkeypatch.setenv('AMENT_PREFIX_PATH', str(install))
    assert install / 'share/av_pose/av_pose_msgs/msg' in msg_definition_folders()
    site = next(install.glob('lib/python3*/site-packages'))
    run = subprocess.run([str(install / 'lib/av_pose/av-pose'), '--help'], capture_output=True, text=True,
                         env={**env, 'PYTHONPATH': str(site)}, cwd=tmp_path, timeout=60)
    assert run.returncode == 0 and 'synth' in run.stdout


@pytest.mark.skipif(not COLCON.exists(), reason='colcon is not installed in this environment')
def test_colcon_builds_the_message_package_beside_av_pose(tmp_path):
    """The README's workspace command: av_pose_msgs lives inside the checkout, so it is named as a base path."""
    copy_checkout(tmp_path)
    prefix = str(Path(sys.executable).parents[1])  # the pip ROS 2 prefix stands in for /opt/ros/<distro>
    env = {**os.environ, 'PATH': f'{COLCON.parent}:{os.environ["PATH"]}', 'CMAKE_PREFIX_PATH': prefix,
           'AMENT_PREFIX_PATH': prefix}
    build = subprocess.run([str(COLCON), 'build', '--base-paths', 'src/av_pose', 'src/av_pose/av_pose_msgs',
                            '--cmake-args', f'-DPython3_EXECUTABLE={sys.executable}', '-DBUILD_TESTING=OFF'],
                           cwd=tmp_path / 'ws', env=env, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout + build.stderr
    assert 'Summary: 2 packages finished' in build.stdout
    generated = list((tmp_path / 'ws' / 'install' / 'av_pose_msgs').rglob('_sound_track_array.py'))
    assert generated, 'no Python message module generated for SoundTrackArray'
