"""Export of energy reports (JSON / CSV / HDF5 tables) and of spiking models as NIR graphs."""

from spikeenergy.export.nir_check import (
    NIRRoundTripError,
    RoundTrip,
    import_nir,
    nir_round_trip,
    run_nir,
    verify_nir,
)
from spikeenergy.export.nir_export import (
    EnergyMetadata,
    NIRExportError,
    build_nir_graph,
    check_nir_exportable,
    export_nir,
    read_nir_metadata,
)
from spikeenergy.export.tables import (
    FORMATS,
    file_sha256,
    format_for,
    model_identity,
    read_report,
    write_report,
)
from spikeenergy.io import package_versions

__all__ = [
    "FORMATS",
    "EnergyMetadata",
    "NIRExportError",
    "NIRRoundTripError",
    "RoundTrip",
    "build_nir_graph",
    "check_nir_exportable",
    "export_nir",
    "file_sha256",
    "format_for",
    "import_nir",
    "model_identity",
    "nir_round_trip",
    "package_versions",
    "read_nir_metadata",
    "read_report",
    "run_nir",
    "verify_nir",
    "write_report",
]
