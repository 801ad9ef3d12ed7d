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
    parser.add_argument('--method', default='normmusic',
                        help='normmusic | music | srp_phat | intensity (FOA) | slfm (learned, 2-channel arrays) | '
                        'zone-net (learned reading of NormMUSIC zone spectra, several sources)')
    parser.add_argument('--model', default=None, metavar='NAME_OR_PATH',
                        help='with --method slfm or zone-net: a shipped model (default slfm-tiny, zone-net-tiny) or '
                        'a checkpoint path')
    parser.add_argument('--threshold', type=float, default=None, metavar='P',
                        help='with --method zone-net: least probability of a reported source (default 0.65; higher: '
                        'fewer false sources and fewer found)')
    parser.add_argument('--window', type=float, default=1.0, help='window length, seconds (default 1.0)')
    parser.add_argument('--hop', type=float, default=0.1, help='hop between windows, seconds (default 0.1)')
    parser.add_argument('--sources', type=int, default=1, help='number of sources to report (default 1)')
    parser.add_argument('--zones', type=int, default=0, metavar='FRAMES',
                        help='multi-source zone voting: zones of FRAMES STFT frames vote for their dominant '
                        'directions (4 ≈ 0.1 s at 16 kHz); finds more sources than one spectrum, up to 8 '
                        '(default 0: off)')
    parser.add_argument('--onsets', action='store_true',
                        help='add an onset-weighted spectrum (8 ms frames whose power rises, where the direct sound '
                        'leads the echoes): reflections pull less on clicks, speech and music; with --zones the '
                        'onset frames vote beside the zones')
    parser.add_argument('--freq-range', type=float, nargs=2, default=None, metavar=('LO', 'HI'),
                        help='frequency band, Hz (default 500 4000)')
    parser.add_argument('--freq-bins', metavar='LIST',
                        help='explicit FFT bins instead of --freq-range: comma-separated indices and inclusive '
                        'ranges, e.g. 16-40,48,52 (bin k is k*fs/nfft Hz)')
    parser.add_argument('--nfft', type=int, help='FFT length (default: power of two nearest 25 ms)')
    sound = parser.add_mutually_exclusive_group()
    sound.add_argument('--speed-of-sound', type=float, metavar='M_S', help='speed of sound, m/s (default 343)')
    sound.add_argument('--temperature', type=float, metavar='DEG_C',
                       help='air temperature, deg C; sets the speed of sound to 331.3*sqrt(1 + T/273.15) m/s')
    parser.add_argument('--grid', choices=('circle', 'sphere'), default='circle',
                        help='circle: 0.5 deg azimuth steps in the array plane (default); sphere: equal-area '
                        'directions over the whole sphere with elevations (FOA and 3-D arrays only)')
    parser.add_argument('--sphere-points', type=int, default=4096,
                        help='directions on the sphere grid (default 4096, about 3.2 deg apart)')
    parser.add_argument('--device', default='auto', help='auto | cpu | cuda')
    parser.add_argument('--plot', metavar='OUT.png', help='write an azimuth × time heat map')
    parser.add_argument('--json', action='store_true', help='print one JSON object instead of a table')
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute `av-pose doa`."""
    from av_pose.audio.arrays import load_array
    from av_pose.audio.doa import SphereGrid, make_estimator, resolves_elevation
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
    if args.freq_bins is not None and args.freq_range is not None:
        raise UserInputError('give --freq-range or --freq-bins, not both')
    if args.threshold is not None and args.method != 'zone-net':
        raise UserInputError('--threshold is the source probability of --method zone-net')
    grid = None
    if args.grid == 'sphere':
        if not resolves_elevation(array):
            raise UserInputError(f'array {array.name} lies in a plane and cannot tell up from down: use --grid '
                                 'circle (--grid sphere needs an FOA or 3-D array)')
        try:
            grid = SphereGrid(points=args.sphere_points)
        except ValueError as err:
            raise UserInputError(f'--sphere-points: {err}') from None
    estimator = make_estimator(args.method, array, sample_rate, args.onsets, num_sources=args.sources, nfft=args.nfft,
                               freq_range_hz=None if args.freq_range is None else tuple(args.freq_range),
                               freq_bins=None if args.freq_bins is None else parse_freq_bins(args.freq_bins),
                               speed_of_sound=args.speed_of_sound, temperature_c=args.temperature, grid=grid,
                               device=args.device, model=args.model,
                               **({'zone_frames': args.zones} if args.zones else {}),
                               **({'threshold': args.threshold} if args.threshold is not None else {}))
    track = track_doa(estimator, audio, args.window, args.hop, progress=not args.json)
    show_elevation = grid is not None
    if args.plot:
        from av_pose.viz import plot_doa_over_time
        plot_doa_over_time(track.times_s, track.spectra, args.plot, estimated_deg=track.azimuths_deg,
                           confidence=track.confidence,
                           title=f'{args.method} DOA, {array.name}')
    if args.json:
        windows = []
        for i, t in enumerate(track.times_s):
            window = {'t': round(float(t), 6), 'azimuths_deg': _finite(track.azimuths_deg[i]),
                      'confidence': _finite(track.confidence[i])}
            if show_elevation:
                window['elevations_deg'] = _finite(track.elevations_deg[i])
            window['spectrum'] = [round(float(v), 5) for v in track.spectra[i]]
            windows.append(window)
        json.dump({'sample_rate': sample_rate, 'array': array.name, 'method': args.method,
                   'speed_of_sound_m_s': (round(estimator.speed_of_sound, 3)
                                             if math.isfinite(estimator.speed_of_sound) else None), 'grid': args.grid,
                   'windows': windows}, sys.stdout)
        print()
        return 0
    print(f'{"t [s]":>8}  {"azimuths [deg]":<28} ' + (f'{"elevations [deg]":<28} ' if show_elevation else '')
          + 'confidence')
    for t, azimuths, elevations, confidence in zip(track.times_s, track.azimuths_deg, track.elevations_deg,
                                                   track.confidence):
        az_text = ' '.join(f'{a:6.1f}' for a in azimuths if math.isfinite(a)) or '-'
        el_text = ' '.join(f'{e:6.1f}' for e in elevations if math.isfinite(e)) or '-'
        conf_text = ' '.join(f'{c:4.2f}' for c in confidence if math.isfinite(c))
        print(f'{t:8.2f}  {az_text:<28} ' + (f'{el_text:<28} ' if show_elevation else '') + conf_text)
    if args.plot:
        print(f'plot written to {args.plot}')
    return 0


def parse_freq_bins(text: str) -> list[int]:
    """'16-40,48,52' → [16, ..., 40, 48, 52]: comma-separated FFT bin indices and inclusive ranges."""
    from av_pose.errors import UserInputError

    bins: list[int] = []
    for part in text.replace(' ', '').split(','):
        first, dash, last = part.partition('-')
        try:
            low = int(first)
            high = int(last) if dash else low
        except ValueError:
            raise UserInputError(f'--freq-bins: {part!r} is not a bin index or a range like 16-40') from None
        if high < low:
            raise UserInputError(f'--freq-bins: range {part!r} runs backwards')
        bins.extend(range(low, high + 1))
    return bins


def _finite(values) -> list[float]:
    return [round(float(v), 3) for v in values if math.isfinite(v)]
