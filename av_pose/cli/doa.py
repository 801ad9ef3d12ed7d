"""`av-pose doa WAV --array ...`: DOA spectra and source azimuths of a recording."""
from __future__ import annotations

import argparse
import json
import math
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `doa` subcommand."""
    parser = subparsers.add_parser('doa', help='direction of arrival of a multichannel WAV recording',
                                   description='Sliding-window DOA of a multichannel WAV file. Azimuths are '
                                   'degrees counter-clockwise from the array x axis (REP-103).')
    parser.add_argument('wav', help='multichannel WAV file, channels in the array order')
    parser.add_argument('--array', required=True, help='preset (respeaker4, respeaker6, uma8, binaural, foa) '
                        'or YAML file with positions_m')
    parser.add_argument('--method', default='normmusic', help='normmusic | music | srp_phat | intensity (FOA)')
    parser.add_argument('--window', type=float, default=1.0, help='window length, seconds (default 1.0)')
    parser.add_argument('--hop', type=float, default=0.1, help='hop between windows, seconds (default 0.1)')
    parser.add_argument('--sources', type=int, default=1, help='number of sources to report (default 1)')
    parser.add_argument('--freq-range', type=float, nargs=2, default=(500.0, 4000.0), metavar=('LO', 'HI'),
                        help='frequency band, Hz (default 500 4000)')
    parser.add_argument('--device', default='auto', help='auto | cpu | cuda')
    parser.add_argument('--plot', metavar='OUT.png', help='write an azimuth × time heat map')
    parser.add_argument('--json', action='store_true', help='print one JSON object instead of a table')
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute `av-pose doa`."""
    from av_pose.audio.arrays import load_array
    from av_pose.audio.doa import make_estimator
    from av_pose.audio.offline import track_doa
    from av_pose.audio.wav import read_wav
    from av_pose.errors import UserInputError

    array = load_array(args.array)
    audio, sample_rate = read_wav(args.wav)
    if audio.shape[0] != array.num_channels:
        raise UserInputError(f'{args.wav} has {audio.shape[0]} channels but array {array.name} has '
                             f'{array.num_channels}')
    if array.sample_rate and array.sample_rate != sample_rate:
        print(f'av-pose: warning: {args.wav} is sampled at {sample_rate} Hz, array {array.name} is '
              f'specified at {array.sample_rate} Hz; using {sample_rate} Hz', file=sys.stderr)
    if not (args.window > 0 and args.hop > 0) or args.window * sample_rate > audio.shape[1]:
        raise UserInputError(f'window {args.window} s / hop {args.hop} s do not fit the '
                             f'{audio.shape[1] / sample_rate:.2f} s recording')
    estimator = make_estimator(args.method, array, sample_rate, num_sources=args.sources,
                               freq_range_hz=tuple(args.freq_range), device=args.device)
    track = track_doa(estimator, audio, args.window, args.hop, progress=not args.json)
    if args.plot:
        from av_pose.viz import plot_doa_over_time
        plot_doa_over_time(track.times_s, track.spectra, args.plot, estimated_deg=track.azimuths_deg,
                           confidence=track.confidence,
                           title=f'{args.method} DOA, {array.name}')
    if args.json:
        windows = [{'t': round(float(t), 6), 'azimuths_deg': _finite(az), 'confidence': _finite(conf),
                    'spectrum': [round(float(v), 5) for v in spectrum]}
                   for t, az, conf, spectrum in zip(track.times_s, track.azimuths_deg, track.confidence,
                                                    track.spectra)]
        json.dump({'sample_rate': sample_rate, 'array': array.name, 'method': args.method,
                   'windows': windows}, sys.stdout)
        print()
        return 0
    print(f'{"t [s]":>8}  {"azimuths [deg]":<28} confidence')
    for t, azimuths, confidence in zip(track.times_s, track.azimuths_deg, track.confidence):
        az_text = ' '.join(f'{a:6.1f}' for a in azimuths if math.isfinite(a)) or '-'
        conf_text = ' '.join(f'{c:4.2f}' for c in confidence if math.isfinite(c))
        print(f'{t:8.2f}  {az_text:<28} {conf_text}')
    if args.plot:
        print(f'plot written to {args.plot}')
    return 0


def _finite(values) -> list[float]:
    return [round(float(v), 3) for v in values if math.isfinite(v)]
