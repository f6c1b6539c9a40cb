"""draft_requisition: a purchase requisition for an ERP, sent only once a person approves.

The requisition is written in the ERP's own terms: the item's code there, the supplier's
vendor number there, and the quantity and price in the unit the ERP keeps the item in.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import and_, or_, select

from core.errors import InvalidInputError, NotFoundError, PricingAgentError, UnitConversionError
from core.money import Price
from integrations.units import erp_spelling, resolve_erp_unit
from store.models import Contract, ContractPrice, Item, ItemAlias, Supplier
from store.units import UnitCatalog
from tools.base import Evidence, Money, ToolContext
from tools.erp_actions import (
    PRICE_PLACES,
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
from tools.suppliers import resolve_supplier

# ERP quantity fields carry three decimals; a converted quantity is rounded up to them so
# the requisition never asks for less than the buyer did.
QUANTITY_PLACES = Decimal("0.001")


class DraftRequisitionInput(BaseModel):
    """What to requisition, how much, from whom, and by when."""

    item: str = Field(description="Item code, its ERP code, or a description.")
    quantity: Decimal = Field(gt=0, description="How much, in ``unit``.")
    unit: str | None = Field(default=None, description="Unit of the quantity; default the item's.")
    need_by: dt.date | None = Field(default=None, description="Date the goods are needed.")
    supplier: str | None = Field(default=None, description="Supplier to source from, if fixed.")
    unit_price: Decimal | None = Field(
        default=None,
        gt=0,
        description="Expected price per ``unit``; default the contract price in force, "
        "else the model's P50.",
    )
    currency: str | None = Field(default=None, description="Currency of ``unit_price``.")
    system: str | None = Field(
        default=None,
        description="ERP to create it in (sap, ebs, d365); default the one that knows the item.",
    )
    plant: str | None = Field(
        default=None, max_length=40, description="Plant / site / ship-to organisation code."
    )
    note: str | None = Field(default=None, max_length=500, description="Text for the requester.")


def _aliases(ctx: ToolContext, item: Item) -> list[ItemAlias]:
    return list(
        ctx.session.scalars(
            select(ItemAlias)
            .where(ItemAlias.org_id == ctx.org_id, ItemAlias.item_id == item.id)
            .order_by(ItemAlias.system, ItemAlias.external_code)
        )
    )


def _pick_alias(ctx: ToolContext, item: Item, asked: str, system: str | None) -> ItemAlias:
    """The item's code in the ERP to write to: the one asked for, else the only one."""
    aliases = _aliases(ctx, item)
    if system is not None:
        aliases = [a for a in aliases if a.system == system]
        if not aliases:
            raise NotFoundError(
                f"{item.code} has no code in {system_name(system)}; sync that ERP or "
                "confirm the item's match there (pricing-agent erp matches)"
            )
    exact = [a for a in aliases if a.external_code.upper() == asked.strip().upper()]
    if len(exact) == 1:
        return exact[0]
    if len(aliases) == 1:
        return aliases[0]
    if not aliases:
        raise InvalidInputError(
            f"{item.code} ({item.name}) is not known in any ERP: a requisition goes to the "
            "ERP that keeps the item; sync it first"
        )
    known = ", ".join(f"{system_name(a.system)} ({a.external_code})" for a in aliases)
    raise InvalidInputError(f"{item.code} is known in {known}; say which system or code")


def _vendor_code(ctx: ToolContext, supplier: Supplier, system: str) -> str:
    code = vendor_code(ctx, supplier.id, system)
    if code is None:
        raise NotFoundError(
            f"{supplier.name} has no vendor number in {system_name(system)}; sync its suppliers"
        )
    return code


def _agreed_price(
    ctx: ToolContext,
    item: Item,
    system: str,
    supplier: Supplier | None,
    asked: tuple[Decimal, str, str | None],
    catalog: UnitCatalog,
) -> tuple[ContractPrice, Contract] | None:
    """The agreed price in force today in ``system`` for the asked quantity.

    Each line's minimum quantity is compared in the line's own unit. Among the lines that
    apply (in the asked currency, if one was given, else in the newest line's currency),
    the newest wins, then the lowest price per the asked unit.
    """
    quantity, unit, currency = asked
    query = (
        select(ContractPrice, Contract)
        .join(
            Contract,
            and_(Contract.org_id == ContractPrice.org_id, Contract.id == ContractPrice.contract_id),
        )
        .where(
            ContractPrice.org_id == ctx.org_id,
            ContractPrice.item_id == item.id,
            Contract.source_system == system,
            ContractPrice.valid_from <= ctx.as_of,
            or_(ContractPrice.valid_to.is_(None), ContractPrice.valid_to >= ctx.as_of),
        )
        .order_by(ContractPrice.valid_from.desc(), ContractPrice.id)
    )
    if supplier is not None:
        query = query.where(Contract.supplier_id == supplier.id)
    applying: list[tuple[ContractPrice, Contract, Decimal]] = []
    for line, contract in ctx.session.execute(query):
        try:
            in_line_unit = catalog.convert_quantity(quantity, unit, line.unit)
            per_asked = catalog.convert_price(
                Price(line.unit_price, line.currency, line.unit), unit
            ).amount
        except UnitConversionError:
            continue  # priced in another dimension (per lot, say): not comparable
        if line.min_quantity <= in_line_unit:
            applying.append((line, contract, per_asked))
    if not applying:
        return None
    wanted = currency or applying[0][0].currency
    same = [a for a in applying if a[0].currency == wanted]
    if not same:
        return None
    newest = max(a[0].valid_from for a in same)
    line, contract, _ = min(
        (a for a in same if a[0].valid_from == newest), key=lambda a: (a[2], a[0].id)
    )
    return line, contract


def _expected_price(
    ctx: ToolContext,
    args: DraftRequisitionInput,
    item: Item,
    system: str,
    supplier: Supplier | None,
    asked: tuple[Decimal, str],
    catalog: UnitCatalog,
) -> tuple[Price, Supplier | None, dict[str, Any], list[Evidence]]:
    """The price to put on the requisition, the supplier it implies, and what it rests on."""
    quantity, unit = asked
    if args.unit_price is not None:
        price = Price(args.unit_price, (args.currency or "USD").upper(), unit)
        return price, supplier, {"source": "buyer"}, []
    currency = args.currency.upper() if args.currency else None
    agreed = _agreed_price(ctx, item, system, supplier, (quantity, unit, currency), catalog)
    if agreed is not None:
        line, contract = agreed
        found = ctx.session.get(Supplier, (ctx.org_id, contract.supplier_id))
        price = Price(line.unit_price, line.currency, line.unit)
        evidence = Evidence(
            kind="contract",
            detail=f"{contract.contract_number} line {line.line_no} in {system_name(system)}",
            ids=[line.id],
        )
        basis = {"source": "contract", "contract": contract.contract_number, "line": line.line_no}
        return price, supplier or found, basis, [evidence]
    from tools.predict_price import PredictPriceInput, predict_price

    try:
        band = predict_price(
            ctx,
            PredictPriceInput(
                item=item.code,
                quantity=quantity,
                unit=unit,
                supplier=supplier.name if supplier is not None else None,
                currency=(args.currency or "USD").upper(),
            ),
            explain=False,
        )
    except PricingAgentError as exc:
        raise InvalidInputError(
            f"no agreed price for {item.code} is in force and the model could not price it "
            f"({exc}); give a unit_price"
        ) from None
    price = Price(band.p50.amount, band.p50.currency, band.p50.unit)
    basis = {"source": "model P50", "p10": str(band.p10.amount), "p90": str(band.p90.amount)}
    return price, supplier, basis, band.evidence


def draft_requisition(ctx: ToolContext, args: DraftRequisitionInput) -> ErpActionDraft:
    """Draft a purchase requisition in the ERP that keeps the item; a person must approve
    before it is created there.

    Use it when the buyer asks to raise, create or put in a requisition (purchase request)
    for an item. Without a price, the contract price in force is used (which also names
    the supplier), else the model's P50. The draft shows every field as the ERP will get
    it (its item code, vendor number, unit); nothing is sent without approval.
    """
    item = resolve_item(ctx, args.item)
    system = args.system.strip().lower() if args.system else None
    alias = _pick_alias(ctx, item, args.item, system)
    system = alias.system
    catalog = UnitCatalog.load(ctx.session)
    asked_unit = catalog.get(args.unit or item.unit or "ea")
    spelling = alias.erp_unit or erp_spelling(system, item.unit or asked_unit.code)
    erp_unit = resolve_erp_unit(catalog, system, spelling) or catalog.get(item.unit or "ea")
    quantity = catalog.convert_quantity(args.quantity, asked_unit.code, erp_unit.code)
    quantity = trim(quantity.quantize(QUANTITY_PLACES, rounding=ROUND_UP))
    if args.need_by is not None and args.need_by < ctx.as_of:
        raise InvalidInputError(f"need-by date {args.need_by} is in the past")
    supplier = resolve_supplier(ctx, args.supplier) if args.supplier else None
    found, supplier, basis, evidence = _expected_price(
        ctx, args, item, system, supplier, (args.quantity, asked_unit.code), catalog
    )
    price = catalog.convert_price(found, erp_unit.code)
    amount = trim(price.amount.quantize(PRICE_PLACES, rounding=ROUND_HALF_EVEN))
    vendor = _vendor_code(ctx, supplier, system) if supplier is not None else None
    name = system_name(system)
    summary = (
        f"requisition in {name} for {quantity:,} {spelling} of {alias.external_code} "
        f"({item.name}) at {price.currency} {exact(amount)}/{spelling}"
        + (f" from {supplier.name} ({vendor})" if supplier is not None else "")
        + (f", needed by {args.need_by.isoformat()}" if args.need_by else "")
    )

    def payload(action_id: int) -> dict[str, Any]:
        note = reference(action_id) + (f": {args.note.strip()}" if args.note else "")
        fields = {
            "item_code": alias.external_code,
            "quantity": format(quantity, "f"),
            "unit": spelling,
            "unit_price": format(amount, "f"),
            "currency": price.currency,
            "supplier_code": vendor,
            "need_by_date": args.need_by.isoformat() if args.need_by else None,
            "plant": args.plant,
            "note": note,
        }
        return {k: v for k, v in fields.items() if v is not None}

    lines = [
        f"Requisition for {name} (not yet created):",
        f"- item: {alias.external_code} — {item.name} (store item {item.code})",
        f"- quantity: {quantity:,} {spelling}"
        + (
            f" (asked: {args.quantity:,} {asked_unit.code})"
            if asked_unit.code != erp_unit.code
            else ""
        ),
        f"- expected price: {price.currency} {exact(amount)} per {spelling}, "
        f"from {basis['source']}",
        f"- estimated value: {price.currency} {(amount * quantity):,.2f}",
    ]
    if supplier is not None:
        lines.append(f"- supplier: {supplier.name} (vendor {vendor})")
    if args.need_by:
        lines.append(f"- needed by: {args.need_by.isoformat()}")
    if args.plant:
        lines.append(f"- plant: {args.plant}")
    basis_out = {
        **basis,
        "price": Money(amount=amount, currency=price.currency, unit=erp_unit.code).model_dump(
            mode="json"
        ),
        "asked": {"quantity": str(args.quantity), "unit": asked_unit.code},
        "evidence": [e.model_dump(mode="json") for e in evidence],
    }
    action = record_action(
        ctx,
        kind="create_requisition",
        system=system,
        item=item,
        supplier=supplier,
        payload=payload,
        summary=summary,
        basis=basis_out,
    )
    lines.append(f"- reference: {reference(action.id)}")
    action.basis = {**basis_out, "message": "\n".join(lines)}
    ctx.session.flush()
    return view(ctx, action)
