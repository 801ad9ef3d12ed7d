"""Synthetic audio-visual scenes ("ShoeboxAV").

A textured shoebox room, a pinhole camera, an exact ray caster, camera trajectories and the sound sources
that play in the room.

Modules: `room` (geometry and appearance as plain data), `textures` (procedural patterns and posters),
`camera` (pinhole model, OpenCV optical frame), `raycast` (images and depth maps), `trajectory` (camera
poses over time), `signals` (dry source signals), `acoustics` (image-source audio of a moving microphone
array), `ambisonic` (free-field FOA rendering, virtual microphones), `format` (the scene folder on disk),
`generate` / `batch` (random scenes → folders, `av-pose synth`), `doa_eval` (streaming DOA scored against
a scene's ground truth). World frame: z up, the room spans [0, Lx]×[0, Ly]×[0, Lz] m.
"""
