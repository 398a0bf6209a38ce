"""hepatokit.curation.mri."""

__all__: list[str] = []
