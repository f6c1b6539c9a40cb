"""Column mappings: how a file's columns become import fields and attributes.

A mapping comes from ``--map "Bidder Name=supplier"`` options, a small YAML file, or a
shipped mapping by name (``indot_bidtabs``). Columns that already carry a field's name
(``Unit Price`` for ``unit_price``) need no mapping; any other column becomes an
attribute named in snake_case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.errors import InvalidInputError

SHIPPED_DIR = Path(__file__).parent / "mappings"
ATTRIBUTE_TYPES = ("text", "number")


def snake(name: str) -> str:
    """``Job Size (USD)`` → ``job_size_usd``."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_") or "column"


@dataclass
class ColumnMapping:
    """Renames from source columns to fields, plus attribute types and field defaults."""

    columns: dict[str, str] = field(default_factory=dict)
    attribute_types: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    date_format: str | None = None
    source: str | None = None
    kind: str | None = None

    def merged(self, other: ColumnMapping) -> ColumnMapping:
        """Return this mapping overridden by ``other`` (command-line options win)."""
        return ColumnMapping(
            columns={**self.columns, **other.columns},
            attribute_types={**self.attribute_types, **other.attribute_types},
            defaults={**self.defaults, **other.defaults},
            date_format=other.date_format or self.date_format,
            source=other.source or self.source,
            kind=other.kind or self.kind,
        )

    def resolve(self, header: list[str], fields: tuple[str, ...]) -> dict[str, str]:
        """Map each header column to a field name or an attribute name."""
        by_lower = {k.strip().lower(): v.strip() for k, v in self.columns.items()}
        unknown = [k for k in by_lower if k not in {h.lower() for h in header}]
        if unknown:
            raise InvalidInputError(
                f"the mapping names columns the file lacks: {', '.join(sorted(unknown))}; "
                f"the file has: {', '.join(header)}"
            )
        resolved: dict[str, str] = {}
        for column in header:
            target = by_lower.get(column.lower())
            if target is None:
                target = snake(column)
            elif target not in fields:
                target = snake(target)
            if target in resolved.values():
                raise InvalidInputError(f"two columns map to {target!r}; map one of them away")
            resolved[column] = target
        return resolved

    def as_json(self) -> dict[str, Any]:
        """Plain dict for the import run's record."""
        return {
            "columns": self.columns,
            "attribute_types": self.attribute_types,
            "defaults": self.defaults,
            "date_format": self.date_format,
            "source": self.source,
        }


def parse_map_options(options: list[str]) -> ColumnMapping:
    """Parse repeated ``--map "Source Column=field"`` options."""
    columns: dict[str, str] = {}
    for option in options:
        source, sep, target = option.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise InvalidInputError(f"--map expects 'Source Column=field', got {option!r}")
        columns[source.strip()] = target.strip()
    return ColumnMapping(columns=columns)


def load_mapping(name_or_path: str) -> ColumnMapping:
    """Load a YAML mapping from a path, or a shipped one by name."""
    path = Path(name_or_path)
    if not path.exists():
        shipped = SHIPPED_DIR / f"{name_or_path}.yaml"
        if not shipped.exists():
            names = ", ".join(sorted(p.stem for p in SHIPPED_DIR.glob("*.yaml")))
            raise InvalidInputError(f"no mapping file {name_or_path!r} (shipped mappings: {names})")
        path = shipped
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path.name}: not a valid YAML mapping ({exc})") from exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path.name}: a mapping file holds a YAML mapping")
    allowed = {"columns", "attribute_types", "defaults", "date_format", "source", "kind"}
    extra = set(data) - allowed
    if extra:
        raise InvalidInputError(f"{path.name}: unknown keys {', '.join(sorted(extra))}")
    types = {snake(k): str(v) for k, v in (data.get("attribute_types") or {}).items()}
    bad = {k: v for k, v in types.items() if v not in ATTRIBUTE_TYPES}
    if bad:
        raise InvalidInputError(f"{path.name}: attribute types must be text or number: {bad}")
    return ColumnMapping(
        columns={str(k): str(v) for k, v in (data.get("columns") or {}).items()},
        attribute_types=types,
        defaults={str(k): str(v) for k, v in (data.get("defaults") or {}).items()},
        date_format=data.get("date_format"),
        source=data.get("source"),
        kind=data.get("kind"),
    )
