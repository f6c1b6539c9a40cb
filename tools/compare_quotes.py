"""compare_quotes: level quotes for one need, all costs counted, and say which to award.

Quote leveling puts every offer on the same footing before ranking it: one unit and one
currency, the price break that applies, the minimum order quantity the buyer must pay
for, the freight the Incoterm leaves to the buyer, and the value of the payment terms.

Rules (also stated to the model in the docstring of ``compare_quotes``):

* Conversions are exact Decimal: units through the unit catalogue, currencies at the
  organisation's rate on the pricing date (the as-of date; for an RFQ from the store, the
  date its bids were made, if earlier).
* Price breaks: the break with the largest minimum quantity not above the quantity
  ordered applies; below the first break the quoted unit price applies.
* MOQ: when the minimum order quantity exceeds the need, the buyer orders (and pays for)
  the MOQ; the excess and its cost are reported, and the per-unit landed cost divides the
  whole bill by the quantity actually needed.
* Freight by Incoterm (2020): C- and D-terms include the main carriage (the buyer's
  remaining costs are named); E- and F-terms leave it to the buyer, so a freight figure is
  needed: without one the landed cost is a lower bound, the quote ranks after every
  complete one and is never recommended, and the freight at which it would win is given.
  Freight given with a C- or D-term is added on top (an extra the buyer pays). Freight is
  counted at face value, paid on delivery.
* Payment terms: each payment of the supplier's invoice is valued at the buyer's standard
  payment date (default net 30) at an annual discount rate (default 8%, a typical cost of
  short-term funds): value = amount x (1 + rate) ^ ((standard_days - payment_day) / 365).
  Paying later than standard lowers the landed cost, paying earlier (advance payments are
  made ``lead_time_days`` before delivery) raises it. With an early-payment discount
  ("2/10 net 30") the buyer takes whichever option is worth less; quotes without terms
  are taken at the standard terms (no adjustment).
* Rank by landed total for the quantity needed; incomplete landed costs rank last.
* Flags: the model band (P10/P50/P90 from ``predict_price`` for the item, quantity and
  date, supplier-neutral), the other quotes (robust distance from the median of the other
  suppliers' prices), the should-cost build-up (``should_cost``, when the category has a
  template), and for RFQs from the store the unbalanced-bid and item-history checks of
  ``detect_anomalies``. Thresholds are those of ``ml.anomaly`` (measured on real bids).
* Recommendation: the cheapest complete landed cost that carries no disqualifying flag
  (suspiciously low, unbalanced, far outside the band); each cheaper quote passed over is
  named with its reason.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator
from sqlalchemy import func, select

from core.errors import (
    CurrencyConversionError,
    InvalidInputError,
    NotFoundError,
    UnitConversionError,
)
from core.money import Price
from ml.anomaly import (
    MIN_PEERS,
    MODEL_HALF_WIDTH_FLOOR,
    MODEL_THRESHOLDS,
    PEER_SCALE_FLOOR,
    PEER_THRESHOLDS,
    ROBUST_SIGMA,
    SEVERITY_RANK,
)
from store import fx
from store.models import Currency, Item, Quote, QuoteLine, Rfq, RfqLine, Supplier
from store.units import UnitCatalog
from tools.base import Evidence, Money, ToolContext
from tools.detect_anomalies import DetectAnomaliesInput, detect_anomalies
from tools.items import resolve_item
from tools.predict_price import PredictPriceInput, predict_price
from tools.should_cost import ShouldCostInput, should_cost

DEFAULT_DISCOUNT_RATE = Decimal("0.08")
"""Annual rate for valuing payment timing: a typical corporate cost of short-term funds."""
STANDARD_PAYMENT_DAYS = 30
"""The buyer's standard terms (net 30): payments are valued as of this day after delivery."""
DAYS_PER_YEAR = Decimal(365)
UNIT_PRICE_PLACES = 4
"""Per-unit prices are quantized to 4 decimals (a cent is too coarse for USD/lb)."""
SHOULD_COST_LOW = Decimal("0.65")
"""A price under 65% of the should-cost is below what the work costs (warning): the
calibrated templates' held-out error is ~20-30%, so this is well outside their noise."""
SHOULD_COST_HIGH = Decimal("1.5")
"""A price over 150% of the should-cost is flagged (info): room to negotiate."""
SHOULD_COST_MARKET_SPREAD = Decimal("1.5")
"""A should-cost more than 1.5x away from the market (either way) is not used for flags."""
BAND_WORDS = {
    "below_p10": "below the model band's P10",
    "p10_p50": "between the model band's P10 and P50",
    "p50_p90": "between the model band's P50 and P90",
    "above_p90": "above the model band's P90",
}
EOM_EXTRA_DAYS = 15
"""'net 30 EOM' counts from the end of the month: half a month later on average."""
LIST_LIMIT = 20


# --------------------------------------------------------------------------- Incoterms


@dataclass(frozen=True)
class IncotermRule:
    """What an Incoterm (2020) puts in the price and what it leaves to the buyer."""

    group: Literal["E", "F", "C", "D"]
    main_carriage_included: bool
    buyer_bears: str


INCOTERMS: dict[str, IncotermRule] = {
    "EXW": IncotermRule(
        "E",
        False,
        "loading, export clearance, main carriage, insurance, import clearance and duties, "
        "delivery to site",
    ),
    "FCA": IncotermRule(
        "F", False, "main carriage, insurance, import clearance and duties, delivery to site"
    ),
    "FAS": IncotermRule(
        "F",
        False,
        "loading on board, main carriage, insurance, import clearance and duties, "
        "on-carriage to site",
    ),
    "FOB": IncotermRule(
        "F",
        False,
        "main carriage, insurance, destination port charges, import clearance and duties, "
        "on-carriage to site",
    ),
    "CFR": IncotermRule(
        "C",
        True,
        "insurance (risk passes at loading), destination port charges, import clearance "
        "and duties, on-carriage to site",
    ),
    "CIF": IncotermRule(
        "C",
        True,
        "destination port charges, import clearance and duties, on-carriage to site "
        "(insurance included at minimum cover)",
    ),
    "CPT": IncotermRule(
        "C",
        True,
        "insurance (risk passes at the first carrier), import clearance and duties, unloading",
    ),
    "CIP": IncotermRule("C", True, "import clearance and duties, unloading"),
    "DAP": IncotermRule("D", True, "unloading, import clearance and duties"),
    "DAT": IncotermRule("D", True, "import clearance and duties (DAT is Incoterms 2010)"),
    "DPU": IncotermRule("D", True, "import clearance and duties"),
    "DDP": IncotermRule("D", True, "unloading only (duties and clearance are the seller's)"),
}


def parse_incoterm(text: str | None) -> str | None:
    """Return the Incoterm code of ``text`` ('FOB Shanghai' -> 'FOB'), or raise."""
    if text is None or not text.strip():
        return None
    code = text.strip().split()[0].upper().rstrip(",.")
    if code not in INCOTERMS:
        raise InvalidInputError(
            f"unknown Incoterm {text!r}: use one of {', '.join(sorted(INCOTERMS))}"
        )
    return code


# --------------------------------------------------------------------------- payment terms


@dataclass(frozen=True)
class Installment:
    """One payment: a share of the invoice, due some days after delivery or at order."""

    share: Decimal
    days: int
    at_order: bool = False


@dataclass(frozen=True)
class PaymentTerms:
    """Parsed payment terms: the options the buyer may choose between (cheapest wins)."""

    text: str
    options: tuple[tuple[Installment, ...], ...]
    labels: tuple[str, ...]


_SPACES = re.compile(r"\s+")
_NUM = r"\d+(?:\.\d+)?"
_DISCOUNT_FORMS = (
    # 2/10 net 30, 2/10, n/30, 1.5/15 n45
    re.compile(
        rf"^(?P<pct>{_NUM})\s*%?\s*/\s*(?P<dd>\d+)(?:\s*days?)?\s*,?\s*"
        rf"(?:net|n)\s*/?\s*(?P<net>\d+)(?:\s*days?)?$"
    ),
    # 2% 10 days, net 30
    re.compile(
        rf"^(?P<pct>{_NUM})\s*%\s*(?P<dd>\d+)\s*days?\s*,?\s*(?:net|n)\s*/?\s*(?P<net>\d+)"
        rf"(?:\s*days?)?$"
    ),
)
_PART = re.compile(rf"^(?:(?P<share>{_NUM})\s*%\s*)?(?P<when>.+)$")
_NET = re.compile(
    r"^(?:net|n)\s*/?\s*(?P<d>\d+)(?:\s*days?)?(?P<eom>\s*(?:eom|end of month))?"
    r"(?:\s*(?:from|after)\s*(?:invoice|delivery|receipt))?$"
)
_DAYS = re.compile(
    r"^(?P<d>\d+)\s*days?(?:\s*net)?(?P<eom>\s*(?:eom|end of month))?"
    r"(?:\s*(?:from|after)\s*(?:invoice|delivery|receipt))?$"
)
_ON_DELIVERY = re.compile(
    r"^(?:(?:due|payable|payment|paid)\s+)?(?:on|upon|at)\s+(?:receipt|delivery|invoice)"
    r"(?:\s+of\s+(?:invoice|goods))?$|^c\.?o\.?d\.?$|^cash on delivery$|^cash$"
    r"|^(?:due\s+)?immediate(?:ly)?$|^receipt$"
)
_AT_ORDER = re.compile(
    r"^(?:(?:payment|paid|payable)\s+)?(?:in\s+)?advance(?:\s+payment)?$|^prepa(?:id|yment)$"
    r"|^pre-payment$|^cash in advance$|^cia$|^cwo$|^cash with order$"
    r"|^(?:payment\s+)?(?:with|on|at|upon)\s+(?:order|po|order confirmation)$"
    r"|^(?:deposit|down\s*payment|up-?front)$"
)
_SPLIT = re.compile(r"\s*(?:[,;+&]|\band\b)\s*")
TERMS_HELP = (
    "use forms like 'net 30', 'Net 60', '2/10 net 30', 'due on receipt', "
    "'50% advance, 50% net 30' or '30% with order, 70% on delivery'"
)


def _normalise_terms(text: str) -> str:
    return _SPACES.sub(" ", text.strip().lower().replace("–", "-")).rstrip(".")


def _when(text: str, original: str) -> tuple[int, bool, str]:
    """The payment day (after delivery) of one part, whether it is at order, and a label."""
    if _ON_DELIVERY.match(text):
        return 0, False, "on delivery"
    if _AT_ORDER.match(text):
        return 0, True, "at order"
    found = _NET.match(text) or _DAYS.match(text)
    if found:
        days = int(found.group("d"))
        if days > 365:
            raise InvalidInputError(f"payment terms {original!r}: {days} days is over a year")
        if found.group("eom"):
            return days + EOM_EXTRA_DAYS, False, f"net {days} EOM (~day {days + EOM_EXTRA_DAYS})"
        return days, False, f"net {days}"
    raise InvalidInputError(f"cannot read payment terms {original!r}: {TERMS_HELP}")


def parse_payment_terms(text: str) -> PaymentTerms:
    """Parse payment terms, or raise InvalidInputError with the forms understood."""
    norm = _normalise_terms(text)
    if not norm:
        raise InvalidInputError(f"empty payment terms: {TERMS_HELP}")
    for form in _DISCOUNT_FORMS:
        found = form.match(norm)
        if found:
            pct, disc_days, net = Decimal(found["pct"]), int(found["dd"]), int(found["net"])
            if not (Decimal(0) < pct < Decimal(100)) or disc_days > net or net > 365:
                raise InvalidInputError(f"payment terms {text!r} are not consistent")
            return PaymentTerms(
                text=text,
                options=(
                    (Installment(1 - pct / 100, disc_days),),
                    (Installment(Decimal(1), net),),
                ),
                labels=(f"{_plain(pct):f}% discount paid at day {disc_days}", f"net {net}"),
            )
    parts = [p for p in _SPLIT.split(norm) if p]
    installments: list[Installment] = []
    labels: list[str] = []
    for part in parts:
        found = _PART.match(part)
        if found is None:  # pragma: no cover - the pattern matches any non-empty text
            raise InvalidInputError(f"cannot read payment terms {text!r}: {TERMS_HELP}")
        share_text = found["share"]
        if share_text is None and len(parts) > 1:
            raise InvalidInputError(
                f"payment terms {text!r}: give each part a percentage ({TERMS_HELP})"
            )
        share = Decimal(share_text) / 100 if share_text else Decimal(1)
        days, at_order, label = _when(found["when"].strip(), text)
        installments.append(Installment(share, days, at_order))
        labels.append(f"{_plain(share * 100):f}% {label}" if len(parts) > 1 else label)
    total = sum((i.share for i in installments), Decimal(0))
    if abs(total - 1) > Decimal("0.0001"):
        raise InvalidInputError(f"payment terms {text!r}: the parts add up to {total * 100:g}%")
    return PaymentTerms(text=text, options=(tuple(installments),), labels=(", ".join(labels),))


def _growth(rate: Decimal, days: int) -> Decimal:
    """(1 + rate) ^ (days / 365): the value, ``days`` later, of one unit of money now."""
    return (1 + rate) ** (Decimal(days) / DAYS_PER_YEAR)


def payment_value(
    terms: PaymentTerms,
    amount: Decimal,
    *,
    rate: Decimal,
    standard_days: int,
    lead_time_days: int | None,
    currency: str = "",
) -> tuple[Decimal, str]:
    """Value of paying ``amount`` under ``terms``, as of the buyer's standard payment day.

    Returns the value of the cheapest option and a sentence saying which was taken.
    """
    values: list[Decimal] = []
    for option in terms.options:
        value = Decimal(0)
        for part in option:
            day = -(lead_time_days or 0) if part.at_order else part.days
            value += amount * part.share * _growth(rate, standard_days - day)
        values.append(value)
    best = min(range(len(values)), key=lambda i: values[i])
    if len(values) == 1:
        return values[0], terms.labels[0]
    other = 1 - best
    return values[best], (
        f"{terms.labels[best]} (worth {_fmt(values[other] - values[best])} {currency} less than "
        f"{terms.labels[other]} at {rate:.1%} a year)"
    )


# --------------------------------------------------------------------------- input


class PriceBreakIn(BaseModel):
    """A volume price: ``unit_price`` applies from ``min_quantity`` (quote's unit/currency)."""

    min_quantity: Decimal = Field(gt=0)
    unit_price: Decimal = Field(ge=0)


class Freight(BaseModel):
    """Freight the buyer pays on top of the price: per shipment or per unit shipped."""

    amount: Decimal = Field(ge=0, description="Per shipment, or per ``unit`` shipped.")
    currency: str = Field(default="USD")
    basis: Literal["per_shipment", "per_unit"] = Field(default="per_shipment")
    unit: str | None = Field(
        default=None, description="With per_unit: the unit it is per; default the quote's unit."
    )
    shipments: int = Field(default=1, ge=1, description="With per_shipment: how many.")


class QuoteOffer(BaseModel):
    """One supplier's offer for the item."""

    supplier: str = Field(min_length=1)
    item: str | None = Field(default=None, description="Item; optional if the input names one.")
    unit_price: Decimal = Field(ge=0, description="Price per ``unit`` (below any price break).")
    currency: str = Field(default="USD")
    unit: str = Field(description="Unit of the price, the MOQ and the price breaks.")
    incoterm: str | None = Field(
        default=None, description="EXW, FCA, FAS, FOB, CFR, CIF, CPT, CIP, DAP, DPU or DDP."
    )
    freight: Freight | None = None
    payment_terms: str | None = Field(
        default=None, description="E.g. 'net 30', '2/10 net 30', '50% advance, 50% net 30'."
    )
    moq: Decimal | None = Field(default=None, gt=0, description="Minimum order, in ``unit``.")
    price_breaks: list[PriceBreakIn] = Field(default_factory=list)
    lead_time_days: int | None = Field(default=None, ge=0)
    valid_until: dt.date | None = None
    quote_line_id: int | None = Field(default=None, description="The quote line in the store.")


class CompareQuotesInput(BaseModel):
    """Which quotes to level: an RFQ in the store, or quotes given here."""

    rfq: str | None = Field(default=None, description="RFQ code: its bids are read from the store.")
    line: str | None = Field(
        default=None, description="With rfq: the RFQ line code, or the item, to level."
    )
    quotes: list[QuoteOffer] | None = Field(default=None, description="Ad-hoc quotes to level.")
    item: str | None = Field(default=None, description="With quotes: the item they are for.")
    quantity: Decimal | None = Field(
        default=None, gt=0, description="Quantity needed; default the RFQ line's."
    )
    quantity_unit: str | None = Field(
        default=None, description="Unit of ``quantity``; default the RFQ line's, or ``unit``."
    )
    currency: str = Field(default="USD", description="Currency of the answer.")
    unit: str | None = Field(default=None, description="Unit of the answer; default the item's.")
    discount_rate: Decimal = Field(
        default=DEFAULT_DISCOUNT_RATE, ge=0, le=1, description="Annual rate valuing pay dates."
    )
    standard_payment_days: int = Field(
        default=STANDARD_PAYMENT_DAYS, ge=0, le=365, description="Your standard terms (net N)."
    )
    as_of: dt.date | None = Field(default=None, description="Pricing date; default today.")
    max_lines: int = Field(
        default=3, ge=1, le=50, description="RFQ without line: lines leveled in detail."
    )

    @model_validator(mode="after")
    def _one_source(self) -> CompareQuotesInput:
        if (self.rfq is None) == (self.quotes is None):
            raise ValueError("give either rfq (quotes from the store) or quotes, not both")
        if self.quotes is not None and not self.quotes:
            raise ValueError("quotes is empty")
        if self.line is not None and self.rfq is None:
            raise ValueError("line goes with rfq")
        return self


# --------------------------------------------------------------------------- output


class QuoteFlag(BaseModel):
    """A reason to look twice at a quote."""

    kind: str
    severity: str = Field(description="info, warning or critical")
    side: str = Field(description="high, low or none")
    reason: str


class LeveledQuote(BaseModel):
    """One quote on a common footing: per unit, landed, and judged."""

    rank: int = Field(description="1 = lowest landed total; incomplete landed costs rank last.")
    supplier: str
    quote_line_id: int | None
    quoted_price: Money = Field(description="The price as quoted (own currency and unit).")
    unit_price: Money = Field(description="The applicable price in the answer currency/unit.")
    price_break: str | None
    order_quantity: Decimal = Field(description="Quantity bought (the MOQ if larger).")
    excess_quantity: Decimal
    excess_cost: Decimal
    incoterm: str | None
    delivery: str = Field(description="What the price includes and what the buyer still bears.")
    freight: Decimal | None = Field(description="Freight added; None when it is not quoted.")
    landed_cost_complete: bool
    payment_terms: str
    payment_reading: str
    payment_adjustment: Decimal = Field(description="Value of the terms; negative = benefit.")
    goods_total: Decimal
    landed_total: Decimal = Field(description="Goods + freight + terms value, for the need.")
    landed_per_unit: Money = Field(description="landed_total / quantity needed.")
    lead_time_days: int | None
    valid_until: dt.date | None
    band_position: str | None = Field(description="below_p10, p10_p50, p50_p90 or above_p90.")
    vs_p50_pct: float | None
    peer_median: Money | None = Field(description="Median price of the other suppliers' quotes.")
    vs_peers_pct: float | None
    vs_should_cost_pct: float | None
    flags: list[QuoteFlag]
    notes: list[str]


class LineComparison(BaseModel):
    """The quotes for one need, ranked, with the award recommendation."""

    rfq_line: str | None
    item_code: str | None
    item_name: str | None
    quantity: Decimal
    unit: str
    currency: str
    pricing_date: dt.date
    quotes: list[LeveledQuote]
    p10: Money | None
    p50: Money | None
    p90: Money | None
    model_version: int | None
    history_lines: int | None = Field(description="Earlier quote lines the model drew on.")
    peer_median: Money | None = Field(description="Median unit price of all quotes.")
    should_cost: Money | None
    should_cost_template: str | None
    recommended_supplier: str | None
    recommended_quote_line_id: int | None
    recommendation: str
    caveats: list[str]
    evidence: list[Evidence]


class BidTotal(BaseModel):
    """A bidder's total over the whole RFQ (every line it priced)."""

    rank: int
    supplier: str
    lines_priced: int
    lines_total: int
    complete: bool = Field(description="Priced every line that received bids.")
    landed_total: Decimal
    flagged_lines: int = Field(description="Lines with a warning-or-worse flag.")
    unbalanced: bool


class CompareQuotesOutput(BaseModel):
    """Leveled lines (each ranked, with a recommendation), and bid totals for a whole RFQ."""

    rfq: str | None
    currency: str
    discount_rate: Decimal
    standard_payment_days: int
    lines: list[LineComparison]
    bid_totals: list[BidTotal] = Field(description="RFQ leveled without a line: whole bids.")
    bid_recommendation: str | None
    lines_not_detailed: list[str] = Field(description="RFQ lines left out of ``lines``.")
    caveats: list[str]
    evidence: list[Evidence]


# --------------------------------------------------------------------------- internals


def _fmt(value: Decimal, places: int = 2) -> str:
    return f"{value:,.{places}f}"


def _plain(value: Decimal) -> Decimal:
    """A quantity without exponent or trailing zeros (2.0E+4 -> 20000, 1820.0 -> 1820)."""
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal


def _qty(value: Decimal) -> str:
    return f"{_plain(value):,f}"


def _pct(ratio: Decimal) -> float:
    return round(float((ratio - 1) * 100), 1)


@dataclass
class _Offer:
    """A quote to level, with what the store knows about it."""

    offer: QuoteOffer
    incoterm: str | None
    terms: PaymentTerms | None
    anomaly_flags: list[QuoteFlag] = field(default_factory=list)


@dataclass
class _Costed:
    """A quote's arithmetic, unrounded, in the answer currency and unit."""

    source: _Offer
    unit_price: Decimal
    price_break: str | None
    order_quantity: Decimal
    excess_quantity: Decimal
    freight: Decimal | None
    delivery: str
    complete: bool
    payment_reading: str
    goods_total: Decimal
    adjustment: Decimal
    landed_total: Decimal
    flags: list[QuoteFlag] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    band_position: str | None = None
    vs_p50_pct: float | None = None
    peer_median: Decimal | None = None
    vs_peers_pct: float | None = None
    vs_should_cost_pct: float | None = None

    @property
    def supplier(self) -> str:
        return self.source.offer.supplier


@dataclass
class _Need:
    """What is being bought, and the conventions of the answer."""

    quantity: Decimal  # in ``unit``
    unit: str
    currency: str
    on: dt.date
    rate: Decimal
    standard_days: int


class _Converter:
    """Unit and currency conversions for one answer, with the FX evidence used."""

    def __init__(self, ctx: ToolContext, catalog: UnitCatalog, currency: str, on: dt.date):
        self.ctx = ctx
        self.catalog = catalog
        self.currency = currency
        self.on = on
        self._rates: dict[str, Decimal] = {}
        self.used: list[str] = []

    def rate(self, currency: str) -> Decimal:
        code = currency.upper()
        if code not in self._rates:
            found = fx.conversion(
                self.ctx.session,
                org_id=self.ctx.org_id,
                from_currency=code,
                to_currency=self.currency,
                on=self.on,
            )
            self._rates[code] = found.rate
            if found.rate_dates:
                dates = ", ".join(f"{d:%Y-%m-%d}" for d in found.rate_dates)
                self.used.append(f"{'->'.join(found.path)} {found.rate:.6g} (rates of {dates})")
        return self._rates[code]

    def price(self, amount: Decimal, currency: str, unit: str, to_unit: str) -> Decimal:
        per_unit = self.catalog.convert_price(Price(amount, currency.upper(), unit), to_unit)
        return per_unit.amount * self.rate(currency)


def _q(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def _applicable_price(offer: QuoteOffer, quantity: Decimal) -> tuple[Decimal, str | None]:
    """The unit price at ``quantity`` (in the quote's unit) and which break gave it."""
    price, label = offer.unit_price, None
    for brk in sorted(offer.price_breaks, key=lambda b: b.min_quantity):
        if brk.min_quantity <= quantity:
            price = brk.unit_price
            label = f"from {_qty(brk.min_quantity)} {offer.unit}: {brk.unit_price} {offer.currency}"
    return price, label


def _next_break_note(
    offer: QuoteOffer, order: Decimal, total: Decimal, conv: _Converter
) -> str | None:
    """Say so when buying up to the next price break would cost less in total."""
    for brk in sorted(offer.price_breaks, key=lambda b: b.min_quantity):
        if brk.min_quantity > order:
            at_break = brk.min_quantity * brk.unit_price
            if at_break < total:
                saving = (total - at_break) * conv.rate(offer.currency)
                return (
                    f"ordering {_qty(brk.min_quantity)} {offer.unit} (the next price break) would "
                    f"cost {_fmt(saving)} {conv.currency} less in total than the quantity "
                    "needed; worth it only if the extra stock is usable"
                )
            return None
    return None


def _delivery(
    offer: QuoteOffer, incoterm: str | None, order_q: Decimal, conv: _Converter
) -> tuple[Decimal | None, str, bool, list[QuoteFlag]]:
    """Freight added (answer currency), what delivery covers, completeness, flags."""
    freight: Decimal | None = None
    if offer.freight is not None:
        f = offer.freight
        if f.basis == "per_unit":
            shipped = conv.catalog.convert_quantity(order_q, offer.unit, f.unit or offer.unit)
            freight = f.amount * shipped * conv.rate(f.currency)
        else:
            freight = f.amount * f.shipments * conv.rate(f.currency)
    if incoterm is None:
        text = "no Incoterm stated: taken as delivered to your site, as quoted"
        if freight is not None:
            text += "; the freight given is added"
        return freight if freight is not None else Decimal(0), text, True, []
    rule = INCOTERMS[incoterm]
    if rule.main_carriage_included:
        text = f"{incoterm} includes the main carriage; you still bear {rule.buyer_bears}"
        if freight is not None:
            text += "; the extra freight given is added (make sure it is not counted twice)"
        return freight if freight is not None else Decimal(0), text, True, []
    text = f"{incoterm}: you bear {rule.buyer_bears}"
    if freight is not None:
        return freight, text + "; the freight given is added", True, []
    flag = QuoteFlag(
        kind="freight_not_quoted",
        severity="warning",
        side="none",
        reason=(
            f"{incoterm} leaves the main carriage to you and no freight figure was given: the "
            "landed cost is a lower bound; get a freight quote (or ask for a DAP/DDP price)"
        ),
    )
    return None, text + "; freight NOT quoted", False, [flag]


def _cost(item: _Offer, need: _Need, conv: _Converter) -> _Costed:
    """Level one quote: units, currency, break, MOQ, freight, payment terms."""
    offer = item.offer
    need_q = conv.catalog.convert_quantity(need.quantity, need.unit, offer.unit)
    order_q = max(need_q, offer.moq) if offer.moq is not None else need_q
    price_q, brk = _applicable_price(offer, order_q)
    unit_price = conv.price(price_q, offer.currency, offer.unit, need.unit)
    goods_total = order_q * price_q * conv.rate(offer.currency)
    order = conv.catalog.convert_quantity(order_q, offer.unit, need.unit)
    excess = order - need.quantity
    freight, delivery, complete, flags = _delivery(offer, item.incoterm, order_q, conv)
    notes: list[str] = []
    if excess > 0:
        notes.append(
            f"MOQ {_qty(offer.moq or need_q)} {offer.unit} is more than the {_qty(need_q)} needed: "
            f"you pay for {_qty(excess)} {need.unit} extra ({_fmt(excess * unit_price)} "
            f"{need.currency})"
        )
    hint = _next_break_note(offer, order_q, order_q * price_q, conv)
    if hint:
        notes.append(hint)
    if item.terms is None:
        value, reading = goods_total, f"not stated: taken as your standard net {need.standard_days}"
    else:
        value, reading = payment_value(
            item.terms,
            goods_total,
            rate=need.rate,
            standard_days=need.standard_days,
            lead_time_days=offer.lead_time_days,
            currency=need.currency,
        )
        if offer.lead_time_days is None and any(
            p.at_order for option in item.terms.options for p in option
        ):
            notes.append(
                "lead time unknown: the advance payment is counted as paid on delivery, "
                "which understates its cost"
            )
    if offer.valid_until is not None and offer.valid_until < need.on:
        flags.append(
            QuoteFlag(
                kind="expired",
                severity="warning",
                side="none",
                reason=f"valid until {offer.valid_until} only: ask the supplier to confirm it",
            )
        )
    return _Costed(
        source=item,
        unit_price=unit_price,
        price_break=brk,
        order_quantity=order,
        excess_quantity=excess,
        freight=freight,
        delivery=delivery,
        complete=complete,
        payment_reading=reading,
        goods_total=goods_total,
        adjustment=value - goods_total,
        landed_total=value + (freight or Decimal(0)),
        flags=flags + list(item.anomaly_flags),
        notes=notes,
    )


# --------------------------------------------------------------------------- judging


@dataclass
class _References:
    """The fair-price references one line is judged against (answer currency and unit)."""

    p10: Decimal | None = None
    p50: Decimal | None = None
    p90: Decimal | None = None
    model_version: int | None = None
    history_lines: int | None = None
    should_cost: Decimal | None = None
    template: str | None = None
    evidence: list[Evidence] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)


def _band_flag(c: _Costed, ref: _References, need: _Need) -> None:
    if ref.p10 is None or ref.p50 is None or ref.p90 is None or c.unit_price <= 0:
        return
    p10, p50, p90, price = (float(v) for v in (ref.p10, ref.p50, ref.p90, c.unit_price))
    if min(p10, p50, p90) <= 0:
        return
    c.band_position = (
        "below_p10"
        if price < p10
        else "p10_p50"
        if price < p50
        else "p50_p90"
        if price <= p90
        else "above_p90"
    )
    c.vs_p50_pct = _pct(c.unit_price / ref.p50)
    # The band score of ml.anomaly: distance from P50 in band half-widths (floats: a statistic).
    l10, l50, l90, own = (math.log(v) for v in (p10, p50, p90, price))
    least = max((l90 - l10) / 4, MODEL_HALF_WIDTH_FLOOR)
    score = (own - l50) / (max(l90 - l50, least) if own >= l50 else max(l50 - l10, least))
    severity = MODEL_THRESHOLDS.severity(score)
    if severity is None:
        return
    money = f"{need.currency} {_fmt(c.unit_price, UNIT_PRICE_PLACES)}/{need.unit}"
    if score > 0:
        reason = (
            f"{money} is above the model's 80% band (P90 {_fmt(ref.p90, 4)}; "
            f"{score:.1f} half-widths over the P50 {_fmt(ref.p50, 4)})"
        )
        c.flags.append(
            QuoteFlag(kind="above_model_band", severity=severity, side="high", reason=reason)
        )
    else:
        reason = (
            f"{money} is below the model's 80% band (P10 {_fmt(ref.p10, 4)}; "
            f"{-score:.1f} half-widths under the P50 {_fmt(ref.p50, 4)})"
        )
        c.flags.append(
            QuoteFlag(kind="below_model_band", severity=severity, side="low", reason=reason)
        )


def _peer_flags(costed: list[_Costed], need: _Need) -> None:
    """Distance of each quote from the median of the other suppliers' prices."""
    for c in costed:
        others = [o.unit_price for o in costed if o.supplier != c.supplier and o.unit_price > 0]
        if not others or c.unit_price <= 0:
            continue
        median = statistics.median(others)
        c.peer_median = median
        c.vs_peers_pct = _pct(c.unit_price / median)
        if len(others) < MIN_PEERS:
            continue
        logs = [math.log(float(v)) for v in others]
        centre = statistics.median(logs)
        mad = statistics.median(abs(v - centre) for v in logs)
        score = (math.log(float(c.unit_price)) - centre) / max(ROBUST_SIGMA * mad, PEER_SCALE_FLOOR)
        severity = PEER_THRESHOLDS.severity(score)
        if severity is None:
            continue
        side = "high" if score > 0 else "low"
        word = "above" if score > 0 else "below"
        c.flags.append(
            QuoteFlag(
                kind="far_from_peers",
                severity=severity,
                side=side,
                reason=(
                    f"{need.currency} {_fmt(c.unit_price, 4)}/{need.unit} is "
                    f"{abs(c.vs_peers_pct):.0f}% {word} the median of the other {len(others)} "
                    f"quotes ({need.currency} {_fmt(median, 4)})"
                ),
            )
        )


def _should_cost_usable(ref: _References, prices: list[Decimal], need: _Need) -> bool:
    """Whether the should-cost agrees with the market enough to flag quotes against it.

    A template that misses the market for this item (its cost is under 2/3 or over 1.5x the
    model's P50, or the quotes' median without a band) would flag every quote; its figure
    is still reported, but no quote is judged by it.
    """
    if ref.should_cost is None or ref.should_cost <= 0:
        return False
    market = ref.p50 if ref.p50 is not None else (statistics.median(prices) if prices else None)
    if market is None or market <= 0:
        return True
    ratio = ref.should_cost / market
    if 1 / SHOULD_COST_MARKET_SPREAD <= ratio <= SHOULD_COST_MARKET_SPREAD:
        return True
    what = "the model's P50" if ref.p50 is not None else "the quotes' median"
    ref.caveats.append(
        f"the should-cost ({need.currency} {_fmt(ref.should_cost, 4)}/{need.unit}, template "
        f"{ref.template}) is {_pct(ratio):+.0f}% off {what} ({_fmt(market, 4)}): the template "
        "does not fit this item well, so no quote is flagged against it"
    )
    return False


def _should_cost_flag(c: _Costed, ref: _References, need: _Need, *, usable: bool) -> None:
    if ref.should_cost is None or ref.should_cost <= 0:
        return
    ratio = c.unit_price / ref.should_cost
    c.vs_should_cost_pct = _pct(ratio)
    if not usable:
        return
    base = f"should-cost {need.currency} {_fmt(ref.should_cost, 4)}/{need.unit}"
    if ratio < SHOULD_COST_LOW:
        c.flags.append(
            QuoteFlag(
                kind="below_should_cost",
                severity="warning",
                side="low",
                reason=(
                    f"{(1 - ratio):.0%} below the {base}: below what the work costs; check scope, "
                    "specification and arithmetic before awarding"
                ),
            )
        )
    elif ratio > SHOULD_COST_HIGH:
        c.flags.append(
            QuoteFlag(
                kind="above_should_cost",
                severity="info",
                side="high",
                reason=f"{(ratio - 1):.0%} above the {base}: room to negotiate",
            )
        )


def disqualifying_flag(flags: Sequence[QuoteFlag]) -> QuoteFlag | None:
    """The flag that keeps a quote from being recommended, if any.

    Suspiciously low (a low-side warning or worse: band, other quotes, should-cost), an
    unbalanced bid (warning or worse), or far outside the band or the other quotes on the
    high side (critical).
    """
    for f in sorted(flags, key=lambda f: -SEVERITY_RANK.get(f.severity, 0)):
        rank = SEVERITY_RANK.get(f.severity, 0)
        if f.kind == "unbalanced_bid" and rank >= SEVERITY_RANK["warning"]:
            return f
        if f.side == "low" and rank >= SEVERITY_RANK["warning"]:
            return f
        if f.side == "high" and rank >= SEVERITY_RANK["critical"]:
            return f
    return None


def _rank(costed: list[_Costed]) -> list[_Costed]:
    return sorted(costed, key=lambda c: (not c.complete, c.landed_total, c.supplier))


def _recommend(ranked: list[_Costed], need: _Need) -> tuple[_Costed | None, str, list[str]]:
    """The quote to award, why, and the caveats of passing over cheaper ones."""
    caveats: list[str] = []
    passed: list[str] = []
    chosen: _Costed | None = None
    for c in ranked:
        if not c.complete:
            continue
        flag = disqualifying_flag(c.flags)
        if flag is None:
            chosen = c
            break
        passed.append(f"{c.supplier} ({_fmt(c.landed_total)} {need.currency}): {flag.reason}")
    if chosen is None:
        why = "no quote can be recommended as it stands"
        if passed:
            why += "; every complete quote is flagged: " + "; ".join(passed)
        else:
            why += ": none has a complete landed cost (freight missing)"
        return None, why, caveats
    complete_rest = [c for c in ranked if c.complete and c is not chosen]
    why = (
        f"Award to {chosen.supplier}: lowest clean landed cost, {_fmt(chosen.landed_total)} "
        f"{need.currency} for {_qty(need.quantity)} {need.unit} ({need.currency} "
        f"{_fmt(chosen.landed_total / need.quantity, 4)}/{need.unit})"
    )
    after = [c for c in complete_rest if c.landed_total >= chosen.landed_total]
    if after:
        gap = after[0].landed_total - chosen.landed_total
        share = gap / after[0].landed_total if after[0].landed_total else Decimal(0)
        why += f", {_fmt(gap)} {need.currency} ({share:.1%}) below the next, {after[0].supplier}"
    if chosen.band_position:
        why += f"; its price is {BAND_WORDS[chosen.band_position]}"
    why += "."
    if passed:
        why += " Passed over as cheaper but flagged: " + "; ".join(passed) + "."
    for c in ranked:
        if not c.complete and c.landed_total < chosen.landed_total:
            gap = chosen.landed_total - c.landed_total
            caveats.append(
                f"{c.supplier} is {_fmt(gap)} {need.currency} cheaper before freight "
                f"({c.source.incoterm}, freight not quoted): it wins if the freight costs less "
                f"than {_fmt(gap)} {need.currency}; get a freight quote"
            )
    if chosen.flags:
        caveats.append(
            f"{chosen.supplier} carries flags: " + "; ".join(f.reason for f in chosen.flags)
        )
    return chosen, why, caveats


# --------------------------------------------------------------------------- references


def _references(ctx: ToolContext, item: Item | None, need: _Need, conv: _Converter) -> _References:
    """Model band and should-cost for the need; each skipped with a caveat when unavailable."""
    ref = _References()
    if item is None:
        ref.caveats.append("the item is not in the catalogue: no model band or should-cost")
        return ref
    try:
        band = predict_price(
            ctx,
            PredictPriceInput(
                item=item.code,
                quantity=need.quantity,
                unit=need.unit,
                date=need.on,
                currency=need.currency,
            ),
        )
        ref.p10, ref.p50, ref.p90 = band.p10.amount, band.p50.amount, band.p90.amount
        ref.model_version, ref.history_lines = band.model_version, band.history_lines
        ref.evidence.append(
            Evidence(
                kind="model",
                detail=(
                    f"price model v{band.model_version}: band for {_qty(need.quantity)} "
                    f"{need.unit} on {need.on} from {band.history_lines:,} earlier quote lines"
                ),
                ids=[band.model_version],
            )
        )
    except (NotFoundError, InvalidInputError) as exc:
        ref.caveats.append(f"no model band: {exc.message}")
    if not item.category:
        ref.caveats.append(f"no should-cost: item {item.code} has no category")
        return ref
    try:
        cost = should_cost(
            ctx,
            ShouldCostInput(item=item.code, quantity=need.quantity, unit=need.unit, date=need.on),
        )
        total = cost.unit_total
        ref.should_cost = conv.price(total.amount, total.currency, total.unit, need.unit)
        ref.template = cost.template
        ref.evidence.extend(cost.evidence)
    except InvalidInputError as exc:
        ref.caveats.append(f"no should-cost: {exc.message}")
    return ref


# --------------------------------------------------------------------------- sources


@dataclass
class _LineSource:
    """One need to level: the offers and what they are for."""

    offers: list[_Offer]
    item: Item | None
    quantity: Decimal
    quantity_unit: str
    rfq_line: RfqLine | None = None
    caveats: list[str] = field(default_factory=list)


_ATTRIBUTE_FIELDS = ("payment_terms", "moq", "price_breaks", "freight")
"""Quote line (or quote header) attributes read as offer terms when an import carries them."""


def find_rfq(ctx: ToolContext, code: str) -> Rfq:
    """The RFQ a code names (exact, or ignoring case and spaces: 'B-40276-A')."""
    wanted = code.strip()
    rfq = ctx.session.scalar(select(Rfq).where(Rfq.org_id == ctx.org_id, Rfq.code == wanted))
    if rfq is None:
        key = re.sub(r"\s+", "", wanted).upper()
        rfq = ctx.session.scalar(
            select(Rfq).where(
                Rfq.org_id == ctx.org_id,
                func.upper(func.regexp_replace(Rfq.code, r"\s+", "", "g")) == key,
            )
        )
    if rfq is None:
        raise NotFoundError(f"no RFQ {code!r}")
    return rfq


def _describe(line: RfqLine, items: dict[int, Item]) -> str:
    item = items.get(line.item_id)
    name = line.description or (item.name if item else "")
    return f"{line.line_code} ({name})" if name else line.line_code


def _pick_line(ctx: ToolContext, lines: list[RfqLine], wanted: str, rfq: Rfq) -> RfqLine:
    key = wanted.strip().upper()
    items = _items(ctx, [line.item_id for line in lines])
    found = [ln for ln in lines if ln.line_code.upper() == key]
    if not found:
        found = [ln for ln in lines if items[ln.item_id].code.upper() == key]
    if not found:
        found = [ln for ln in lines if ln.line_code.split("|")[0].upper() == key]
    if not found:
        try:
            item = resolve_item(ctx, wanted)
            found = [ln for ln in lines if ln.item_id == item.id]
        except NotFoundError:
            found = []
    if not found:
        listed = ", ".join(_describe(ln, items) for ln in lines[:LIST_LIMIT])
        raise NotFoundError(f"RFQ {rfq.code} has no line matching {wanted!r}; its lines: {listed}")
    if len(found) > 1:
        listed = ", ".join(_describe(ln, items) for ln in found)
        raise InvalidInputError(f"{wanted!r} matches several lines of RFQ {rfq.code}: {listed}")
    return found[0]


def _items(ctx: ToolContext, ids: Sequence[int]) -> dict[int, Item]:
    rows = ctx.session.scalars(select(Item).where(Item.org_id == ctx.org_id, Item.id.in_(set(ids))))
    return {row.id: row for row in rows}


def _store_offer(
    line: QuoteLine, supplier: str, header: dict[str, Any], caveats: list[str]
) -> _Offer | None:
    """A quote line as an offer; terms an import left in attributes are read too."""
    data: dict[str, Any] = {
        "supplier": supplier,
        "unit_price": line.unit_price,
        "currency": line.currency,
        "unit": line.unit,
        "incoterm": line.incoterm,
        "lead_time_days": line.lead_time_days,
        "valid_until": line.valid_until,
        "quote_line_id": line.id,
    }
    attrs = {**header, **(line.attributes or {})}
    data.update({k: attrs[k] for k in _ATTRIBUTE_FIELDS if attrs.get(k) is not None})
    try:
        offer = QuoteOffer.model_validate(data)
        return _Offer(offer, parse_incoterm(offer.incoterm), _terms(offer))
    except (ValidationError, InvalidInputError) as exc:
        text = exc.message if isinstance(exc, InvalidInputError) else str(exc).splitlines()[0]
        caveats.append(f"quote line {line.id} of {supplier} left out: {text}")
        return None


def _terms(offer: QuoteOffer) -> PaymentTerms | None:
    return parse_payment_terms(offer.payment_terms) if offer.payment_terms else None


def _rfq_sources(
    ctx: ToolContext, args: CompareQuotesInput
) -> tuple[Rfq, list[_LineSource], dt.date]:
    rfq = find_rfq(ctx, args.rfq or "")
    lines = list(
        ctx.session.scalars(
            select(RfqLine)
            .where(RfqLine.org_id == ctx.org_id, RfqLine.rfq_id == rfq.id)
            .order_by(RfqLine.line_code)
        )
    )
    if not lines:
        raise NotFoundError(f"RFQ {rfq.code} has no lines")
    if args.line:
        lines = [_pick_line(ctx, lines, args.line, rfq)]
    rows = ctx.session.execute(
        select(QuoteLine, Supplier.name, Quote.attributes)
        .join(
            Supplier, (Supplier.org_id == QuoteLine.org_id) & (Supplier.id == QuoteLine.supplier_id)
        )
        .join(Quote, (Quote.org_id == QuoteLine.org_id) & (Quote.id == QuoteLine.quote_id))
        .where(
            QuoteLine.org_id == ctx.org_id,
            QuoteLine.rfq_line_id.in_([ln.id for ln in lines]),
        )
        .order_by(QuoteLine.id)
    ).all()
    items = _items(ctx, [ln.item_id for ln in lines])
    bid_dates = [row[0].quote_date for row in rows]
    on = min(args.as_of or ctx.as_of, max(bid_dates)) if bid_dates else args.as_of or ctx.as_of
    by_line: dict[int, list[tuple[QuoteLine, str, dict[str, Any]]]] = {}
    for quote_line, name, header in rows:
        if quote_line.rfq_line_id is not None:
            by_line.setdefault(quote_line.rfq_line_id, []).append((quote_line, name, header or {}))
    sources: list[_LineSource] = []
    for ln in lines:
        item = items[ln.item_id]
        src = _LineSource(
            offers=[],
            item=item,
            quantity=ln.quantity or Decimal(0),
            quantity_unit=ln.unit or item.unit or "ea",
            rfq_line=ln,
        )
        for quote_line, name, header in by_line.get(ln.id, []):
            offer = _store_offer(quote_line, name, header, src.caveats)
            if offer is not None:
                src.offers.append(offer)
        sources.append(src)
    return rfq, sources, on


def _adhoc_item(ctx: ToolContext, args: CompareQuotesInput) -> Item | None:
    quotes = args.quotes or []
    if args.item:
        try:
            return resolve_item(ctx, args.item)
        except NotFoundError:
            return None  # quotes for something not in the catalogue are still leveled
    texts = {q.item.strip() for q in quotes if q.item and q.item.strip()}
    if len(texts) < len(quotes) and not all(q.item for q in quotes):
        raise InvalidInputError("name the item: give `item`, or `item` on every quote")
    found: dict[int, Item] = {}
    missing: list[str] = []
    for text in sorted(texts):
        try:
            item = resolve_item(ctx, text)
            found[item.id] = item
        except NotFoundError:
            missing.append(text)
    if len(found) > 1 or (found and missing):
        names = sorted({i.code for i in found.values()} | set(missing))
        raise InvalidInputError(
            f"the quotes name different items ({', '.join(names)}): compare one item at a "
            "time, or give `item` to say they are offers for the same need"
        )
    return next(iter(found.values())) if found else None


def _adhoc_source(ctx: ToolContext, args: CompareQuotesInput) -> _LineSource:
    item = _adhoc_item(ctx, args)
    if args.quantity is None:
        raise InvalidInputError("give the quantity needed (and its unit) to level the quotes")
    offers: list[_Offer] = []
    for offer in args.quotes or []:
        try:
            terms = _terms(offer)
        except InvalidInputError as exc:
            raise InvalidInputError(f"quote of {offer.supplier}: {exc.message}") from None
        offers.append(_Offer(offer, parse_incoterm(offer.incoterm), terms))
    unit = args.quantity_unit or args.unit or (item.unit if item else None) or offers[0].offer.unit
    src = _LineSource(offers=offers, item=item, quantity=args.quantity, quantity_unit=unit)
    if item is None:
        src.caveats.append("the quotes' item is not in the catalogue: compared as given")
    return src


# --------------------------------------------------------------------------- leveling


def _money(amount: Decimal, need: _Need) -> Money:
    return Money(amount=_q(amount, UNIT_PRICE_PLACES), currency=need.currency, unit=need.unit)


def _leveled(c: _Costed, rank: int, need: _Need, places: int) -> LeveledQuote:
    offer = c.source.offer
    return LeveledQuote(
        rank=rank,
        supplier=c.supplier,
        quote_line_id=offer.quote_line_id,
        quoted_price=Money(
            amount=offer.unit_price, currency=offer.currency.upper(), unit=offer.unit
        ),
        unit_price=_money(c.unit_price, need),
        price_break=c.price_break,
        order_quantity=_plain(c.order_quantity),
        excess_quantity=_plain(c.excess_quantity),
        excess_cost=_q(c.excess_quantity * c.unit_price, places),
        incoterm=c.source.incoterm,
        delivery=c.delivery,
        freight=_q(c.freight, places) if c.freight is not None else None,
        landed_cost_complete=c.complete,
        payment_terms=offer.payment_terms or f"not stated (standard net {need.standard_days})",
        payment_reading=c.payment_reading,
        payment_adjustment=_q(c.adjustment, places),
        goods_total=_q(c.goods_total, places),
        landed_total=_q(c.landed_total, places),
        landed_per_unit=_money(c.landed_total / need.quantity, need),
        lead_time_days=offer.lead_time_days,
        valid_until=offer.valid_until,
        band_position=c.band_position,
        vs_p50_pct=c.vs_p50_pct,
        peer_median=_money(c.peer_median, need) if c.peer_median is not None else None,
        vs_peers_pct=c.vs_peers_pct,
        vs_should_cost_pct=c.vs_should_cost_pct,
        flags=sorted(c.flags, key=lambda f: -SEVERITY_RANK.get(f.severity, 0)),
        notes=c.notes,
    )


def _minor_units(ctx: ToolContext, currency: str) -> int:
    found = ctx.session.scalar(select(Currency.minor_units).where(Currency.code == currency))
    if found is None:
        raise InvalidInputError(f"unknown currency {currency!r}")
    return int(found)


def _cost_all(
    src: _LineSource, need: _Need, conv: _Converter, *, strict: bool
) -> tuple[list[_Costed], list[str]]:
    """Level every offer; with ``strict`` a conversion failure is an error, else a caveat."""
    costed: list[_Costed] = []
    caveats: list[str] = []
    for offer in src.offers:
        try:
            costed.append(_cost(offer, need, conv))
        except (UnitConversionError, CurrencyConversionError) as exc:
            if strict:
                raise type(exc)(f"quote of {offer.offer.supplier}: {exc.message}") from None
            caveats.append(f"{offer.offer.supplier} left out: {exc.message}")
    return costed, caveats


def _line_need(
    args: CompareQuotesInput, src: _LineSource, catalog: UnitCatalog, on: dt.date, *, single: bool
) -> _Need:
    """The need in the answer's unit: ``args`` quantity and unit apply to a single line only."""
    item_unit = src.item.unit if src.item and src.item.unit else None
    unit = catalog.get((args.unit if single else None) or item_unit or src.quantity_unit).code
    quantity, quantity_unit = src.quantity, src.quantity_unit
    if single and args.quantity is not None:
        quantity = args.quantity
        quantity_unit = args.quantity_unit or src.quantity_unit
    if quantity <= 0:
        raise InvalidInputError("the RFQ line has no quantity: give `quantity`")
    return _Need(
        quantity=catalog.convert_quantity(quantity, quantity_unit, unit),
        unit=unit,
        currency=args.currency.upper(),
        on=on,
        rate=args.discount_rate,
        standard_days=args.standard_payment_days,
    )


def _level_line(
    ctx: ToolContext,
    src: _LineSource,
    need: _Need,
    conv: _Converter,
    *,
    detailed: bool,
    strict: bool,
) -> tuple[LineComparison, list[_Costed]]:
    costed, caveats = _cost_all(src, need, conv, strict=strict)
    caveats = src.caveats + caveats
    ref = _references(ctx, src.item, need, conv) if detailed else _References()
    usable = _should_cost_usable(ref, [c.unit_price for c in costed if c.unit_price > 0], need)
    caveats += ref.caveats
    for c in costed:
        _band_flag(c, ref, need)
        _should_cost_flag(c, ref, need, usable=usable)
    _peer_flags(costed, need)
    ranked = _rank(costed)
    chosen, why, rec_caveats = _recommend(ranked, need)
    caveats += rec_caveats
    undated = sum(1 for c in costed if c.source.incoterm is None)
    if undated:
        caveats.append(
            f"{undated} of {len(costed)} quotes state no Incoterm: taken as delivered to site"
        )
    if len(costed) == 1:
        caveats.append("only one quote: no competition to compare with")
    places = _minor_units(ctx, need.currency)
    leveled = [_leveled(c, i + 1, need, places) for i, c in enumerate(ranked)]
    prices = [c.unit_price for c in costed if c.unit_price > 0]
    ids = [c.source.offer.quote_line_id for c in ranked if c.source.offer.quote_line_id]
    evidence = [
        Evidence(
            kind="quotes",
            detail=f"{len(costed)} quotes leveled for {_qty(need.quantity)} {need.unit}",
            ids=[i for i in ids if i is not None],
        ),
        *ref.evidence,
    ]
    if conv.used:
        evidence.append(Evidence(kind="fx", detail="; ".join(sorted(set(conv.used)))))
    return (
        LineComparison(
            rfq_line=src.rfq_line.line_code if src.rfq_line else None,
            item_code=src.item.code if src.item else None,
            item_name=src.item.name if src.item else None,
            quantity=_plain(need.quantity),
            unit=need.unit,
            currency=need.currency,
            pricing_date=need.on,
            quotes=leveled,
            p10=_money(ref.p10, need) if ref.p10 is not None else None,
            p50=_money(ref.p50, need) if ref.p50 is not None else None,
            p90=_money(ref.p90, need) if ref.p90 is not None else None,
            model_version=ref.model_version,
            history_lines=ref.history_lines,
            peer_median=_money(statistics.median(prices), need) if prices else None,
            should_cost=_money(ref.should_cost, need) if ref.should_cost is not None else None,
            should_cost_template=ref.template,
            recommended_supplier=chosen.supplier if chosen else None,
            recommended_quote_line_id=chosen.source.offer.quote_line_id if chosen else None,
            recommendation=why,
            caveats=caveats,
            evidence=evidence,
        ),
        ranked,
    )


# --------------------------------------------------------------------------- RFQ-wide


_ANOMALY_KINDS = ("unbalanced_bid", "far_from_history")
"""What detect_anomalies adds that leveling cannot see from one line: the bidder's pattern
across the RFQ, and the item's own past prices (band and peers are judged here)."""


def _attach_anomalies(ctx: ToolContext, rfq: Rfq, sources: list[_LineSource]) -> Evidence | None:
    """Carry detect_anomalies' unbalanced-bid and history flags onto the store quotes."""
    try:
        checked = detect_anomalies(ctx, DetectAnomaliesInput(rfq=rfq.code))
    except NotFoundError:
        return None
    flags: dict[int, list[QuoteFlag]] = {}
    for line in checked.lines:
        flags[line.quote_line_id] = [
            QuoteFlag(kind=f.kind, severity=f.severity, side=f.side, reason=f.reason)
            for f in line.flags
            if f.kind in _ANOMALY_KINDS
        ]
    for src in sources:
        for offer in src.offers:
            if offer.offer.quote_line_id is not None:
                offer.anomaly_flags = flags.get(offer.offer.quote_line_id, [])
    return Evidence(
        kind="quotes",
        detail=(
            f"detect_anomalies on RFQ {rfq.code}: {checked.checked} bids checked for unbalanced "
            f"bidding and item history, {checked.flagged} flagged"
        ),
        ids=[line.quote_line_id for line in checked.lines if line.flags][:50],
    )


def _bid_totals(
    lines: list[tuple[_LineSource, _Need, list[_Costed]]], currency: str, places: int
) -> tuple[list[BidTotal], str | None]:
    """Each bidder's landed total over the RFQ; the lowest complete, unflagged bid."""
    totals: dict[str, Decimal] = {}
    priced: dict[str, int] = {}
    complete: dict[str, bool] = {}
    flagged: dict[str, int] = {}
    unbalanced: dict[str, bool] = {}
    warning = SEVERITY_RANK["warning"]
    for _, _, costed in lines:
        for c in costed:
            s = c.supplier
            totals[s] = totals.get(s, Decimal(0)) + c.landed_total
            priced[s] = priced.get(s, 0) + 1
            complete[s] = complete.get(s, True) and c.complete
            serious = [f for f in c.flags if SEVERITY_RANK.get(f.severity, 0) >= warning]
            flagged[s] = flagged.get(s, 0) + (1 if serious else 0)
            unbalanced[s] = unbalanced.get(s, False) or any(
                f.kind == "unbalanced_bid" for f in serious
            )
    n = len(lines)
    order = sorted(totals, key=lambda s: (not (priced[s] == n and complete[s]), totals[s], s))
    out = [
        BidTotal(
            rank=i + 1,
            supplier=s,
            lines_priced=priced[s],
            lines_total=n,
            complete=priced[s] == n and complete[s],
            landed_total=_q(totals[s], places),
            flagged_lines=flagged[s],
            unbalanced=unbalanced[s],
        )
        for i, s in enumerate(order)
    ]
    whole = [b for b in out if b.complete]
    if not whole:
        return out, "no bidder priced every line: compare line by line"
    clean = [b for b in whole if not b.unbalanced]
    if not clean:
        return out, "every complete bid is flagged as unbalanced: review before awarding"
    best = clean[0]
    text = f"Lowest complete bid: {best.supplier}, {_fmt(best.landed_total)} {currency} landed"
    following = [b for b in whole if b is not best and b.landed_total >= best.landed_total]
    if following:
        gap = following[0].landed_total - best.landed_total
        text += f", {_fmt(gap)} {currency} below {following[0].supplier}"
    skipped = [b for b in whole if b.landed_total < best.landed_total]
    if skipped:
        text += "; passed over as unbalanced: " + ", ".join(
            f"{b.supplier} ({_fmt(b.landed_total)} {currency})" for b in skipped
        )
    return out, text + "."


def _line_value(need: _Need, costed: list[_Costed]) -> Decimal:
    prices = [c.unit_price for c in costed]
    return need.quantity * statistics.median(prices) if prices else Decimal(0)


def _compare_rfq(
    ctx: ToolContext, args: CompareQuotesInput, catalog: UnitCatalog
) -> CompareQuotesOutput:
    rfq, sources, on = _rfq_sources(ctx, args)
    with_bids = [s for s in sources if s.offers]
    if not with_bids:
        where = (
            f" line {sources[0].rfq_line.line_code}" if args.line and sources[0].rfq_line else ""
        )
        raise NotFoundError(f"RFQ {rfq.code}{where} has no quotes to compare")
    anomaly_evidence = _attach_anomalies(ctx, rfq, with_bids)
    currency = args.currency.upper()
    conv = _Converter(ctx, catalog, currency, on)
    caveats: list[str] = []
    if len(with_bids) < len(sources):
        caveats.append(f"{len(sources) - len(with_bids)} RFQ line(s) received no quotes")
    single = len(sources) == 1
    needs = [(s, _line_need(args, s, catalog, on, single=single)) for s in with_bids]
    if single:
        src, need = needs[0]
        line, _ = _level_line(ctx, src, need, conv, detailed=True, strict=False)
        detailed, verdict = [line], None
        totals: list[BidTotal] = []
        rest: list[str] = []
    else:
        cheap = [
            (s, n, _level_line(ctx, s, n, conv, detailed=False, strict=False)[1]) for s, n in needs
        ]
        by_value = sorted(cheap, key=lambda t: _line_value(t[1], t[2]), reverse=True)
        top = by_value[: args.max_lines]
        detailed = [_level_line(ctx, s, n, conv, detailed=True, strict=False)[0] for s, n, _ in top]
        totals, verdict = _bid_totals(cheap, currency, _minor_units(ctx, currency))
        items = {s.item.id: s.item for s, _, _ in cheap if s.item is not None}
        rest = [
            _describe(s.rfq_line, items)
            for s, _, _ in by_value[args.max_lines :]
            if s.rfq_line is not None
        ]
        caveats.append(
            f"RFQ {rfq.code} has {len(with_bids)} quoted lines: the {len(detailed)} largest by "
            "value are leveled in detail (ask for a line to see another); bid_totals ranks whole "
            "bids, the usual basis of award for a letting"
        )
        if len(rest) > LIST_LIMIT:
            rest = [*rest[:LIST_LIMIT], f"... and {len(rest) - LIST_LIMIT} more"]
    evidence = [e for line in detailed for e in line.evidence]
    if anomaly_evidence:
        evidence.append(anomaly_evidence)
    return CompareQuotesOutput(
        rfq=rfq.code,
        currency=currency,
        discount_rate=args.discount_rate,
        standard_payment_days=args.standard_payment_days,
        lines=detailed,
        bid_totals=totals,
        bid_recommendation=verdict,
        lines_not_detailed=rest,
        caveats=caveats,
        evidence=evidence,
    )


# --------------------------------------------------------------------------- the tool


def compare_quotes(ctx: ToolContext, args: CompareQuotesInput) -> CompareQuotesOutput:
    """Level quotes for one need, all costs counted, rank them and recommend which to award.

    Use it for "which bid should we take?", "compare these quotes", "level the bids on RFQ
    X". Give EITHER `rfq` (its bids are read from the store; `line` picks one RFQ line by
    its code or item; without it the largest lines are leveled and whole bids are totalled)
    OR `quotes` (supplier, unit price, currency, unit, and optionally Incoterm, freight,
    payment terms, MOQ, price breaks, lead time) with the `quantity` needed.

    Every quote is converted exactly to one unit and currency; the applicable price break
    is used; a minimum order above the need is paid for in full (the excess is shown);
    C- and D-term prices include the main carriage, E- and F-terms need a freight figure
    (without one the landed cost is only a lower bound and the quote is not recommended);
    payment terms are valued against your standard net 30 at 8% a year (paying later is
    worth more to you; an early-payment discount is taken when worth more). Quotes are
    ranked by landed total and flagged against the price model's P10-P90 band, the other
    quotes' median, and the should-cost (where a template exists). The recommendation is
    the cheapest landed cost unless it is suspiciously low, unbalanced or far outside the
    band, with the reasons and caveats. Returns per line: ranked quotes with landed total
    and per unit, band, peer median, should-cost, recommendation, caveats and evidence.
    """
    catalog = UnitCatalog.load(ctx.session)
    currency = args.currency.upper()
    _minor_units(ctx, currency)  # an unknown answer currency is refused before any work
    if args.rfq is not None:
        return _compare_rfq(ctx, args, catalog)
    src = _adhoc_source(ctx, args)
    on = args.as_of or ctx.as_of
    need = _line_need(args, src, catalog, on, single=True)
    conv = _Converter(ctx, catalog, currency, on)
    line, _ = _level_line(ctx, src, need, conv, detailed=True, strict=True)
    return CompareQuotesOutput(
        rfq=None,
        currency=currency,
        discount_rate=args.discount_rate,
        standard_payment_days=args.standard_payment_days,
        lines=[line],
        bid_totals=[],
        bid_recommendation=None,
        lines_not_detailed=[],
        caveats=[],
        evidence=line.evidence,
    )
