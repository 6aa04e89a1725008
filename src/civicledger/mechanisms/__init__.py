"""The mechanisms: one package each, registered with the kernel through a ``Mechanism``."""
