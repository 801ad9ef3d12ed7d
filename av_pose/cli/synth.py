"""`av-pose synth`: generate ShoeboxAV scenes (frames, array audio, exact ground truth) into a folder."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `synth` subcommand."""
    parser = subparsers.add_parser('synth', help='generate synthetic audio-visual scenes (ShoeboxAV)',
                                   description='Render ShoeboxAV scenes: textured shoebox rooms seen by a pinhole '
                                   'camera and heard by a microphone array on the same rig. Same seed, same bytes.')
    parser.add_argument('--out', required=True, help='output folder (one scene_NNNNN folder per scene)')
    parser.add_argument('--scenes', type=int, default=1, help='number of scenes (default 1)')
    parser.add_argument('--duration', type=float, default=10.0, help='seconds per scene (default 10)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default 0)')
    parser.add_argument('--array', default='respeaker4', help='array preset or YAML (default respeaker4)')
    parser.add_argument('--fps', type=float, default=10.0, help='video frame rate (default 10)')
    parser.add_argument('--image-size', default='256x192', help='WxH pixels (default 256x192)')
    parser.add_argument('--sample-rate', type=int, default=None,
                        help="audio rate, Hz (default: the array's native rate, else 16000)")
    parser.add_argument('--rotation-only', action='store_true', help='rig only rotates (SLfM setting)')
    parser.add_argument('--ground-robot', action='store_true',
                        help='rig moves as a robot on the floor: planar motion at one height, no pitch or roll '
                        '(evaluate with --planar-motion); its heading of travel is independent of its yaw (holonomic)')
    parser.add_argument('--differential-drive', action='store_true',
                        help='rig moves as a differential-drive robot on the floor: planar, travelling along the '
                        'camera\'s forward axis, turning in place where blocked (evaluate with --planar-motion)')
    parser.add_argument('--sources', type=int, default=2, help='point sources per scene (default 2)')
    parser.add_argument('--moving-sources', type=float, default=0.25, metavar='SHARE',
                        help='probability that a point source walks (default 0.25; 0 = all static)')
    parser.add_argument('--source-kinds', default=None, metavar='K[,K...]',
                        help='point-source signals to draw from: speech, babble, music, impulses, pink (default all '
                        'five; the same seed keeps its rooms and positions)')
    parser.add_argument('--snr', type=float, default=30.0, metavar='DB',
                        help='sensor noise this many dB below the mean channel power (default 30)')
    parser.add_argument('--renderer', default=None, choices=('ism', 'ambisonic'),
                        help='ism: image-source room acoustics (pressure arrays); ambisonic: free-field FOA '
                        '(--array foa); default: the one the array needs')
    parser.add_argument('--array-offset', type=float, nargs=3, default=(0.0, 0.0, 0.0), metavar=('X', 'Y', 'Z'),
                        help='array centre in the camera optical frame (x right, y down, z forward), metres')
    parser.add_argument('--array-rpy', type=float, nargs=3, default=(0.0, 0.0, 0.0), metavar=('R', 'P', 'Y'),
                        help='array roll/pitch/yaw from the default mounting (array x = camera forward), degrees')
    parser.add_argument('--array-mount', metavar='FILE', default=None,
                        help='mount file (av-pose calibrate --out): its T_cam_array replaces --array-offset and '
                        '--array-rpy; a channel_order in it is for recordings, scenes keep the preset\'s order')
    parser.add_argument('--distortion', type=float, nargs='+', default=None, metavar='D',
                        help='render through a lens: its coefficients, as CameraInfo\'s D (plumb_bob: k1 k2 p1 p2 '
                        '[k3], e.g. -0.28 0.09 0 0 for a wide webcam); scene.json records it and readers undistort')
    parser.add_argument('--distortion-model', default='plumb_bob',
                        help='the lens model of --distortion: plumb_bob (default), rational_polynomial, equidistant')
    parser.add_argument('--workers', type=int, default=1, help='parallel processes (default 1)')
    parser.set_defaults(func=run)


def parse_image_size(text: str) -> tuple[int, int]:
    """'256x192' → (256, 192)."""
    from av_pose.errors import UserInputError

    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise UserInputError(f'image size must look like 256x192, got {text!r}') from None
    return width, height


def run(args: argparse.Namespace) -> int:
    """Execute `av-pose synth`."""
    from pathlib import Path

    from av_pose.audio.arrays import load_array
    from av_pose.errors import UserInputError
    from av_pose.geometry import array_mount
    from av_pose.scene.batch import generate_scenes
    from av_pose.scene.generate import POINT_SOURCE_KINDS, SynthConfig
    from av_pose.vision.lens import LensDistortion

    if args.scenes < 1 or args.workers < 1:
        raise UserInputError('--scenes and --workers must be at least 1')
    if args.rotation_only + args.ground_robot + args.differential_drive > 1:
        raise UserInputError('--rotation-only, --ground-robot and --differential-drive are different rigs: give one')
    array = load_array(args.array)
    T_cam_array = array_mount(tuple(args.array_offset), tuple(args.array_rpy))
    if args.array_mount is not None:
        from av_pose.audio.mount import load_mount

        if any(args.array_offset) or any(args.array_rpy):
            raise UserInputError('--array-mount replaces --array-offset and --array-rpy: give one or the other')
        T_cam_array, _ = load_mount(args.array_mount)
    kinds = POINT_SOURCE_KINDS if args.source_kinds is None else \
        tuple(kind.strip() for kind in args.source_kinds.split(',') if kind.strip())
    config = SynthConfig(duration_s=args.duration, fps=args.fps, image_size=parse_image_size(args.image_size),
                         array=array, sample_rate=args.sample_rate,
                         rotation_only=args.rotation_only, ground_robot=args.ground_robot,
                         differential_drive=args.differential_drive, num_sources=args.sources,
                         moving_share=args.moving_sources,
                         snr_db=args.snr, renderer=args.renderer, source_kinds=kinds,
                         T_cam_array=T_cam_array,
                         distortion=None if args.distortion is None
                         else LensDistortion(args.distortion_model, tuple(args.distortion)))
    out = Path(args.out)
    paths = generate_scenes(out, config, args.seed, args.scenes, workers=args.workers, progress=True)
    print(f'wrote {len(paths)} scene(s) to {out}')
    return 0
