from django.apps import AppConfig


class StigConfig(AppConfig):
    name = "apps.stig"
    label = "stig"
    verbose_name = "STIG scans and checklists"

    def ready(self) -> None:
        # STIG scans come in through the one evidence door.
        from apps.catalog.models import Attestation
        from apps.evidence.registry import Importer, register

        from .services import stig_document_read, stig_scan_import

        register(
            Importer(
                kind="stig",
                run=stig_scan_import,
                subject_readers={
                    Attestation.Kind.STIG_SCAN: lambda content: (
                        stig_document_read(content).subject
                    )
                },
            )
        )
