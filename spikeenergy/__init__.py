"""spikeenergy: energy-aware neuromorphic learning.

Event data (Tonic) -> models (snnTorch / Norse / dense) -> activity recording -> energy terms
and cost models -> energy-regularized training -> metrics, benchmarks and export.
"""

__version__ = "0.1.0"
