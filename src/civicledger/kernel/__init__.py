"""The pure rules of the economy: standard library only, no I/O, no clock, no randomness.

Everything outside this package (storage, signatures, HTTP, the CLI, the simulator) calls into it;
it imports nothing of the project outside itself.
"""
