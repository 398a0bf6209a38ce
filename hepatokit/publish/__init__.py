"""hepatokit.publish."""

__all__: list[str] = []
