from django.apps import AppConfig


class FipsConfig(AppConfig):
    name = "apps.fips"
    label = "fips"
    verbose_name = "FIPS crypto modules"

    def ready(self) -> None:
        # The FIPS kinds of notice join the one notice run.
        from .notices import register

        register()
        # FIPS attestations come in through the one evidence door.
        from apps.catalog.models import Attestation
        from apps.evidence.registry import Importer
        from apps.evidence.registry import register as register_importer

        from .attestations import fips_attestation_import, fips_attestation_parse

        register_importer(
            Importer(
                kind="fips",
                run=fips_attestation_import,
                subject_readers={
                    Attestation.Kind.FIPS: lambda content: (
                        fips_attestation_parse(content).subject
                    )
                },
            )
        )
