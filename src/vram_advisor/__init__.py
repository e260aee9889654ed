"""vram-advisor: which DeepSeek V4 model and quantization can this machine run?

The package is a one-way pipeline: ``probe`` -> ``inventory`` -> ``plan`` -> ``render``. Only ``probe`` touches
the machine and only ``hub`` touches the network; the rest are pure functions over frozen data.
"""

__version__ = "0.1.0"
