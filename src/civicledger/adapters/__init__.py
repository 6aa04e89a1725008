"""Implementations of the ports: storage, signatures, clocks, key files, policy files."""
