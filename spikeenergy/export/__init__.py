"""Export of energy reports (JSON / CSV / HDF5 tables) and of spiking models as NIR graphs."""

from spikeenergy.export.nir_export import build_nir_graph, export_nir, read_nir_metadata
from spikeenergy.export.tables import (
    FORMATS,
    file_sha256,
    format_for,
    model_identity,
    package_versions,
    read_report,
    write_report,
)

__all__ = [
    "FORMATS",
    "build_nir_graph",
    "export_nir",
    "file_sha256",
    "format_for",
    "model_identity",
    "package_versions",
    "read_nir_metadata",
    "read_report",
    "write_report",
]
