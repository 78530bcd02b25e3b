"""Imported first by ``spikeenergy.search``: fails with one line naming the ``[search]`` extra when
its packages are not installed (instead of a traceback deep inside an import)."""

from spikeenergy.extras import require_extra

require_extra("search", "spikeenergy.search")
