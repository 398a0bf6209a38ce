"""hepatokit.evaluation."""

__all__: list[str] = []
