"""hepatokit.quant."""

__all__: list[str] = []
