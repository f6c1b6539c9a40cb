"""Filling a tool's arguments from what the buyer said and what the conversation knows.

Each builder returns the arguments, or the one question to ask when something essential
is missing (the planner asks rather than guesses).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agent.planner.reading import Reading
from tools import TOOLS


@dataclass(frozen=True)
class Slots:
    """The resolved values a call can use."""

    reading: Reading
    item: str | None
    supplier: str | None
    named_supplier: str | None  # only when this message named or pointed at one
    rfq: str | None
    quantity: Decimal | None
    unit: str | None

    @property
    def item_named(self) -> bool:
        """Whether this message itself named an item."""
        return bool(self.reading.item_text or self.reading.item_code)


Built = dict[str, Any] | str


def _search(s: Slots) -> Built:
    return {"query": s.reading.item_text or s.reading.text, "limit": 5}


def _history(s: Slots) -> Built:
    r = s.reading
    return {"item": s.item, "supplier": s.named_supplier, "since": r.since, "until": r.until}


def _predict(s: Slots) -> Built:
    return {"item": s.item, "quantity": s.quantity, "unit": s.unit, "supplier": s.named_supplier}


def _should_cost(s: Slots) -> Built:
    return {"item": s.item, "quantity": s.quantity, "unit": s.unit}


def _compare(s: Slots) -> Built:
    if not s.rfq:
        return "Which RFQ or project should I level? Give its code (for example B-40276-A)."
    return {
        "rfq": s.rfq,
        "line": s.item if s.item_named else None,
        "quantity": s.reading.quantity,
        "unit": s.reading.unit,
    }


def _anomalies(s: Slots) -> Built:
    if s.reading.quote_line_id:
        return {"quote_line_id": s.reading.quote_line_id}
    if s.rfq:
        return {"rfq": s.rfq}
    if s.supplier:
        return {"supplier": s.supplier}
    return "What should I check: an RFQ code, a supplier, or a quote line id?"


def _forecast(s: Slots) -> Built:
    r = s.reading
    series = r.series if not r.item_code else None
    if series and (r.index_named or len(r.item_text.split()) <= 1):
        args: dict[str, Any] = {"series": series}
    elif s.item:
        args = {"item": s.item}
    elif series:
        args = {"series": series}
    else:
        return "What should I forecast: an item, or an index such as steel mill products?"
    args["horizon"] = r.horizon or 6
    return args


def _increase(s: Slots) -> Built:
    r = s.reading
    if not s.supplier:
        return "Which supplier asks for the increase?"
    args: dict[str, Any] = {"supplier": s.supplier, "item": s.item}
    if r.percent is not None:
        args["requested_increase_pct"] = r.percent
    elif r.price is not None:
        args.update(new_unit_price=r.price, currency=r.currency, unit=r.price_unit or r.unit)
    else:
        return "By how much: a percentage, or the new unit price?"
    return args


def _scorecard(s: Slots) -> Built:
    if not s.supplier:
        return "Which supplier should I score?"
    return {"supplier": s.supplier, "item": s.item if s.item_named else None}


def _erp(s: Slots) -> Built:
    if not (s.item or s.supplier):
        return "For which item or supplier should I look up purchase orders and contracts?"
    return {"item": s.item, "supplier": s.supplier}


def _negotiation(s: Slots) -> Built:
    if s.rfq and not s.item:
        return {"rfq": s.rfq, "supplier": s.supplier}
    if s.item:
        return {
            "item": s.item,
            "quantity": s.quantity,
            "unit": s.unit,
            "supplier": s.supplier,
            "rfq": s.rfq,
        }
    return "For which item, RFQ or quote should I prepare the negotiation?"


def _counter_offer(s: Slots) -> Built:
    if not s.supplier:
        return "To which supplier should the counter-offer go?"
    if not s.item:
        return "For which item is the counter-offer?"
    r = s.reading
    return {
        "supplier": s.supplier,
        "item": s.item,
        "unit_price": r.price,
        "currency": r.currency or "USD",
        "quantity": s.quantity,
        "unit": r.price_unit or s.unit,
        "rfq": s.rfq,
    }


def _requisition(s: Slots) -> Built:
    r, erp = s.reading, s.reading.erp
    if not s.item:
        return "For which item should I draft the requisition? Give its code or describe it."
    if s.quantity is None:
        return "How much should the requisition be for (quantity and unit)?"
    unit = s.unit or r.price_unit
    if r.price is not None and r.price_unit and unit and r.price_unit != unit:
        # The tool takes the price per the quantity's unit; converting here would guess.
        return f"Give the expected price per {unit}, the unit of the quantity."
    return {
        "item": s.item,
        "quantity": s.quantity,
        "unit": unit,
        # Only a supplier this message names: a remembered one is not written to an ERP
        # unasked (without one the tool takes the contract's supplier).
        "supplier": s.named_supplier,
        "unit_price": r.price,
        "currency": r.currency if r.price is not None else None,
        "need_by": erp.need_by,
        "system": erp.system,
        "plant": erp.plant,
        "note": erp.note,
    }


def _contract_price(s: Slots) -> Built:
    r, erp = s.reading, s.reading.erp
    if not erp.contract:
        return "Which contract should get the new price? Give its number in the ERP."
    if r.price is None:
        return f"What is the new unit price on contract {erp.contract}?"
    return {
        "contract": erp.contract,
        "unit_price": r.price,
        "line": erp.line,
        # The line is found by the item only when this message names one.
        "item": s.item if s.item_named else None,
        "currency": r.currency,
        "unit": r.price_unit,
        "valid_from": erp.valid_from,
        "system": erp.system,
    }


BUILDERS: dict[str, Callable[[Slots], Built]] = {
    "search_items": _search,
    "price_history": _history,
    "predict_price": _predict,
    "should_cost": _should_cost,
    "compare_quotes": _compare,
    "detect_anomalies": _anomalies,
    "forecast_price": _forecast,
    "check_price_increase": _increase,
    "supplier_scorecard": _scorecard,
    "erp_lookup": _erp,
    "negotiation_advice": _negotiation,
    "draft_counter_offer": _counter_offer,
    "draft_requisition": _requisition,
    "draft_contract_price_update": _contract_price,
}


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)  # exact, as text
    return value


def arguments(tool: str, slots: Slots) -> Built:
    """Build ``tool``'s arguments (only fields its input model has), or a question."""
    built = BUILDERS[tool](slots)
    if isinstance(built, str):
        return built
    fields = TOOLS[tool].input_model.model_fields
    return {k: _plain(v) for k, v in built.items() if v not in (None, "") and k in fields}
