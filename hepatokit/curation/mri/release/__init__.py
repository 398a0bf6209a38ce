"""``import-release``: read a published LiFS release (its folder layout, its volumes)
into a build.
"""
