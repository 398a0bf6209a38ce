"""Stage ``register``: rigid alignment of every sequence to a reference (SimpleITK)."""
