"""One-pass, backprop-free classifiers: each class an energy landscape whose minima are examples.

- :class:`DenseMemoryClassifier`: dense-associative-memory class energies on fixed features
  (``beta`` the one knob: prototype rule at beta -> 0, 1-nearest-neighbour at beta -> inf).
- :class:`SpikingPrototypeClassifier`: event streams -> fixed random LIF layer -> integrate-and-fire
  class detectors set by one supervised Hebbian pass.
- :mod:`spikeenergy.onepass.benchmark`: the reduced-data benchmark against backprop baselines.
"""

from spikeenergy.onepass.encoders import CountEncoder, OpCounts, RandomSpikingEncoder
from spikeenergy.onepass.memory import DenseMemoryClassifier
from spikeenergy.onepass.spiking import SpikingPrototypeClassifier

__all__ = [
    "CountEncoder",
    "DenseMemoryClassifier",
    "OpCounts",
    "RandomSpikingEncoder",
    "SpikingPrototypeClassifier",
]
