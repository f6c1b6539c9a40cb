"""Process caches behind price prediction: active models and prediction snapshots.

A prediction reads an organisation's whole quote history, its index observations and its
active model. Reading and indexing them takes about a second, so this module keeps them
between requests, in bounded LRU maps shared by the threads of one process:

* models by (organisation, model row id): row ids are never reused and artifacts never
  rewritten, so an id names one model for good;
* snapshots by (organisation, data generation): the quote lines, index observations and
  items indexed for look-ups, and the unit catalogue; the generation (``store.generations``)
  moves after every write to the tables a snapshot reads, and one value names one state.
  (The unit catalogue is global reference data that only migrations change.)

Both keys are read through the caller's own session, under row-level security, at the
start of each request, so an organisation only ever reaches entries built from its own
data, and a request never sees data older than its transaction does. Concurrent
requests that miss the same key wait for one build instead of each doing it.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NotFoundError
from ml.price.features import HistoryLookup, IndexLookup, dates_ns
from ml.price.model import PriceModel
from store import generations, history, registry
from store.models import Item
from store.units import UnitCatalog

MODELS = 8
"""Price models kept (all organisations together); one is tens of MB in memory."""
SNAPSHOTS = 8
"""Prediction snapshots kept (all organisations together); ~10 MB per 100k quote lines."""
DRIVERS = 4096
"""Driver lists kept per model, by feature row (SHAP contributions cost ms per row)."""

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class _Build(Generic[V]):
    done: threading.Event = field(default_factory=threading.Event)
    value: V | None = None
    failed: bool = False


class SharedLRU(Generic[K, V]):
    """A thread-safe LRU map whose misses are built once, however many threads ask."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[K, V] = OrderedDict()
        self._building: dict[K, _Build[V]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.builds = 0

    def get(self, key: K, build: Callable[[], tuple[V, bool]]) -> V:
        """Return the value of ``key``, building it on a miss.

        ``build`` returns the value and whether it may be kept; other threads waiting for
        the same key get the value either way (it is as fresh as anything they could
        read themselves). A failed build is not shared: each waiter tries on its own.
        """
        while True:
            with self._lock:
                if key in self._data:
                    self._data.move_to_end(key)
                    self.hits += 1
                    return self._data[key]
                pending = self._building.get(key)
                owner = pending is None
                if pending is None:
                    pending = self._building[key] = _Build()
            if owner:
                return self._build(key, pending, build)
            pending.done.wait()
            if not pending.failed:
                return pending.value  # type: ignore[return-value]

    def _build(self, key: K, pending: _Build[V], build: Callable[[], tuple[V, bool]]) -> V:
        try:
            value, keep = build()
        except BaseException:
            with self._lock:
                del self._building[key]
            pending.failed = True
            pending.done.set()
            raise
        with self._lock:
            del self._building[key]
            self.builds += 1
            if keep:
                self._data[key] = value
                while len(self._data) > self.size:
                    self._data.popitem(last=False)
        pending.value = value
        pending.done.set()
        return value

    def keys(self) -> list[K]:
        """The keys held, oldest first."""
        with self._lock:
            return list(self._data)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._data.clear()
            self.hits = self.builds = 0


# --------------------------------------------------------------------------- models


class CachedModel:
    """An active price model with its version and a memory of the drivers it explained."""

    def __init__(self, model: PriceModel, model_id: int, version: int) -> None:
        self.model = model
        self.model_id = model_id
        self.version = version
        self._drivers: OrderedDict[bytes, list[dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def drivers(
        self, rows: np.ndarray, *, num_threads: int | None = None
    ) -> list[list[dict[str, Any]]]:
        """``PriceModel.drivers`` of encoded rows; a row explained before is not recomputed.

        Drivers are a pure function of the row, so a remembered list is the same list.
        """
        keys = [row.tobytes() for row in rows]
        found: dict[int, list[dict[str, Any]]] = {}
        with self._lock:
            for i, key in enumerate(keys):
                if key in self._drivers:
                    self._drivers.move_to_end(key)
                    found[i] = self._drivers[key]
        missing = [i for i in range(len(keys)) if i not in found]
        if missing:
            computed = self.model.drivers(rows[missing], num_threads=num_threads)
            with self._lock:
                for i, drivers in zip(missing, computed, strict=True):
                    found[i] = self._drivers[keys[i]] = drivers
                while len(self._drivers) > DRIVERS:
                    self._drivers.popitem(last=False)
        return [[dict(d) for d in found[i]] for i in range(len(keys))]


_models: SharedLRU[tuple[uuid.UUID, int], CachedModel] = SharedLRU(MODELS)


def read_state(*, session: Session, org_id: uuid.UUID) -> generations.Reading:
    """What the caches are keyed by: the data generation and the active price model."""
    return generations.read(session=session, org_id=org_id, model_kind="price")


def active_model(
    *, session: Session, org_id: uuid.UUID, state: generations.Reading | None = None
) -> CachedModel:
    """Return the organisation's active price model (loaded once per process).

    ``state`` is a ``read_state`` of this transaction, to save reading it again.
    """
    if state is None:
        key = registry.active_key(session=session, org_id=org_id, kind="price")
    elif state.model_id is None or state.model_version is None:
        key = None
    else:
        key = (state.model_id, state.model_version)
    if key is None:
        raise NotFoundError("no active price model: run `pricing-agent train price`")
    model_id, version = key

    def build() -> tuple[CachedModel, bool]:
        data = registry.artifact(session=session, org_id=org_id, model_id=model_id)
        return CachedModel(PriceModel.from_bytes(data), model_id, version), True

    return _models.get((org_id, model_id), build)


# --------------------------------------------------------------------------- snapshots


@dataclass(frozen=True, slots=True)
class ItemRef:
    """What pricing reads of an item."""

    id: int
    code: str
    name: str
    unit: str | None
    category: str | None
    attributes: dict[str, Any]

    @classmethod
    def of(cls, item: Item) -> ItemRef:
        """From the store's row."""
        return cls(item.id, item.code, item.name, item.unit, item.category, item.attributes)


class PredictionSnapshot:
    """One state of an organisation's pricing data, indexed for look-ups by item and date.

    Every look-up takes a date and uses only quote lines dated strictly before it, so one
    snapshot of all history answers for any date as the history cut at that date would.
    """

    def __init__(
        self,
        org_id: uuid.UUID,
        generation: int,
        catalog: UnitCatalog,
        lines: pd.DataFrame,
        index_obs: pd.DataFrame,
        items: list[ItemRef],
    ) -> None:
        self.org_id = org_id
        self.generation = generation
        self.catalog = catalog
        # Codes as resolve_item matches them (case aside). Left to resolve_item: a code two
        # items share in different cases, and non-ASCII codes (the database's upper() and
        # Python's may disagree beyond ASCII).
        by_code: dict[str, ItemRef | None] = {}
        for item in items:
            if not item.code.isascii():
                continue
            key = item.code.upper()
            by_code[key] = None if key in by_code else item
        self._by_code = by_code
        self.history = HistoryLookup(lines)
        self.index = IndexLookup(index_obs)
        when = dates_ns(lines["quote_date"]) if len(lines) else np.empty(0, dtype=np.int64)
        self._all_dates = np.sort(when)
        # Per item, its lines in date order (the frame comes ordered by date and line id).
        order = np.argsort(lines["item_id"].to_numpy(), kind="stable")
        item_ids = lines["item_id"].to_numpy()[order]
        self._dates = when[order]
        self.currencies: list[str] = sorted({str(c) for c in lines["currency"]})
        codes = {c: i for i, c in enumerate(self.currencies)}
        self._currency = np.array([codes[c] for c in lines["currency"]], dtype=np.int64)[order]
        self._line_unit = lines["line_unit"].to_numpy(dtype=object)[order]
        self._line_quantity = lines["line_quantity"].to_numpy(dtype=float)[order]
        self._slices: dict[int, tuple[int, int]] = {}
        if len(item_ids):
            starts = np.flatnonzero(np.r_[True, item_ids[1:] != item_ids[:-1]])
            ends = np.r_[starts[1:], len(item_ids)]
            for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
                self._slices[int(item_ids[start])] = (start, end)

    def item_by_code(self, text: str) -> ItemRef | None:
        """The item whose code ``text`` is (any case, spaces around ignored), if exactly one."""
        wanted = text.strip()
        return self._by_code.get(wanted.upper()) if wanted.isascii() else None

    def any_lines_before(self, when_ns: int) -> bool:
        """Whether any quote line is dated before ``when_ns``."""
        return bool(len(self._all_dates)) and bool(self._all_dates[0] < when_ns)

    def _before(self, item_id: int, when_ns: int) -> tuple[int, int]:
        start, end = self._slices.get(item_id, (0, 0))
        return start, start + int(np.searchsorted(self._dates[start:end], when_ns, side="left"))

    def lines_before(self, item_id: int, when_ns: int) -> int:
        """How many quote lines of the item are dated before ``when_ns``."""
        start, stop = self._before(item_id, when_ns)
        return stop - start

    def usual_currency(self, item_id: int, when_ns: int) -> str:
        """The item's most quoted currency before ``when_ns`` (ties: first by name), or USD."""
        start, stop = self._before(item_id, when_ns)
        if stop == start:
            return "USD"
        if len(self.currencies) == 1:
            return self.currencies[0]
        counts = np.bincount(self._currency[start:stop])
        return self.currencies[int(np.flatnonzero(counts == counts.max())[0])]

    def typical_quantity(self, item_id: int, unit: str, when_ns: int) -> Decimal | None:
        """``store.history.typical_quantity``: the median quantity quoted in ``unit`` before."""
        start, stop = self._before(item_id, when_ns)
        chosen = self._line_unit[start:stop] == unit
        values = np.sort(self._line_quantity[start:stop][chosen])
        if not len(values):
            return None
        # PostgreSQL's percentile_cont(0.5) on float8: lo + 0.5 * (hi - lo) between the
        # two middle values, in that order of operations.
        middle = 0.5 * (len(values) - 1)
        lo, hi = int(np.floor(middle)), int(np.ceil(middle))
        low, high = float(values[lo]), float(values[hi])
        median = low if hi == lo else low + (middle - lo) * (high - low)
        return history.whole_quantity(median)


_snapshots: SharedLRU[tuple[uuid.UUID, int], PredictionSnapshot] = SharedLRU(SNAPSHOTS)


def snapshot(
    *, session: Session, org_id: uuid.UUID, state: generations.Reading | None = None
) -> PredictionSnapshot:
    """Return the prediction snapshot of the organisation's data as this session sees it.

    ``state`` is a ``read_state`` of this transaction, to save reading it again.
    """
    if state is None:
        generation = generations.current(session=session, org_id=org_id)
    else:
        generation = state.generation

    def build() -> tuple[PredictionSnapshot, bool]:
        catalog = UnitCatalog.load(session)
        lines = history.price_lines(session=session, org_id=org_id, catalog=catalog)
        index_obs = history.index_observations(session=session, org_id=org_id)
        rows = session.execute(
            select(Item.id, Item.code, Item.name, Item.unit, Item.category, Item.attributes).where(
                Item.org_id == org_id
            )
        ).all()
        items = [ItemRef(*row) for row in rows]
        built = PredictionSnapshot(org_id, generation, catalog, lines, index_obs, items)
        # Statements of one transaction may see different commits: if the generation
        # moved while reading, the reads may mix two states, so they serve this request
        # (as the reads of an uncached request would) but are not kept.
        return built, generations.current(session=session, org_id=org_id) == generation

    if session.info.get("org_id") != org_id:
        # Only a session scoped to the organisation (row-level security) reads exactly its
        # data; anything else is served but never shared.
        return build()[0]
    return _snapshots.get((org_id, generation), build)


def clear() -> None:
    """Forget every cached model and snapshot (tests; an operator's reset)."""
    _models.clear()
    _snapshots.clear()


def stats() -> dict[str, Any]:
    """What the caches hold, for metrics and tests."""
    return {
        "models": _models.keys(),
        "snapshots": _snapshots.keys(),
        "model_builds": _models.builds,
        "snapshot_builds": _snapshots.builds,
        "snapshot_hits": _snapshots.hits,
    }
