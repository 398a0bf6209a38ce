"""Recipes: YAML files that describe a dataset build, validated into dataclasses.

A recipe has a few top-level keys (``name``, ``kind``, ``description``, ``classes``, ``seed``)
and one section per stage family (``series``, ``convert``, ``qc``, ``dedup``, ``split``...).
The stage that uses a section declares its schema as a dataclass and calls
:meth:`Recipe.section`; :func:`parse_dataclass` validates it strictly, and every error names
the recipe file and the dotted key (``split.ratios.train: expected a number, got 'x'``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

from hepatokit.contracts.common import RECIPE
from hepatokit.errors import BuildStateError, RecipeError
from hepatokit.recipe_regex import MATCH_SECONDS, bounded_search, check_regex

__all__ = [
    "KNOWN_SECTIONS",
    "MATCH_SECONDS",
    "Recipe",
    "bounded_search",
    "build_recipe",
    "check_regex",
    "load_recipe",
    "parse_dataclass",
    "read_recipe",
    "recipe_path",
    "stage_section",
]

T = TypeVar("T")

#: Top-level keys a recipe may hold; anything else is a typo and an error.
KNOWN_SECTIONS = frozenset(
    {
        # common
        "name", "kind", "description", "version", "seed", "classes", "license", "pretty_name",
        # MRI (LiFS)
        "sequences", "index", "series", "convert", "deid", "mri_qc", "labels", "register",
        # histology (HepatoBench)
        "ingest", "tiling", "features", "qc", "dedup",
        # shared downstream
        "split", "publish", "card", "baselines", "evaluation", "quant",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Recipe:
    """A loaded recipe: top-level facts plus the raw sections (validated on use)."""

    name: str
    kind: Literal["mri", "patho"]
    data: Mapping[str, Any]
    source: str
    sha256: str
    classes: tuple[str, ...] = ()
    seed: int = 0
    description: str = ""

    def section(self, key: str, cls: type[T]) -> T:
        """Validate section ``key`` into dataclass ``cls`` (missing section → defaults)."""
        if key not in KNOWN_SECTIONS:
            raise RecipeError(f"unknown section {key!r}", path=self.source)
        raw = self.data.get(key, {})
        if raw is None:
            raw = {}
        return parse_dataclass(cls, raw, where=key, source=self.source)

    def has(self, key: str) -> bool:
        return key in self.data


def recipe_path(name_or_path: str | Path) -> Path:
    """Resolve ``lifs`` / ``hepatobench`` to the packaged recipe, else a file path."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    name = str(name_or_path)
    for candidate in (name, f"{name}.yaml"):
        local = Path(__file__).resolve().parent.parent / "recipes" / candidate
        if local.is_file():
            return local
        packaged = resources.files("hepatokit").joinpath("_data", "recipes", candidate)
        if packaged.is_file():
            return Path(str(packaged))
    if p.exists():
        raise RecipeError(
            "is not a recipe file (a folder?)",
            path=name_or_path,
            hint="give the recipe YAML (a build's own is BUILD/recipe.yaml), or lifs / hepatobench",
        )
    raise RecipeError(
        "recipe not found",
        path=name_or_path,
        hint="give a path to a YAML file, or one of the packaged names: lifs, hepatobench",
    )


def load_recipe(name_or_path: str | Path) -> Recipe:
    """Load and validate the top level of a recipe.

    Raises
    ------
    RecipeError
        Unreadable YAML, a top level that is not a mapping, an unknown top-level key, or a
        missing/wrong ``name`` or ``kind``; the message names the file and the key.
    """
    path = recipe_path(name_or_path)
    raw_bytes = path.read_bytes()
    try:
        data = yaml.safe_load(raw_bytes)
    except yaml.YAMLError as exc:
        raise RecipeError(f"not valid YAML: {exc}", path=path) from exc
    if not isinstance(data, dict):
        raise RecipeError("the top level must be a mapping of sections", path=path)
    unknown = sorted(set(data) - KNOWN_SECTIONS)
    if unknown:
        raise RecipeError(
            f"unknown top-level key(s): {', '.join(unknown)}",
            path=path,
            hint=f"known keys: {', '.join(sorted(KNOWN_SECTIONS))}",
        )
    for key in ("name", "kind"):
        if key not in data:
            raise RecipeError(f"missing required key {key!r}", path=path)
    if data["kind"] not in ("mri", "patho"):
        raise RecipeError(f"kind: expected 'mri' or 'patho', got {data['kind']!r}", path=path)
    classes = data.get("classes", [])
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise RecipeError("classes: expected a list of class names", path=path)
    if len(set(classes)) != len(classes):
        raise RecipeError("classes: names must be unique", path=path)
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise RecipeError(f"seed: expected an integer, got {seed!r}", path=path)
    return Recipe(
        name=str(data["name"]),
        kind=data["kind"],
        data=data,
        source=str(path),
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
        classes=tuple(classes),
        seed=seed,
        description=str(data.get("description", "")),
    )


def read_recipe(
    build_dir: str | Path,
    recipe: str | Path | Recipe | None = None,
    *,
    default: str,
    stage_kind: bool = True,
) -> Recipe:
    """The recipe of ``build_dir``, read without writing anything (for readers of a build).

    ``recipe`` given → that recipe (a name, a file, or an already loaded :class:`Recipe`,
    used as is). Not given → ``BUILD/recipe.yaml`` if it exists, else the packaged recipe
    ``default``. A recipe of the other dataset than the build's own is refused, and with
    ``stage_kind`` (a stage of one dataset) one of the other dataset than ``default``'s.
    """
    stored = Path(build_dir) / RECIPE
    if recipe is None and stored.is_file():
        rec = load_recipe(stored)
        return _same_kind(rec, default, build_dir) if stage_kind else rec
    if isinstance(recipe, Recipe):
        loaded = recipe
    else:
        loaded = load_recipe(recipe if recipe is not None else default)
    if recipe is not None and stored.is_file():
        built = load_recipe(stored)
        if built.kind != loaded.kind:  # not over another dataset's build
            raise BuildStateError(
                f"this is a {_DATASET_OF_KIND[built.kind]} build; the recipe {loaded.name!r} "
                f"is for {_DATASET_OF_KIND[loaded.kind]}",
                path=build_dir,
                hint="check the BUILD path and --recipe; each dataset needs its own build folder",
            )
    if stage_kind:
        _same_kind(loaded, default, build_dir)
    return loaded


def build_recipe(
    build_dir: str | Path,
    recipe: str | Path | Recipe | None = None,
    *,
    default: str,
    stage_kind: bool = True,
) -> Recipe:
    """The recipe a build runs with (:func:`read_recipe`), snapshotted as ``BUILD/recipe.yaml``.

    Called once at the edge: by :func:`hepatokit.build_dataset` and by a stage run alone
    (through :func:`stage_section`). The snapshot is the build's record of its recipe; it is
    rewritten only when the bytes differ.
    """
    from hepatokit.atomic import write_bytes_atomic

    loaded = read_recipe(build_dir, recipe, default=default, stage_kind=stage_kind)
    stored = Path(build_dir) / RECIPE
    data = Path(loaded.source).read_bytes()
    if not stored.exists() or stored.read_bytes() != data:
        write_bytes_atomic(stored, data)
    return loaded


def stage_section(
    build_dir: str | Path,
    given: T | None,
    recipe: str | Path | Recipe | None,
    *,
    default: str,
    pick: Callable[[Recipe], T],
) -> T:
    """The typed recipe section a stage runs with.

    A pipeline resolves the recipe once (:func:`build_recipe`, which snapshots it as
    ``BUILD/recipe.yaml``) and hands each stage its section as ``given``: it is used as is,
    nothing is read. A stage called alone (a CLI command, a script) passes ``given=None`` and
    its section is picked from ``recipe`` (snapshotted) or else the build's snapshot, else the
    packaged ``default`` recipe.

    Parameters
    ----------
    build_dir
        The build folder.
    given
        The section already resolved by the caller, or None.
    recipe
        A recipe name or path given to the stage alone, or None.
    default
        The packaged recipe of the stage's dataset (``"lifs"`` or ``"hepatobench"``).
    pick
        Validates and returns the stage's section of a recipe
        (``lambda rec: rec.section("series", SeriesConfig)``).
    """
    if given is not None:
        return given
    return pick(build_recipe(build_dir, recipe, default=default))


#: the dataset each kind of recipe builds, for messages
_DATASET_OF_KIND = {"mri": "LiFS (MRI)", "patho": "HepatoBench (histology)"}


def _same_kind(rec: Recipe, default: str, build_dir: str | Path) -> Recipe:
    """``rec`` if it is of the kind the stage's packaged ``default`` recipe is, else an error
    naming both datasets (an MRI stage pointed at a histology build, or the reverse)."""
    want = {"lifs": "mri", "hepatobench": "patho"}.get(default)
    if want is None or rec.kind == want:
        return rec
    raise BuildStateError(
        f"this is a {_DATASET_OF_KIND[rec.kind]} build (recipe {rec.name!r}); this command "
        f"works on {_DATASET_OF_KIND[want]} builds",
        path=build_dir,
        hint="check the BUILD path; each dataset needs its own build folder",
    )


# --------------------------------------------------------------------------- validation
def parse_dataclass(cls: type[T], data: Any, *, where: str, source: str = "<recipe>") -> T:
    """Build dataclass ``cls`` from a mapping, checking keys and types recursively.

    Supported field types: ``str``, ``int``, ``float``, ``bool``, ``Literal``, ``X | None``,
    ``list[X]``, ``tuple[X, ...]``, ``dict[str, X]`` and nested dataclasses.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    if not isinstance(data, Mapping):
        raise RecipeError(f"{where}: expected a mapping, got {type(data).__name__}", path=source)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise RecipeError(
            f"{where}: unknown key(s) {', '.join(unknown)}",
            path=source,
            hint=f"allowed keys: {', '.join(sorted(fields))}",
        )
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        key = f"{where}.{name}"
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], where=key, source=source)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RecipeError(f"{key}: required key is missing", path=source)
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        text = str(exc)
        head = text.split(":", 1)[0]
        joined = f"{where}.{text}" if head in fields else f"{where}: {text}"  # dotted key
        raise RecipeError(joined, path=source) from exc


def _coerce(tp: Any, value: Any, *, where: str, source: str) -> Any:
    origin = get_origin(tp)
    args = get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where=where, source=source)
            except RecipeError as exc:
                errors.append(exc.message)
        raise RecipeError(errors[0] if errors else f"{where}: bad value {value!r}", path=source)
    if origin is Literal:
        if value not in args:
            allowed = ", ".join(repr(a) for a in args)
            raise RecipeError(f"{where}: expected one of {allowed}, got {value!r}", path=source)
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return parse_dataclass(tp, value, where=where, source=source)
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise RecipeError(f"{where}: expected a list, got {value!r}", path=source)
        inner = args[0] if args else Any
        items = [
            _coerce(inner, v, where=f"{where}[{i}]", source=source) for i, v in enumerate(value)
        ]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise RecipeError(f"{where}: expected a mapping, got {value!r}", path=source)
        vt = args[1] if len(args) == 2 else Any
        return {
            str(k): _coerce(vt, v, where=f"{where}.{k}", source=source) for k, v in value.items()
        }
    if tp is bool:
        if not isinstance(value, bool):
            raise RecipeError(f"{where}: expected true/false, got {value!r}", path=source)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecipeError(f"{where}: expected an integer, got {value!r}", path=source)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RecipeError(f"{where}: expected a number, got {value!r}", path=source)
        return float(value)
    if tp is str:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise RecipeError(f"{where}: expected text, got {value!r}", path=source)
        return str(value)
    return value
