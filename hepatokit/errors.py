"""Exception hierarchy of hepatokit.

Every error says what went wrong *and* what the user can do about it. Stage code raises
these for problems a user can fix (bad recipe, missing file, bad submission); per-item
problems inside a stage (one corrupt DICOM, one broken PNG) never raise out of the stage:
they become ``excluded`` rows in the manifest.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "BuildStateError",
    "DataFormatError",
    "DependencyMissingError",
    "HepatokitError",
    "LeakageError",
    "PHIError",
    "RecipeError",
    "SubmissionError",
]


class HepatokitError(Exception):
    """Base class of every error hepatokit raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None, path: str | Path | None = None):
        self.message = message
        self.hint = hint
        self.path = None if path is None else str(path)
        super().__init__(self._render())

    def _render(self) -> str:
        text = self.message
        if self.path is not None:
            text = f"{self.path}: {text}"
        if self.hint:
            text = f"{text}\n  hint: {self.hint}"
        return text


class RecipeError(HepatokitError):
    """A recipe YAML is missing a key, has a wrong type, or an unknown key."""


class DataFormatError(HepatokitError):
    """An input file or table does not have the expected format."""


class BuildStateError(HepatokitError):
    """A stage was run before the stage it depends on (e.g. ``series`` before ``index``)."""


class SubmissionError(HepatokitError):
    """A predictions / submission file is malformed (missing cases, bad probabilities...)."""


class LeakageError(HepatokitError):
    """A split leaks: a group or a (near-)duplicate image sits in two splits."""


class PHIError(HepatokitError):
    """Protected health information was found where it must not be."""


class DependencyMissingError(HepatokitError):
    """An optional dependency (e.g. timm, a GPU) is needed for this command."""


class ManifestError(HepatokitError):
    """The manifest breaks its invariant (inputs = kept + excluded) or is unreadable."""


__all__ += ["ManifestError"]
