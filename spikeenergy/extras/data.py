"""Imported first by ``spikeenergy.data``: fails with one line naming the ``[data]`` extra when
its packages are not installed (instead of a traceback deep inside an import)."""

from spikeenergy.extras import require_extra

require_extra("data", "spikeenergy.data")
