"""predict_price through the caches, and predict_prices, against the reference computation.

The reference is predict_price as it was before the caches: the quote history cut at the
quote date read from the store, the feature frame built by ``build_matrix``, the model
unpickled from the registry. The cached path must give the same output to the last
digit, and must notice new quotes and new model versions at once.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from core.errors import InvalidInputError, NotFoundError
from core.money import Price
from ml.price.model import ARTIFACT_FORMAT, PriceModel
from store import fx, history, registry
from store.db import Database, TenantSession
from store.models import Item, Supplier
from store.units import UnitCatalog
from tests import factories
from tests.conftest import AS_OF, make_org
from tools import TOOLS, price_cache
from tools.base import Evidence, Money, ToolContext
from tools.items import resolve_item
from tools.predict_price import (
    MAX_BATCH_LINES,
    Driver,
    PredictPriceInput,
    PredictPriceOutput,
    PredictPricesInput,
    predict_price,
    predict_prices,
)
from tools.suppliers import resolve_supplier

REBAR = "703-06029"  # per lb, 1,715 quote lines
HMA = "406-05520"  # asphalt, per ton
EXCAVATION = "203-02000"  # per yd3
SUPPLIER = "3D COMPANY INC."


def reference_predict(ctx: ToolContext, args: PredictPriceInput) -> PredictPriceOutput:
    """predict_price before the caches (kept verbatim but for the model's loading)."""
    item = resolve_item(ctx, args.item)
    catalog = UnitCatalog.load(ctx.session)
    item_unit = catalog.get(item.unit or args.unit or "ea").code
    unit = catalog.get(args.unit).code if args.unit else item_unit
    when = args.date or ctx.as_of
    asked = args.quantity
    if asked is None:
        typical = history.typical_quantity(
            session=ctx.session, org_id=ctx.org_id, item_id=item.id, unit=item_unit, until=when
        )
        if typical is None:
            raise InvalidInputError(f"give a quantity: {item.code} has no earlier quotes")
        asked = catalog.convert_quantity(typical, item_unit, unit)
    quantity_in_item_unit = catalog.convert_quantity(asked, unit, item_unit)
    supplier = resolve_supplier(ctx, args.supplier) if args.supplier else None
    row = registry.active(session=ctx.session, org_id=ctx.org_id, kind="price")
    assert row is not None
    model, version = PriceModel.from_bytes(row.artifact), row.version
    reference = history.quote_history(session=ctx.session, org_id=ctx.org_id, until=when)
    if reference.empty:
        raise InvalidInputError("no quote history to price against")
    prior = int((reference["item_id"] == item.id).sum())
    currencies = reference.loc[reference["item_id"] == item.id, "currency"]
    model_currency = str(currencies.mode().iloc[0]) if len(currencies) else "USD"
    target = pd.DataFrame(
        [
            {
                "line_id": -1,
                "quote_date": pd.Timestamp(when),
                "item_id": item.id,
                "item_code": item.code,
                "category": item.category or "",
                "item_unit": item_unit,
                "item_attributes": item.attributes or {},
                "supplier_id": supplier.id if supplier else -1,
                "rfq_id": pd.NA,
                "rfq_line_id": pd.NA,
                "quantity": float(quantity_in_item_unit),
                "unit": item_unit,
                "currency": model_currency,
                "line_attributes": {},
            }
        ]
    )
    target["rfq_id"] = target["rfq_id"].astype("Int64")
    target["rfq_line_id"] = target["rfq_line_id"].astype("Int64")
    index_obs = history.index_observations(session=ctx.session, org_id=ctx.org_id)
    matrix = model.matrix(target, reference, index_obs)
    band = model.predict_matrix(matrix).iloc[0]
    drivers = [Driver(**d) for d in model.drivers(matrix)[0]]

    def money(value: float) -> Money:
        per_item_unit = Money.from_float(value, currency=model_currency, unit=item_unit)
        price = catalog.convert_price(Price(per_item_unit.amount, model_currency, item_unit), unit)
        price = fx.convert_price(
            ctx.session, org_id=ctx.org_id, price=price, to_currency=args.currency, on=when
        )
        return Money.from_float(float(price.amount), currency=price.currency, unit=price.unit)

    return PredictPriceOutput(
        item_code=item.code,
        item_name=item.name,
        quantity=asked,
        p10=money(band["p10"]),
        p50=money(band["p50"]),
        p90=money(band["p90"]),
        drivers=drivers,
        model_version=version,
        history_lines=prior,
        evidence=[
            Evidence(kind="model", detail=f"price model v{version}", ids=[version]),
            Evidence(kind="quotes", detail=f"{prior} earlier quote lines of {item.code}"),
        ],
    )


CASES = [
    {"item": REBAR, "quantity": Decimal(500)},
    {"item": REBAR, "quantity": Decimal(2), "unit": "TON"},
    {"item": REBAR},
    {"item": REBAR, "quantity": Decimal(40000), "supplier": SUPPLIER, "date": dt.date(2024, 5, 1)},
    {"item": HMA, "quantity": Decimal(450), "date": dt.date(2023, 1, 15)},
    {"item": HMA, "date": dt.date(2022, 9, 1)},
    {"item": EXCAVATION, "quantity": Decimal("1234.5"), "supplier": SUPPLIER},
    {"item": EXCAVATION, "quantity": Decimal(3), "unit": "m3", "date": dt.date(2026, 5, 7)},
    {"item": "reinforcing bars epoxy coated", "quantity": Decimal(900)},
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_cached_path_equals_the_reference_computation(
    ctx: ToolContext, case: dict[str, Any]
) -> None:
    args = PredictPriceInput(**case)
    fast = predict_price(ctx, args)
    assert fast.model_dump() == reference_predict(ctx, args).model_dump()
    again = predict_price(ctx, args)  # warm: snapshot and model from the caches
    assert again.model_dump() == fast.model_dump()
    plain = predict_price(ctx, args, explain=False)
    assert plain.drivers == []
    assert plain.model_dump(exclude={"drivers"}) == fast.model_dump(exclude={"drivers"})


def test_errors_are_the_reference_errors(ctx: ToolContext) -> None:
    for case, error in [
        ({"item": "unobtainium flux capacitor"}, NotFoundError),
        ({"item": REBAR, "quantity": Decimal(1), "supplier": "No Such Paving Co"}, NotFoundError),
        ({"item": REBAR, "quantity": Decimal(1), "date": dt.date(2000, 1, 1)}, InvalidInputError),
        ({"item": REBAR, "date": dt.date(2000, 1, 1)}, InvalidInputError),
        ({"item": REBAR, "quantity": Decimal(1), "unit": "C.Y."}, InvalidInputError),
        ({"item": REBAR, "quantity": Decimal(1), "currency": "EUR"}, InvalidInputError),
    ]:
        args = PredictPriceInput(**case)
        with pytest.raises(error) as fast:
            predict_price(ctx, args)
        with pytest.raises(error) as slow:
            reference_predict(ctx, args)
        assert str(fast.value) == str(slow.value)


def _add_quotes(ctx: ToolContext, code: str, price: Decimal, count: int, on: dt.date) -> None:
    item = ctx.session.scalar(select(Item).where(Item.code == code))
    supplier = ctx.session.scalar(select(Supplier).order_by(Supplier.id).limit(1))
    assert item is not None
    assert supplier is not None
    quote = factories.quote(ctx.session, ctx.org_id, supplier_id=supplier.id, quote_date=on)
    for _ in range(count):
        factories.quote_line(
            ctx.session,
            ctx.org_id,
            quote_id=quote.id,
            supplier_id=supplier.id,
            item_id=item.id,
            quote_date=on,
            unit=item.unit,
            unit_price=price,
            quantity=Decimal(500),
        )


def test_a_new_quote_line_is_seen_by_the_next_prediction(ctx: ToolContext) -> None:
    price_cache.clear()
    args = PredictPriceInput(item=REBAR, quantity=Decimal(500))
    before = predict_price(ctx, args)
    predict_price(ctx, args)
    assert price_cache.stats()["snapshot_builds"] == 1
    _add_quotes(ctx, REBAR, Decimal(250), count=30, on=AS_OF - dt.timedelta(days=20))
    after = predict_price(ctx, args)
    assert after.history_lines == before.history_lines + 30
    assert after.p50 != before.p50
    assert price_cache.stats()["snapshot_builds"] == 2
    assert after.model_dump() == reference_predict(ctx, args).model_dump()
    # A quote line dated on the quote date or later is not history yet.
    _add_quotes(ctx, REBAR, Decimal(1), count=5, on=AS_OF)
    same_day = predict_price(ctx, args)
    assert same_day.model_dump() == after.model_dump()


def _register_variant(ctx: ToolContext, widen: float) -> int:
    active = registry.active(session=ctx.session, org_id=ctx.org_id, kind="price")
    assert active is not None
    model = PriceModel.from_bytes(active.artifact)
    model.conformal_widening += widen
    row = registry.register(
        session=ctx.session,
        org_id=ctx.org_id,
        kind="price",
        artifact=model.to_bytes(),
        artifact_format=ARTIFACT_FORMAT,
        data_fingerprint=active.data_fingerprint,
        training_rows=active.training_rows,
        training_seconds=0.0,
        params=active.params,
        metrics=active.metrics,
        actor="test",
    )
    return row.version


def test_a_newly_activated_model_version_is_used_at_once(ctx: ToolContext) -> None:
    args = PredictPriceInput(item=HMA, quantity=Decimal(450))
    before = predict_price(ctx, args)
    version = _register_variant(ctx, widen=0.25)
    wider = predict_price(ctx, args)
    assert wider.model_version == version != before.model_version
    assert wider.p50 == before.p50
    assert wider.p10.amount < before.p10.amount
    assert wider.p90.amount > before.p90.amount
    assert wider.model_dump() == reference_predict(ctx, args).model_dump()
    registry.rollback(session=ctx.session, org_id=ctx.org_id, kind="price", actor="test")
    assert predict_price(ctx, args).model_dump() == before.model_dump()


def test_two_organisations_never_share_cache_entries(
    database: Database, ctx: ToolContext, sample_org: uuid.UUID
) -> None:
    # A second organisation with the sample's model and an item of the same code, but
    # only three quotes of it: its answers must come from its own data alone.
    artifact = registry.active(session=ctx.session, org_id=sample_org, kind="price")
    assert artifact is not None
    other = make_org(database, "other")
    session = TenantSession(bind=database.service_engine, expire_on_commit=False)
    session.info["org_id"] = other
    try:
        item = factories.item(session, other, code=REBAR, unit="lb", category="rebar")
        supplier = factories.supplier(session, other)
        quote = factories.quote(session, other, supplier_id=supplier.id)
        for price in ("0.9", "1.0", "1.1"):
            factories.quote_line(
                session,
                other,
                quote_id=quote.id,
                supplier_id=supplier.id,
                item_id=item.id,
                unit="lb",
                unit_price=Decimal(price),
            )
        registry.register(
            session=session,
            org_id=other,
            kind="price",
            artifact=artifact.artifact,
            artifact_format=ARTIFACT_FORMAT,
            data_fingerprint=artifact.data_fingerprint,
            training_rows=3,
            training_seconds=0.0,
            params={},
            metrics={},
            actor="test",
        )
        theirs_ctx = ToolContext(session=session, org_id=other, as_of=AS_OF)
        args = PredictPriceInput(item=REBAR, quantity=Decimal(500))
        ours = predict_price(ctx, args)
        theirs = predict_price(theirs_ctx, args)
        assert (ours.history_lines, theirs.history_lines) == (1715, 3)
        assert theirs.model_dump() == reference_predict(theirs_ctx, args).model_dump()
        ours_snap = price_cache.snapshot(session=ctx.session, org_id=sample_org)
        theirs_snap = price_cache.snapshot(session=session, org_id=other)
        assert ours_snap is not theirs_snap
        assert (ours_snap.org_id, theirs_snap.org_id) == (sample_org, other)
        stats = price_cache.stats()
        assert {(sample_org, ours_snap.generation), (other, theirs_snap.generation)} <= set(
            stats["snapshots"]
        )
        model_orgs = [org for org, _ in stats["models"]]
        assert sample_org in model_orgs
        assert other in model_orgs
        # A session of one organisation asking for another's snapshot keeps nothing.
        kept = set(price_cache.stats()["snapshots"])
        price_cache.snapshot(session=session, org_id=uuid.uuid4())
        assert set(price_cache.stats()["snapshots"]) == kept
    finally:
        session.rollback()
        session.close()


# --------------------------------------------------------------------------- batch


def test_batch_keeps_order_prices_each_line_as_predict_price_and_isolates_bad_lines(
    ctx: ToolContext,
) -> None:
    no_quotes = factories.item(ctx.session, ctx.org_id, code="NEVER-QUOTED", unit="ea")
    lines: list[dict[str, Any]] = [
        CASES[0],
        {"item": "unobtainium flux capacitor", "quantity": Decimal(1)},
        CASES[3],
        {"item": REBAR, "quantity": Decimal(1), "unit": "furlong"},
        {"item": REBAR, "quantity": Decimal(1), "unit": "C.Y."},
        {"item": no_quotes.code},
        CASES[1],
        {"item": REBAR, "quantity": Decimal(1), "supplier": "No Such Paving Co"},
        {"item": REBAR, "quantity": Decimal(1), "date": dt.date(2000, 1, 1)},
        {"item": REBAR, "quantity": Decimal(1), "currency": "EUR"},
        CASES[6],
        CASES[0],
    ]
    out = predict_prices(ctx, PredictPricesInput(lines=[PredictPriceInput(**c) for c in lines]))
    assert [r.index for r in out.results] == list(range(len(lines)))
    failed = {r.index: r.error for r in out.results if r.error is not None}
    assert sorted(failed) == [1, 3, 4, 5, 7, 8, 9]
    assert (out.priced, out.failed) == (5, 7)
    assert failed[1].kind == "Not found"
    assert "furlong" in failed[3].message
    assert "cannot convert" in failed[4].message
    assert failed[5].message == "give a quantity: NEVER-QUOTED has no earlier quotes"
    assert failed[7].kind == "Not found"
    assert failed[8].message == "no quote history to price against"
    assert "USD->EUR" in failed[9].message
    for result, case in zip(out.results, lines, strict=True):
        if result.error is None:
            single = predict_price(ctx, PredictPriceInput(**case), explain=False)
            assert result.prediction is not None
            assert result.prediction.model_dump() == single.model_dump()
    assert out.results[0].prediction == out.results[-1].prediction


def test_batch_drivers_are_predict_prices_own_when_asked(ctx: ToolContext) -> None:
    args = [PredictPriceInput(**c) for c in CASES[:4]]
    out = predict_prices(ctx, PredictPricesInput(lines=args, explain=True))
    for result, one in zip(out.results, args, strict=True):
        assert result.prediction is not None
        assert result.prediction.model_dump() == predict_price(ctx, one).model_dump()
        assert result.prediction.drivers


def test_batch_takes_up_to_ten_thousand_lines(ctx: ToolContext) -> None:
    lines = [
        PredictPriceInput(item=code, quantity=Decimal(q))
        for code, q in [(REBAR, 500), (HMA, 450), (EXCAVATION, 80), (REBAR, 20000)]
    ]
    full = PredictPricesInput(lines=lines * (MAX_BATCH_LINES // len(lines)))
    out = predict_prices(ctx, full)
    assert (out.priced, out.failed) == (MAX_BATCH_LINES, 0)
    singles = [predict_price(ctx, one, explain=False) for one in lines]
    for result in out.results[:: MAX_BATCH_LINES // 20]:
        assert result.prediction == singles[result.index % len(lines)]
    with pytest.raises(ValidationError, match="at most 10000"):
        PredictPricesInput(lines=lines * (MAX_BATCH_LINES // len(lines)) + lines[:1])
    with pytest.raises(ValidationError):
        PredictPricesInput(lines=[])


def test_batch_is_not_an_agent_tool() -> None:
    # The agent prices one item at a time; the API imports predict_prices directly.
    assert "predict_prices" not in TOOLS
    assert "predict_price" in TOOLS


# --------------------------------------------------------------------------- the LRU


def test_shared_lru_builds_a_missing_key_once_for_many_threads() -> None:
    cache: price_cache.SharedLRU[str, int] = price_cache.SharedLRU(2)
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def build() -> tuple[int, bool]:
        calls.append(1)
        started.set()
        release.wait(5)
        return 42, True

    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get("k", build))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    started.wait(5)
    release.set()
    for thread in threads:
        thread.join(5)
    assert results == [42] * 8
    assert len(calls) == 1


def test_shared_lru_evicts_the_oldest_and_does_not_keep_what_it_must_not() -> None:
    cache: price_cache.SharedLRU[str, int] = price_cache.SharedLRU(2)
    value: Callable[[int, bool], Callable[[], tuple[int, bool]]] = lambda v, keep: lambda: (v, keep)  # noqa: E731
    cache.get("a", value(1, True))
    cache.get("b", value(2, True))
    cache.get("a", value(0, True))  # a hit: "a" becomes the newest
    cache.get("c", value(3, True))
    assert cache.keys() == ["a", "c"]
    assert cache.get("d", value(4, False)) == 4
    assert cache.keys() == ["a", "c"]


def test_shared_lru_does_not_share_a_failed_build() -> None:
    cache: price_cache.SharedLRU[str, int] = price_cache.SharedLRU(2)

    def boom() -> tuple[int, bool]:
        raise RuntimeError("store went away")

    with pytest.raises(RuntimeError):
        cache.get("k", boom)
    assert cache.get("k", lambda: (7, True)) == 7
