"""hepatokit.curation."""

__all__: list[str] = []
