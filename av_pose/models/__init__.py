"""Networks and their building blocks (torch only).

RoPE ViT blocks, Reloc3r, its pose head, ResNet-18 and strict checkpoint loading; import the submodules
directly (`av_pose.models.reloc3r`, ...).
"""
