"""Adapters: real technology (soundfile, ffmpeg, torch, files) plugged into the ports."""
