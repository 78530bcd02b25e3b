"""Export of energy reports (JSON / CSV / HDF5 tables) and of spiking models as NIR graphs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from spikeenergy.registry import lazy_exports

if TYPE_CHECKING:
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

#: public name -> defining module, imported on first use (PEP 562): importing one light
#: module of this package (or ``spikeenergy --help``) does not import the others
_LAZY = {
    "EnergyMetadata": "spikeenergy.export.nir_export",
    "FORMATS": "spikeenergy.export.tables",
    "NIRExportError": "spikeenergy.export.nir_export",
    "NIRRoundTripError": "spikeenergy.export.nir_check",
    "RoundTrip": "spikeenergy.export.nir_check",
    "build_nir_graph": "spikeenergy.export.nir_export",
    "check_nir_exportable": "spikeenergy.export.nir_export",
    "export_nir": "spikeenergy.export.nir_export",
    "file_sha256": "spikeenergy.export.tables",
    "format_for": "spikeenergy.export.tables",
    "import_nir": "spikeenergy.export.nir_check",
    "model_identity": "spikeenergy.export.tables",
    "nir_round_trip": "spikeenergy.export.nir_check",
    "package_versions": "spikeenergy.io",
    "read_nir_metadata": "spikeenergy.export.nir_export",
    "read_report": "spikeenergy.export.tables",
    "run_nir": "spikeenergy.export.nir_check",
    "verify_nir": "spikeenergy.export.nir_check",
    "write_report": "spikeenergy.export.tables",
}

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

__getattr__ = lazy_exports(__name__, _LAZY)
