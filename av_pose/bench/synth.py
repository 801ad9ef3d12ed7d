"""`av-pose bench synth`: ShoeboxAV generation speed (images + audio) on this machine."""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

TARGET_FRAMES_PER_S = 10.0


def register(targets: argparse._SubParsersAction) -> None:
    """Add `bench synth`."""
    parser = targets.add_parser('synth', help='scene generation speed (frames/s, images + audio)')
    parser.add_argument('--scenes', type=int, default=2, help='scenes to generate (default 2)')
    parser.add_argument('--duration', type=float, default=10.0, help='seconds per scene (default 10)')
    parser.add_argument('--array', default='respeaker4', help='array preset (default respeaker4)')
    parser.add_argument('--workers', type=int, default=1, help='processes (default 1)')
    parser.add_argument('--json', action='store_true', help='print only the JSON result')
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate scenes into a temporary folder; report frames/s, and images and audio of scene 0 timed apart."""
    import os

    from av_pose.audio.arrays import load_array
    from av_pose.scene.batch import generate_scenes
    from av_pose.scene.generate import SynthConfig, frames_per_scene

    config = SynthConfig(duration_s=args.duration, array=load_array(args.array))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        generate_scenes(Path(tmp), config, seed=0, count=args.scenes, workers=args.workers,
                        progress=not args.json)
        elapsed = time.perf_counter() - start
    frames = args.scenes * frames_per_scene(config)
    split = _time_split(config)
    result = {**split, 'frames_per_s': frames / elapsed, 'frames': frames, 'seconds': elapsed, 'scenes': args.scenes,
              'image_size': list(config.image_size), 'array': config.array.name, 'fps': config.fps,
              'audio_seconds_per_s': args.scenes * config.duration_s / elapsed, 'workers': args.workers,
              'cpu_count': os.cpu_count(), 'target_frames_per_s': TARGET_FRAMES_PER_S,
              'target_met': frames / elapsed >= TARGET_FRAMES_PER_S}
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


def _time_split(config) -> dict:
    """Seconds spent on the images and on the audio of scene 0, each rendered alone (one process)."""
    import numpy as np

    from av_pose.scene.acoustics import array_pose_fn, render_array_audio
    from av_pose.scene.camera import PinholeCamera
    from av_pose.scene.generate import sample_layout, scene_rng
    from av_pose.scene.raycast import RoomRenderer

    rng = scene_rng(0, 0)
    layout = sample_layout(config, rng)
    _, poses = layout.trajectory.frames(config.fps)
    renderer = RoomRenderer(layout.room, PinholeCamera.from_fov(*config.image_size, config.hfov_deg))
    start = time.perf_counter()
    for pose in poses:
        renderer.render(pose)
    images_s = time.perf_counter() - start
    start = time.perf_counter()
    render_array_audio(layout.room.size_m, layout.room.rt60_s, layout.sources, None, config.array,
                       array_pose_fn(layout.trajectory.pose_at, np.asarray(config.T_cam_array)), config.duration_s,
                       fs=config.sample_rate, snr_db=config.snr_db, rng=rng)
    audio_s = time.perf_counter() - start
    return {'images_only_frames_per_s': len(poses) / images_s, 'audio_only_seconds_per_s': config.duration_s / audio_s}
