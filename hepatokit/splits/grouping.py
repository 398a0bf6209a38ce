"""Grouping sanity: does the group column (slide, patient) look like what it claims to be?

A split is only as leak-free as its grouping. When the slide id is read from file names with a
regex that does not fit the data, every patch becomes its own "slide": each group holds one
item, patches of one real slide land in train and in test, and the group-level leakage audit
passes because no *group* is in two splits. :func:`grouping_warnings` flags that case for the
split report:

- **single-item groups on structured names**: most groups hold one item, and the items' names
  still share a stem once the group id, coordinates (``x123``, ``Row_301``) and a trailing
  number are removed (``10009_CRC-Prim-HE-03_009.tif_Row_301_Col_151.tif`` grouped as
  ``10009`` leaves ``CRC-Prim-HE-03``, shared with other "slides");
- **fewer items per group than the recipe expects**: ``split.items_per_group`` (e.g. the
  typical number of patches per slide) and a median group size under half of it.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import PurePosixPath

__all__ = ["grouping_warnings", "name_stem"]

#: at least this many groups before a "most groups hold one item" finding means anything
MIN_GROUPS = 10
#: "most groups": share of groups holding a single item
SINGLE_SHARE = 0.8
#: stems repeat across groups: distinct stems at most this share of the single-item groups
STEM_SHARE = 0.5

_COORD = re.compile(r"(?i)(?:^|(?<=[_\-. ]))(?:row|col|x|y|r|c|tile|patch)[_\-]?\d+(?=$|[_\-. ])")
_EXT = re.compile(r"(?i)\.(?:png|jpe?g|tiff?|bmp|svs|ndpi|mrxs|scn|czi)(?=$|[_\-. ])")
_SEP = re.compile(r"[_\-. ]+")


def name_stem(name: str, group: str) -> str:
    """What is left of a file name once its group id, coordinates and numbering are removed.

    >>> name_stem("10009_CRC-Prim-HE-03_009.tif_Row_301_Col_151.tif", "10009")
    'CRC-Prim-HE-03'
    >>> name_stem("S001_0001.png", "S001")
    ''
    """
    base = PurePosixPath(name.replace("\\", "/")).name
    if group:
        base = base.replace(group, " ")
    base = _EXT.sub(" ", base)
    base = _COORD.sub(" ", base)
    tokens = [t for t in _SEP.split(base) if t]
    if tokens and tokens[-1].isdigit():  # the item's number inside its slide
        tokens.pop()
    if tokens and tokens[0].isdigit():
        tokens.pop(0)
    return "-".join(tokens)


def grouping_warnings(
    groups: Sequence[str],
    names: Sequence[str] | None = None,
    *,
    group_column: str = "group",
    items_per_group: int | None = None,
) -> list[str]:
    """Warnings about a grouping that probably does not hold the real slides / patients.

    Parameters
    ----------
    groups
        The group id of every item (row).
    names
        The file name (or path) of every item, same order; None when the items have none.
    group_column
        Name of the group column, for the message.
    items_per_group
        Expected typical number of items per group (the recipe's ``split.items_per_group``).

    Returns
    -------
    list of str
        One sentence per finding, empty when the grouping looks plausible.
    """
    sizes = Counter(groups)
    n_groups = len(sizes)
    if not n_groups:
        return []
    single = [g for g, n in sizes.items() if n == 1]
    share = len(single) / n_groups
    median = statistics.median(sizes.values())
    warnings: list[str] = []
    if items_per_group is not None and items_per_group > 1 and median < items_per_group / 2:
        warnings.append(
            f"`{group_column}` groups hold a median of {median:g} item(s), the recipe expects "
            f"about {items_per_group} (split.items_per_group): the group id is probably read "
            "wrongly (check ingest.slide_id_regex or the table's group column)"
        )
    if n_groups < MIN_GROUPS or share < SINGLE_SHARE:
        return warnings
    stem = None
    counted: Counter[str] = Counter()
    if names is not None:
        single_set = set(single)
        stems = [
            name_stem(str(name), str(g))
            for g, name in zip(groups, names, strict=True)
            if g in single_set
        ]
        counted = Counter(s for s in stems if s)
        if counted and len(counted) <= STEM_SHARE * len(stems):
            stem = max(counted, key=lambda s: (counted[s], s))
    if stem is not None:
        warnings.append(
            f"{len(single)} of {n_groups} `{group_column}` groups ({100 * share:.0f} %) hold a "
            f"single item, yet their file names share a common stem once the group id, "
            f"coordinates and numbering are removed ({len(counted)} distinct stem(s), the "
            f"commonest on {counted[stem]} items): one real slide is probably split into many "
            "groups, so its patches can land in several splits; fix ingest.slide_id_regex "
            "(the named group slide_id) or the table's slide column (file names are not "
            "repeated here: the report is shared)"
        )
    elif items_per_group is not None and items_per_group > 1 and not warnings:
        warnings.append(
            f"{len(single)} of {n_groups} `{group_column}` groups ({100 * share:.0f} %) hold a "
            f"single item while the recipe expects about {items_per_group} per group"
        )
    return warnings
