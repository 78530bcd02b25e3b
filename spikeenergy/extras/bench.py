"""Imported first by ``spikeenergy.bench``: fails with one line naming the ``[bench]`` extra when
its packages are not installed (instead of a traceback deep inside an import)."""

from spikeenergy.extras import require_extra

require_extra("bench", "spikeenergy.bench")
