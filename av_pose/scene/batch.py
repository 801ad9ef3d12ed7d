"""Generate many ShoeboxAV scenes, optionally in parallel processes, with a frame-level progress bar."""
from __future__ import annotations

import multiprocessing
from pathlib import Path

from tqdm import tqdm

from av_pose.scene.generate import SynthConfig, frames_per_scene, generate_scene, scene_dir_name


def _generate_one(job: tuple[Path, SynthConfig, int, int]) -> Path:
    out_dir, config, seed, index = job
    generate_scene(out_dir, config, seed, index)
    return out_dir


def generate_scenes(out: Path, config: SynthConfig, seed: int, count: int, workers: int = 1,
                    progress: bool = False) -> list[Path]:
    """Generate scenes 0..count−1 of the run seeded `seed` into `out/scene_NNNNN`; returns their folders."""
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(out / scene_dir_name(i), config, seed, i) for i in range(count)]
    total = count * frames_per_scene(config)
    with tqdm(total=total, unit='frame', desc='synth', disable=not progress) as bar:
        if workers == 1:
            for out_dir, _, _, index in jobs:
                generate_scene(out_dir, config, seed, index, on_frame=lambda: bar.update(1))
            return [job[0] for job in jobs]
        per_scene = frames_per_scene(config)
        with multiprocessing.get_context('spawn').Pool(workers) as pool:
            done = []
            for path in pool.imap(_generate_one, jobs):
                done.append(path)
                bar.update(per_scene)
        return done
