"""draft_counter_offer: write a counter-offer to a supplier; it goes out only once approved.

Drafting stores the offer as ``pending_approval``. The agent then stops at an approval
interrupt; ``decide_counter_offer`` records the person's decision and audits it. Nothing
leaves the store before an approval.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field
from sqlalchemy import select

from core.errors import NotFoundError
from core.money import format_unit_price
from store import audit
from store.models import CounterOffer, Item, Supplier
from store.units import UnitCatalog
from tools.base import ApprovalDecision, Evidence, Money, ToolContext, record_decision
from tools.items import resolve_item
from tools.suppliers import resolve_supplier

APPROVAL_ACTION = "send_counter_offer"


class DraftCounterOfferInput(BaseModel):
    """Who to counter, on what, and at what price."""

    supplier: str = Field(description="The supplier to send the counter-offer to.")
    item: str = Field(description="Item code or description the offer is about.")
    unit_price: Decimal | None = Field(
        default=None,
        gt=0,
        description="Offered price per unit; default: the opening offer from negotiation_advice.",
    )
    currency: str = Field(default="USD", description="Currency of the offered price.")
    unit: str | None = Field(default=None, description="Unit of the price; default the item's.")
    quantity: Decimal | None = Field(default=None, gt=0, description="Quantity offered for.")
    rfq: str | None = Field(default=None, description="The RFQ or project the offer answers.")
    note: str | None = Field(
        default=None, max_length=2000, description="A sentence to add to the message."
    )


class CounterOfferDraft(BaseModel):
    """A drafted counter-offer waiting for a person's approval."""

    id: int
    supplier: str
    item_code: str
    item_name: str
    price: Money
    quantity: Decimal | None
    rfq: str | None
    message: str
    status: str
    requires_approval: bool = True
    evidence: list[Evidence]


def draft_counter_offer(ctx: ToolContext, args: DraftCounterOfferInput) -> CounterOfferDraft:
    """Draft a counter-offer to a supplier for an item; a person must approve before it is sent.

    Use it when the buyer asks to write, draft or send a counter-offer. Without a price the
    opening offer from negotiation_advice is used. The draft is shown to the buyer, who
    approves or rejects it; it is never sent without that approval.
    """
    supplier = resolve_supplier(ctx, args.supplier)
    item = resolve_item(ctx, args.item)
    catalog = UnitCatalog.load(ctx.session)
    unit = catalog.get(args.unit or item.unit or "ea").code
    evidence: list[Evidence] = []
    basis: dict[str, object] = {}
    price = args.unit_price
    currency = args.currency.upper()
    if price is None:
        from tools.negotiation_advice import NegotiationAdviceInput, negotiation_advice

        advice = negotiation_advice(
            ctx,
            NegotiationAdviceInput(
                item=item.code,
                quantity=args.quantity,
                supplier=supplier.name,
                unit=unit,
                currency=currency,
            ),
        )
        price = advice.opening_offer.amount
        currency, unit = advice.opening_offer.currency, advice.opening_offer.unit
        evidence.extend(advice.evidence)
        basis = {
            "source": "negotiation_advice",
            "target": str(advice.target_price.amount),
            "walk_away": str(advice.walk_away_price.amount),
        }
    else:
        basis = {"source": "buyer"}
    quantity_text = f" for {args.quantity:,} {unit}" if args.quantity else ""
    reference = f" on {args.rfq}" if args.rfq else ""
    message = (
        f"Dear {supplier.name},\n\n"
        f"Thank you for your quotation{reference} for {item.name} ({item.code}). "
        f"Having reviewed current market prices and competing offers, we propose "
        f"{currency} {format_unit_price(price)} per {unit}{quantity_text}.\n"
        + (f"\n{args.note.strip()}\n" if args.note else "")
        + "\nWe look forward to your reply.\n"
    )
    offer = CounterOffer(
        org_id=ctx.org_id,
        thread_id=ctx.thread_id,
        supplier_id=supplier.id,
        item_id=item.id,
        rfq_code=args.rfq,
        quantity=args.quantity,
        unit_price=price,
        currency=currency,
        unit=unit,
        message=message,
        basis=basis,
        created_by=ctx.actor,
    )
    ctx.session.add(offer)
    ctx.session.flush()
    audit.record(
        session=ctx.session,
        org_id=ctx.org_id,
        actor=ctx.actor,
        action="counter_offer.drafted",
        entity="counter_offers",
        entity_ids=[offer.id],
        details={"price": str(price), "currency": currency, "unit": unit},
    )
    return CounterOfferDraft(
        id=offer.id,
        supplier=supplier.name,
        item_code=item.code,
        item_name=item.name,
        price=Money(amount=price, currency=currency, unit=unit),
        quantity=args.quantity,
        rfq=args.rfq,
        message=message,
        status=offer.status or "pending_approval",
        evidence=evidence,
    )


def decide_counter_offer(
    ctx: ToolContext, offer_id: int, decision: ApprovalDecision
) -> CounterOfferDraft:
    """Record a person's approval or rejection of a drafted counter-offer, with an audit entry."""
    offer = ctx.session.scalar(
        select(CounterOffer)
        .where(CounterOffer.org_id == ctx.org_id, CounterOffer.id == offer_id)
        .with_for_update()
    )
    if offer is None:
        raise NotFoundError(f"no counter-offer {offer_id}")
    record_decision(
        ctx, offer, decision, table="counter_offers", label="counter_offer", what="counter-offer"
    )
    supplier = ctx.session.get(Supplier, (ctx.org_id, offer.supplier_id))
    item = ctx.session.get(Item, (ctx.org_id, offer.item_id))
    assert supplier is not None
    assert item is not None
    return CounterOfferDraft(
        id=offer.id,
        supplier=supplier.name,
        item_code=item.code,
        item_name=item.name,
        price=Money(amount=offer.unit_price, currency=offer.currency, unit=offer.unit),
        quantity=offer.quantity,
        rfq=offer.rfq_code,
        message=offer.message,
        status=offer.status,
        requires_approval=False,
        evidence=[],
    )
