"""hepatokit.curation.patho."""

__all__: list[str] = []
