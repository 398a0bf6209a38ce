"""hepatokit.splits."""

__all__: list[str] = []
