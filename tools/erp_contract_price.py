"""draft_contract_price_update: a new price for one contract line, sent once approved.

The line is the one the ERP sync stored (its contract number and line number in the
ERP); the new price goes back in the line's own currency and the ERP's unit spelling.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func, select

from core.errors import InvalidInputError, NotFoundError
from core.money import Price, format_unit_price
from integrations.units import erp_spelling
from store.models import Contract, ContractPrice, Item, ItemAlias, Supplier
from store.units import UnitCatalog
from tools.base import Evidence, Money, ToolContext
from tools.erp_actions import (
    PRICE_PLACES,
    SYSTEM_NAMES,
    ErpActionDraft,
    exact,
    record_action,
    reference,
    system_name,
    trim,
    vendor_code,
    view,
)
from tools.items import resolve_item

PCT = Decimal("0.01")


class DraftContractPriceInput(BaseModel):
    """Which contract line gets which new price."""

    contract: str = Field(description="Contract (agreement) number as in the ERP.")
    unit_price: Decimal = Field(gt=0, description="New price per ``unit``.")
    item: str | None = Field(default=None, description="Item of the line, if not by ``line``.")
    line: str | None = Field(default=None, description="Line number in the contract.")
    currency: str | None = Field(
        default=None, description="Currency of the price; must be the contract line's."
    )
    unit: str | None = Field(default=None, description="Unit of the price; default the line's.")
    valid_from: dt.date | None = Field(default=None, description="Date the new price starts.")
    system: str | None = Field(default=None, description="ERP of the contract (sap, ebs, d365).")


def _contract(ctx: ToolContext, number: str, system: str | None) -> Contract:
    query = select(Contract).where(
        Contract.org_id == ctx.org_id,
        func.upper(Contract.contract_number) == number.strip().upper(),
        Contract.attributes["kind"].astext.is_distinct_from("price_record"),
    )
    if system is not None:
        query = query.where(Contract.source_system == system)
    found = list(ctx.session.scalars(query.order_by(Contract.source_system)))
    if not found:
        raise NotFoundError(
            f"no contract {number!r} is stored from an ERP"
            + (f" in {system_name(system)}" if system else "")
            + "; erp_lookup lists the contracts of an item or supplier"
        )
    if len(found) > 1:
        where = ", ".join(system_name(c.source_system) for c in found)
        raise InvalidInputError(f"contract {number} exists in {where}; say which system")
    contract = found[0]
    if contract.source_system not in SYSTEM_NAMES:
        raise InvalidInputError(
            f"contract {number} came from {contract.source_system!r}, not an ERP the "
            "assistant can write to"
        )
    return contract


def _line(ctx: ToolContext, contract: Contract, args: DraftContractPriceInput) -> ContractPrice:
    query = select(ContractPrice).where(
        ContractPrice.org_id == ctx.org_id, ContractPrice.contract_id == contract.id
    )
    if args.line is not None:
        # Buyers say "line 10" where SAP keeps "00010": leading zeros do not count.
        wanted = args.line.strip().lstrip("0") or "0"
        query = query.where(
            func.coalesce(func.nullif(func.ltrim(ContractPrice.line_no, "0"), ""), "0") == wanted
        )
    if args.item is not None:
        query = query.where(ContractPrice.item_id == resolve_item(ctx, args.item).id)
    lines = list(ctx.session.scalars(query.order_by(ContractPrice.line_no)))
    if not lines:
        raise NotFoundError(
            f"contract {contract.contract_number} has no line"
            + (f" {args.line}" if args.line else "")
            + (f" for {args.item!r}" if args.item else "")
        )
    if len(lines) > 1:
        shown = "; ".join(
            f"line {ln.line_no}: {_item(ctx, ln.item_id).code} at {ln.currency} "
            f"{format_unit_price(ln.unit_price)}/{ln.unit}"
            for ln in lines[:10]
        )
        raise InvalidInputError(
            f"contract {contract.contract_number} has {len(lines)} lines ({shown}); "
            "name the line or the item"
        )
    line = lines[0]
    if line.line_no is None:
        raise InvalidInputError(
            f"contract {contract.contract_number} has no ERP line number to update"
        )
    return line


# ERPs whose connector changes a contract price at once, with no start date of its own.
_NO_START_DATE = frozenset({"sap", "ebs"})


def _check_start(ctx: ToolContext, system: str, valid_from: dt.date | None) -> None:
    if valid_from is None:
        return
    if valid_from < ctx.as_of:
        raise InvalidInputError(
            f"valid_from {valid_from} is in the past; a price is not changed back"
        )
    if system in _NO_START_DATE:
        raise InvalidInputError(
            f"{system_name(system)} changes a contract price at once through this connection; "
            "leave valid_from out to change it now, or set a later start in "
            f"{system_name(system)} itself"
        )


def _pct(change: Decimal | None) -> str:
    return "" if change is None else f" ({change:+}%)"


def _item(ctx: ToolContext, item_id: int) -> Item:
    item = ctx.session.get(Item, (ctx.org_id, item_id))
    assert item is not None
    return item


def draft_contract_price_update(ctx: ToolContext, args: DraftContractPriceInput) -> ErpActionDraft:
    """Draft a new price for one line of a contract in its ERP; a person must approve
    before the ERP is changed.

    Use it when the buyer asks to update, change or set a contract (agreement) price,
    for example after a negotiation. The line is found by contract number and line or
    item; the draft shows the old and new price and the change in percent. Nothing is
    sent without approval.
    """
    system = args.system.strip().lower() if args.system else None
    contract = _contract(ctx, args.contract, system)
    system = contract.source_system
    _check_start(ctx, system, args.valid_from)
    line = _line(ctx, contract, args)
    item = _item(ctx, line.item_id)
    currency = (args.currency or line.currency).upper()
    if currency != line.currency:
        raise InvalidInputError(
            f"contract {contract.contract_number} line {line.line_no} is priced in "
            f"{line.currency}; give the new price in {line.currency}"
        )
    catalog = UnitCatalog.load(ctx.session)
    asked = Price(args.unit_price, currency, catalog.get(args.unit or line.unit).code)
    new = catalog.convert_price(asked, line.unit)
    amount = trim(new.amount.quantize(PRICE_PLACES, rounding=ROUND_HALF_EVEN))
    if amount == line.unit_price:
        raise InvalidInputError(
            f"line {line.line_no} is already at {currency} {exact(amount)}/{line.unit}"
        )
    change = (
        ((amount - line.unit_price) / line.unit_price * 100).quantize(PCT)
        if line.unit_price
        else None
    )
    spelling = line.erp_unit or erp_spelling(system, line.unit)
    supplier = ctx.session.get(Supplier, (ctx.org_id, contract.supplier_id))
    vendor = vendor_code(ctx, contract.supplier_id, system)
    name = system_name(system)
    old_text = f"{currency} {exact(line.unit_price)}"
    new_text = f"{currency} {exact(amount)}"
    summary = (
        f"contract price change in {name}: {contract.contract_number} line {line.line_no} "
        f"({item.name}) from {old_text} to {new_text} per {spelling}{_pct(change)}"
    )
    lines = [
        f"Contract price change for {name} (not yet made):",
        f"- contract: {contract.contract_number}, line {line.line_no}"
        + (f", supplier {supplier.name}" if supplier is not None else ""),
        f"- item: {item.code} — {item.name}",
        f"- price: {old_text} → {new_text} per {spelling}{_pct(change)}",
        "- takes effect: "
        + (f"from {args.valid_from.isoformat()}" if args.valid_from else "at once"),
    ]

    def payload(_: int) -> dict[str, Any]:
        fields = {
            "contract_number": contract.contract_number,
            "line_number": line.line_no,
            "unit_price": format(amount, "f"),
            "currency": currency,
            "unit": spelling,
            "valid_from": args.valid_from.isoformat() if args.valid_from else None,
        }
        return {k: v for k, v in fields.items() if v is not None}

    evidence = Evidence(
        kind="contract",
        detail=f"{contract.contract_number} line {line.line_no} as last synced from {name}",
        ids=[line.id],
    )
    basis = {
        "price": Money(amount=amount, currency=currency, unit=line.unit).model_dump(mode="json"),
        "previous_price": Money(
            amount=line.unit_price, currency=currency, unit=line.unit
        ).model_dump(mode="json"),
        "change_pct": None if change is None else str(change),
        "erp_item_code": _erp_item_code(ctx, item, system),
        "erp_supplier_code": vendor,
        "evidence": [evidence.model_dump(mode="json")],
    }
    action = record_action(
        ctx,
        kind="update_contract_price",
        system=system,
        item=item,
        supplier=supplier,
        payload=payload,
        summary=summary,
        basis=basis,
    )
    lines.append(f"- reference: {reference(action.id)}")
    action.basis = {**basis, "message": "\n".join(lines)}
    ctx.session.flush()
    return view(ctx, action)


def _erp_item_code(ctx: ToolContext, item: Item, system: str) -> str:
    code = ctx.session.scalar(
        select(ItemAlias.external_code)
        .where(
            ItemAlias.org_id == ctx.org_id,
            ItemAlias.item_id == item.id,
            ItemAlias.system == system,
        )
        .order_by(ItemAlias.external_code)
        .limit(1)
    )
    return code or item.code
