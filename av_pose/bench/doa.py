"""`av-pose bench doa`: torch NormMUSIC vs pyroomacoustics, streaming real-time factor, many-stream throughput.

The many-stream figure is windows/s for a batch of streams, on the CPU and on CUDA when present.

Both implementations receive the identical STFT of the same simulated recordings, so the speed ratio and
the peak difference compare the estimators alone. Times are measured in this run, on this machine.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from av_pose.bench.timing import best_times, streaming_realtime_factor

CONFIGS = (('respeaker4', 16000), ('respeaker4', 48000), ('ring8', 16000), ('ring8', 48000))
ZONE_NET_ARRAYS = ('respeaker4', 'uma8')  # ZoneNet's cost: one source per zone (4 mics) and two (7 mics)


def register(targets: argparse._SubParsersAction) -> None:
    """Add `bench doa`."""
    parser = targets.add_parser('doa', help='torch NormMUSIC vs pyroomacoustics; streaming real-time factor')
    parser.add_argument('--clips', type=int, default=32, help='1 s clips per configuration (default 32)')
    parser.add_argument('--device', default='cpu', help='cpu | cuda | auto (default cpu)')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch CPU threads for the comparison (default 1, like pyroomacoustics)')
    parser.add_argument('--streams', type=int, default=64,
                        help='streams batched for the many-stream figure (default 64; 0 skips it)')
    parser.add_argument('--json', action='store_true', help='print only the JSON result')
    parser.set_defaults(func=run)


def _bench_array(name: str):
    from av_pose.audio.arrays import PRESETS, MicArray, ring_positions

    if name == 'ring8':  # an 8-capsule, 5 cm-radius ring: the 8-mic case of the benchmark
        return MicArray('ring8', ring_positions(0.05, 8))
    return PRESETS[name]


def _simulated_clips(array, fs: int, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`count` 1 s clips (count×C×fs) of one white-noise source each in a reverberant room, and azimuths."""
    import pyroomacoustics as pra

    dims = np.array([7.0, 6.0, 3.0])
    absorption, max_order = pra.inverse_sabine(0.4, dims)
    centre = np.array([3.4, 2.9, 1.4])
    clips, azimuths = [], rng.uniform(0.0, 360.0, count)
    for azimuth in azimuths:
        room = pra.ShoeBox(dims, fs=fs, materials=pra.Material(absorption), max_order=min(max_order, 20))
        rad = np.deg2rad(azimuth)
        room.add_source(centre + 1.5 * np.array([np.cos(rad), np.sin(rad), 0.1]), signal=rng.standard_normal(fs))
        room.add_microphone_array(pra.MicrophoneArray((array.positions_m + centre).T, fs))
        room.simulate()
        signals = room.mic_array.signals[:, :fs]
        noise = rng.standard_normal(signals.shape) * signals.std() * 0.1  # 20 dB SNR
        clips.append(signals + noise)
    return np.stack(clips).astype(np.float32), azimuths


def compare_with_pyroomacoustics(array, fs: int, clips: int, device: str, rng: np.random.Generator) -> dict:
    """Time both NormMUSICs on identical STFTs of `clips` recordings; return per-clip times and peak diffs."""
    import pyroomacoustics as pra
    import torch

    from av_pose.audio.doa import DirectionGrid, make_estimator

    audio, truth = _simulated_clips(array, fs, clips, rng)
    estimator = make_estimator('normmusic', array, fs, grid=DirectionGrid(1.0, 0.0), device=device)
    spectrogram = estimator.stft(audio)
    reference_input = spectrogram.cpu().numpy().astype(np.complex128)
    reference = pra.doa.normmusic.NormMUSIC(array.positions_m.T, fs, estimator.nfft, num_src=1)
    reference_peaks = np.zeros(clips)

    def run_reference() -> None:
        for i in range(clips):
            reference.locate_sources(reference_input[i], freq_range=[500.0, 4000.0])
            reference_peaks[i] = np.rad2deg(reference.azimuth_recon[0])

    def run_ours() -> None:
        estimator.estimate_stft(spectrogram)
        if spectrogram.is_cuda:
            torch.cuda.synchronize()

    best = best_times({'ours': run_ours, 'reference': run_reference}, rounds=5)
    ours_s, reference_s = best['ours'], best['reference']
    ours_peaks = estimator.estimate_stft(spectrogram).azimuths_deg[:, 0]
    diff = np.abs((ours_peaks - reference_peaks + 180.0) % 360.0 - 180.0)
    error = np.abs((ours_peaks - truth + 180.0) % 360.0 - 180.0)
    return {'array': array.name, 'mics': array.num_channels, 'sample_rate': fs, 'clips': clips,
            'ours_ms_per_clip': 1e3 * ours_s / clips, 'pyroomacoustics_ms_per_clip': 1e3 * reference_s / clips,
            'speedup': reference_s / ours_s, 'max_peak_diff_deg': float(diff.max()),
            'mae_vs_truth_deg': float(error.mean())}


def doa_realtime_factor(device: str, rng: np.random.Generator, seconds: float = 10.0) -> dict:
    """Processing time / audio time of StreamingDoa: 8 ch, 48 kHz, 1 s windows, 10 Hz updates, one thread."""
    import torch

    from av_pose.audio.doa import make_estimator

    fs = 48000
    array = _bench_array('ring8')
    audio, _ = _simulated_clips(array, fs, int(seconds), rng)
    stream = np.concatenate(list(audio), axis=-1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    estimator = make_estimator('normmusic', array, fs, device=device)
    try:
        return streaming_realtime_factor(estimator, stream)
    finally:
        estimator.release()
        torch.set_num_threads(threads)


def many_streams(device: str, streams: int, rng: np.random.Generator, rounds: int = 3) -> list[dict]:
    """Windows per second when `streams` 1 s windows (one per stream) go through NormMUSIC as one batch.

    The whole per-window path is timed, from audio to peaks (STFT, covariances, subspaces, spectra, peaks),
    for a 4-mic 16 kHz and an 8-mic 48 kHz array; best of `rounds` after a warm-up.
    """
    import torch

    from av_pose.audio.doa import make_estimator

    rows = []
    for name, fs in (('respeaker4', 16000), ('ring8', 48000)):
        array = _bench_array(name)
        audio = torch.as_tensor(rng.standard_normal((streams, array.num_channels, fs)), dtype=torch.float32,
                                device=device)
        estimator = make_estimator('normmusic', array, fs, device=device)
        synchronize = torch.cuda.synchronize if audio.is_cuda else None
        best = best_times({'batch': lambda e=estimator, a=audio: e.estimate(a)}, rounds, synchronize)['batch']
        estimator.release()
        rows.append({'array': name, 'sample_rate': fs, 'streams': streams, 'device': device,
                     'ms_per_batch': 1e3 * best, 'windows_per_s': streams / best})
    return rows


def onset_emphasis_cost(device: str, rng: np.random.Generator, clips: int = 32, rounds: int = 3) -> dict:
    """Time of NormMUSIC with onset emphasis (`av_pose.audio.doa.onset`) against plain NormMUSIC, per 1 s clip.

    Both from audio (STFTs included), 4-mic 16 kHz, `clips` clips in one batch; best of `rounds` after a warm-up.
    """
    import torch

    from av_pose.audio.doa import make_estimator

    array, fs = _bench_array('respeaker4'), 16000
    audio = torch.as_tensor(rng.standard_normal((clips, array.num_channels, fs)), dtype=torch.float32, device=device)
    plain = make_estimator('normmusic', array, fs, device=device)
    onset = make_estimator('normmusic', array, fs, onset_emphasis=True, device=device)
    synchronize = torch.cuda.synchronize if audio.is_cuda else None
    best = best_times({'plain': lambda: plain.estimate(audio), 'onset': lambda: onset.estimate(audio)}, rounds,
                      synchronize)
    plain.release()
    onset.release()
    return {'array': array.name, 'sample_rate': fs, 'clips': clips, 'plain_ms_per_clip': 1e3 * best['plain'] / clips,
            'onset_ms_per_clip': 1e3 * best['onset'] / clips, 'cost_ratio': best['onset'] / best['plain']}


def zone_net_cost(device: str, rng: np.random.Generator, rounds: int = 3,
                  array_name: str = 'respeaker4') -> dict | None:
    """Time of the shipped ZoneNet (`method: zone-net`) against zone voting, per 0.5 s 16 kHz window of `array_name`.

    Both from audio, the tracking front end's windows, one at a time and 64 in a batch; best of `rounds`. None
    when the shipped weights are missing. (On the 7-mic UMA-8 each zone holds two sources: a 2-D signal subspace.)
    """
    import torch

    from av_pose.audio.doa import make_estimator
    from av_pose.errors import UserInputError
    from av_pose.models.zone_net_doa import resolve_zone_net

    try:
        resolve_zone_net(None)
    except UserInputError:
        return None
    array, fs = _bench_array(array_name), 16000
    batch = torch.as_tensor(rng.standard_normal((64, array.num_channels, fs // 2)), dtype=torch.float32,
                            device=device)
    voting = make_estimator('normmusic', array, fs, num_sources=3, zone_frames=4, device=device)
    learned = make_estimator('zone-net', array, fs, num_sources=3, device=device)
    synchronize = torch.cuda.synchronize if batch.is_cuda else None
    best = best_times({'voting_1': lambda: voting.estimate(batch[:1]), 'learned_1': lambda: learned.estimate(batch[:1]),
                       'voting_64': lambda: voting.estimate(batch), 'learned_64': lambda: learned.estimate(batch)},
                      rounds, synchronize)
    voting.release()
    learned.release()
    result = {'array': array.name, 'sample_rate': fs, 'window_s': 0.5}
    for size in (1, 64):
        result[f'batch_{size}'] = {'zone_voting_ms_per_window': 1e3 * best[f'voting_{size}'] / size,
                                   'zone_net_ms_per_window': 1e3 * best[f'learned_{size}'] / size,
                                   'cost_ratio': best[f'learned_{size}'] / best[f'voting_{size}']}
    return result


def run(args: argparse.Namespace) -> int:
    """Execute `av-pose bench doa` and print JSON."""
    import torch

    from av_pose.audio.doa import resolve_device

    device = resolve_device(args.device)
    rng = np.random.default_rng(0)
    rows = []
    torch.set_num_threads(max(1, args.threads))
    for name, fs in CONFIGS:
        rows.append(compare_with_pyroomacoustics(_bench_array(name), fs, args.clips, str(device), rng))
        if not args.json:
            r = rows[-1]
            print(f'{r["array"]:>10} {fs:>6} Hz: ours {r["ours_ms_per_clip"]:.3f} ms/clip, pyroomacoustics '
                  f'{r["pyroomacoustics_ms_per_clip"]:.2f} ms/clip, x{r["speedup"]:.1f}, '
                  f'peak diff {r["max_peak_diff_deg"]:.2f} deg')
    stream = doa_realtime_factor(str(device), rng)
    batched = []
    if args.streams > 0:
        batched = many_streams('cpu', args.streams, rng)
        if torch.cuda.is_available():
            batched += many_streams('cuda', args.streams, rng)
        if not args.json:
            for r in batched:
                print(f'{r["array"]:>10} {r["sample_rate"]:>6} Hz, {r["streams"]} streams on {r["device"]}: '
                      f'{r["windows_per_s"]:.0f} windows/s ({r["ms_per_batch"]:.1f} ms per batch)')
    onset = onset_emphasis_cost(str(device), rng)
    if not args.json:
        print(f'onset emphasis: {onset["onset_ms_per_clip"]:.2f} ms/clip against {onset["plain_ms_per_clip"]:.2f} '
              f'(x{onset["cost_ratio"]:.1f}), respeaker4 16 kHz from audio')
    zone_net = [cost for cost in (zone_net_cost(str(device), rng, array_name=name) for name in ZONE_NET_ARRAYS)
                if cost is not None] or None  # None: no shipped weights
    for row in [] if args.json else zone_net or []:
        for size in (1, 64):
            cost = row[f'batch_{size}']
            print(f'zone-net, {row["array"]}: {cost["zone_net_ms_per_window"]:.2f} ms/window against zone voting\'s '
                  f'{cost["zone_voting_ms_per_window"]:.2f} (x{cost["cost_ratio"]:.1f}), batch {size}, 0.5 s windows')
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'
    result = {'device': f'{device.type}:{name}', 'torch_threads': torch.get_num_threads(),
              'speedup_vs_pyroomacoustics': min(r['speedup'] for r in rows),
              'max_peak_diff_deg': max(r['max_peak_diff_deg'] for r in rows),
              'realtime_factor': stream['realtime_factor'], 'streaming': stream, 'configs': rows,
              'many_streams': batched, 'onset_emphasis': onset, 'zone_net': zone_net,
              'targets': {'speedup_vs_pyroomacoustics': '>= 30', 'max_peak_diff_deg': '<= 1',
                          'realtime_factor': '<= 0.05'}}
    result['targets_met'] = bool(result['speedup_vs_pyroomacoustics'] >= 30 and result['max_peak_diff_deg'] <= 1
                                 and result['realtime_factor'] <= 0.05)
    print(json.dumps(result, indent=None if args.json else 2))
    return 0
