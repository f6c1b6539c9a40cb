"""Reading a buyer's message: what they want (intents) and what they named (slots).

Rules, not a model: each intent is a set of weighted patterns a procurement question
uses; slots are found with the organisation's own names (``Lexicon``) plus patterns for
money, quantities, percentages, horizons and dates. Whatever text is left once those are
taken out is the item description, which ``search_items`` resolves.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from agent.planner.erp_writes import WRITE_INTENTS, WRITE_TOOLS, ErpWrite, read_write
from agent.planner.lexicon import Lexicon, SupplierName, words

Pattern = tuple[str, float]

INTENTS: dict[str, list[Pattern]] = {
    "draft_counter_offer": [
        (r"\b(draft|write|send|prepare|email|compose)\b.{0,40}\bcounter", 4.0),
        (r"\bcounter[- ]?offer (to|for)\b", 1.5),
    ],
    "negotiation_advice": [
        (r"negotiat", 3.0),
        (r"walk[- ]?away", 3.0),
        (r"\btarget (price|number)\b", 2.5),
        (r"\bopening (offer|bid|number|position)\b", 2.5),
        (r"\bcounter\b", 1.5),
        (r"\bleverage\b", 2.0),
        (r"\bpush back\b|\bhaggle\b|\bbargain", 2.0),
        (r"\bwhat (should|do|can) (i|we) (offer|counter|ask for|aim for|say)\b", 2.5),
        (r"\btalking points\b", 2.5),
    ],
    "check_price_increase": [
        (r"\b(price )?increase\b", 2.5),
        (r"\braise|raising\b", 1.5),
        (r"\bhike\b|\buplift\b|\bescalat", 2.5),
        (r"\bsurcharge\b", 2.0),
        (
            r"\b(wants?|asks?|asking|requests?|requesting|proposes?|proposing)\b.{0,40}\d\s*(%|percent|pct)",
            2.5,
        ),
        (r"\d\s*(%|percent|pct) (more|higher|up)\b", 2.0),
        (r"\bjustified\b|\bjustify\b", 1.5),
        (r"\bgo(es|ing)? up\b.{0,20}\d\s*(%|percent|pct)", 3.0),
        (r"\d\s*(%|percent|pct) (increase|hike|rise)", 3.0),
    ],
    "forecast_price": [
        (r"\bforecast", 3.0),
        (r"\boutlook\b", 2.5),
        (
            r"\bwill\b.{0,50}\b(cheaper|more expensive|go(ing)? (up|down)|rise|fall|drop"
            r"|increase|decrease|climb|soften)\b",
            3.0,
        ),
        (r"\b(next|coming) (\d+|few|two|three|four|six|nine|twelve) months?\b", 1.5),
        (r"\bnext (quarter|year)\b", 1.5),
        (r"\bbuy now\b|\bwait (to|before) (buy|order|lock)|\bor wait\b|\block (in|it) now\b", 3.0),
        (r"\bwhere .{0,30}(prices?|index) (heading|going)\b", 3.0),
        (r"\bexpect(ed|ing)?\b.{0,30}\b(prices?|index)\b.{0,20}\b(to|in)\b", 1.5),
    ],
    "should_cost": [
        (r"should[- ]?cost", 4.0),
        (r"\bcost (build[- ]?up|breakdown|model|structure)\b", 3.5),
        (r"\bbreak(ing)? ?down\b", 2.0),
        (r"\bbottom[- ]up\b", 2.5),
        (r"\bmaterial (cost|content|share)\b", 2.0),
        (r"\bwhat (is|goes) into\b|\bcost drivers?\b|\bmake[- ]up of\b", 2.0),
        (r"\bcost to (make|produce|place|install)\b", 2.5),
    ],
    "predict_price": [
        (r"\bfair\b|\blegit\b|\bsane\b|\bok(ay)?\b price", 2.0),
        (r"\bwhat should\b.{0,60}\bcost\b", 3.0),
        (r"\bhow much (should|would|does|will)\b", 2.5),
        (r"\bexpected price\b|\bprice band\b|\bprice range\b|\bfair value\b", 2.5),
        (r"\bestimate\b|\bballpark\b", 2.0),
        (r"\breasonable\b|\bgood price\b|\bgood deal\b|\bin line\b", 2.0),
        (r"\bmarket (price|rate)\b|\bgoing rate\b", 2.0),
        (r"\btoo (high|expensive|much|low|cheap)\b|\boverpa(y|ying|id)\b|\bripped off\b", 2.0),
        (r"\bbenchmark\b|\bp10\b|\bp50\b|\bp90\b", 2.0),
        (r"\bpredict", 2.5),
        (r"\bwhat (would|will) .{0,40}\b(cost|run|price)\b", 2.0),
    ],
    "compare_quotes": [
        (r"\bcompare\b|\bcomparison\b", 3.0),
        (r"\blevel(l)?ing\b|\blevel (the|these)\b", 3.0),
        (r"\bwhich (bid|quote|offer|supplier|bidder|vendor|one)s?\b", 2.5),
        (r"\baward\b|\bawarded\b", 2.0),
        (r"\bbest (bid|quote|offer|value)\b", 2.5),
        (r"\blanded cost\b|\ball[- ]in\b|\ball costs\b|\btotal cost\b", 2.5),
        (r"\brank(ing)?\b", 2.0),
        (r"\b(lowest|cheapest) (bid|quote|bidder|supplier|offer)", 2.5),
        (r"\bwho (bid|quoted|won)\b|\bbids? (on|for)\b|\bbidders\b", 2.0),
        (r"\bwho should (we|i)\b|\bgo with\b|\bpick\b", 1.5),
    ],
    "detect_anomalies": [
        (r"anomal", 3.5),
        (r"\bunusual\b|\boutliers?\b|\bsuspicious\b|\bodd\b|\bweird\b|\bstrange\b", 3.0),
        (r"\bunbalanced\b|\bfront[- ]?load", 3.5),
        (r"\bred flags?\b|\bout of line\b|\bsanity[- ]?check\b|\bfishy\b", 3.0),
        (r"\bbid rigging\b|\bcollusion\b|\berrors?\b in", 2.5),
        (r"\bflag(ged|s)?\b", 1.5),
        (
            r"\b(look|looks|looked|looking|seems?|seemed) (off|wrong|strange|high|too high|low)\b",
            2.5,
        ),
    ],
    "price_history": [
        (r"\bhistory\b|\bhistoric(al)?\b", 3.0),
        (r"\bpast (prices|quotes|bids|purchases)\b|\bover time\b", 2.5),
        (r"\b(last|previous|prior|latest|recent) (price|quote|bid)s?\b", 2.0),
        (r"\b(have|did) we (pay|paid|buy|bought)\b|\bpaid (before|last|previously)\b", 2.5),
        (r"\bwhat did\b.{0,40}\b(charge|quote|bid)\b", 2.5),
        (r"\bquoted (us|before|last)\b|\bwhat has\b.{0,40}\bquoted\b", 2.0),
        (r"\bsince (20\d\d|last)\b|\bin the (last|past) \w+ (months|years)\b", 1.5),
        (r"\bhow (have|has) .{0,30} (moved|changed|trended)\b", 2.5),
    ],
    "supplier_scorecard": [
        (r"score ?card", 4.0),
        (r"\bhow many (projects|jobs|rfqs|bids|lettings)\b.{0,40}\b(they|he|she|it)\b", 2.5),
        (r"\bhow often (are|is|do|does) (they|it|he|she)\b", 2.0),
        (
            r"\bhow (is|has|are|have|does|do) .{0,50}"
            r"\b(doing|performing|performed|done|compare|stack)\b",
            2.5,
        ),
        (r"\bperformance\b|\btrack record\b", 2.5),
        (r"\bwin rate\b|\bhow often .{0,30}\bwin\b|\bwins?\b", 2.0),
        (r"\breliab|\bon[- ]time\b|\bdelivery\b", 2.0),
        (r"\bhow competitive\b|\bcompetitive(ness)?\b", 2.0),
        (r"\bvolatil|\bconsistent\b", 1.5),
        (r"\btell me about\b|\bprofile\b|\bwhat do we know about\b", 1.5),
    ],
    "erp_lookup": [
        (r"\bpurchase orders?\b|\bP\.?O\.?s?\b|\bPO ?#", 3.5),
        (
            r"\b(our|the|existing|active|current|framework|blanket|price) "
            r"(contracts?|agreements?)\b",
            3.0,
        ),
        (r"\bcontract prices?\b|\bcontracted\b", 3.0),
        (r"\b(what|which|any)\s+(contracts?|agreements?)\b", 3.0),
        (r"\bERP\b|\bSAP\b|\bOracle\b|\bDynamics\b|\bD365\b", 3.5),
        (r"\bopen orders?\b|\bwhat (have|did) we order", 3.0),
    ],
    "search_items": [
        (r"\bfind\b|\bsearch\b|\blook ?up\b", 2.0),
        (r"\b(which|what) items?\b|\bitem (code|number)s?\b|\bpart (number|no\.?|#)", 2.5),
        (r"\bdo we (buy|have|stock|carry)\b|\bcatalog(ue)?\b|\bpay items?\b", 2.0),
        (r"\bwhat is the code\b|\bcode for\b", 2.5),
    ],
    **WRITE_INTENTS,
}

INTENT_THRESHOLD = 1.5

# Words that carry the question, not the item: dropped before the item search.
_STOPWORD_TEXT = """
    second-lowest third-lowest next-lowest runner-up lowest-priced legit
    spread between came come comes coming pull pulled looked looks seem seems seemed lately
    often legit says said run running headed heading behind far per-unit unit lb-wise
    sure maybe actually basically kind sort thing things stuff whats hows number's
    anything something everything goes going help helping looking look see
    a an the and or but if of for to in on at by with from into about as is are was were be been
    being do does did doing have has had having i we you our us my me your they them their it
    its this that these those there here what which who whom whose when where why how can could
    should would will shall may might must let please pls thanks thank hi hello hey ok okay just
    also any some all each per vs versus than then so very really quite much many more most less
    least few lot lots get got give gave show tell say said need needs want wants like know
    let's whats what's how's who's price prices pricing priced cost costs costing quote quotes
    quoted quoting bid bids bidding bidder bidders offer offers offered supplier suppliers
    vendor vendors seller sellers contractor contractors fair fairly good bad reasonable
    expensive cheap cheaper cheapest high higher low lower lowest paying pay paid buy buying
    bought order ordering ordered purchase purchasing forecast forecasting outlook trend trends
    history historical past last previous recent latest next month months year years quarter
    week weeks days day today now later soon ago since until compare comparison rank ranking
    award awarded level leveling best worst winner negotiate negotiation negotiating target walk
    away walk-away opening counter counteroffer counter-offer leverage argument arguments
    position talking points draft write send email prepare should-cost breakdown build-up
    buildup build up bottom-up material materials anomaly anomalies anomalous unusual outlier
    outliers suspicious odd weird strange unbalanced flag flags flagged check checking sanity
    fishy red increase increases increasing raise raising hike uplift surcharge escalation
    justified justify request requests requested requesting asks asking asked wanted proposes
    proposed scorecard score card performance performing track record win wins winning rate
    reliable reliability delivery on-time competitive competitiveness volatile volatility erp
    sap oracle dynamics d365 po pos contracts contract agreement agreements orders open find
    search look lookup item items code codes catalog catalogue number numbers part project
    projects rfq rfqs job lettings letting line lines go going gone down rise fall drop expected
    expect expecting estimate estimated ballpark market worth value deal range band p10 p50 p90
    predict predicted dollars dollar usd bucks percent pct eur euro euros total all-in landed
    quantity qty amount approximately approx around roughly ea it's isn't aren't don't doesn't
    we're i'm first second third fourth 2nd 3rd 4th runner-up runner else instead one ones guy
    guys again same too either other another another's whole entire full currently current take
    taking over under wait waiting onto off meeting call tomorrow tonight morning monday tuesday
    wednesday thursday friday saturday sunday friday's monday's two three four five six seven
    eight nine ten eleven twelve twenty thirty hundred thousand dozen half
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

_NUMBER = r"(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
_WORD_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a": 1, "few": 3, "couple": 2,
}  # fmt: skip
_ORDINALS = {
    "first": 0, "1st": 0, "top": 0, "lowest": 0, "cheapest": 0, "winning": 0, "winner": 0,
    "second": 1, "2nd": 1, "runner-up": 1, "runner up": 1, "next-lowest": 1, "next lowest": 1,
    "second-lowest": 1, "second lowest": 1, "third": 2, "3rd": 2, "third-lowest": 2,
    "fourth": 3, "4th": 3, "last": -1, "highest": -1, "most expensive": -1,
}  # fmt: skip


@dataclass
class Reading:
    """What one message asks for and names."""

    text: str
    intents: dict[str, float] = field(default_factory=dict)
    supplier: str | None = None
    supplier_ordinal: int | None = None
    rfq: str | None = None
    quantity: Decimal | None = None
    unit: str | None = None
    price: Decimal | None = None
    currency: str | None = None
    price_unit: str | None = None
    percent: Decimal | None = None
    horizon: int | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    series: str | None = None
    quote_line_id: int | None = None
    item_text: str = ""
    item_code: str | None = None
    injection: bool = False
    index_named: bool = False  # "index", "PPI": the market series, not our item
    off_topic: bool = False
    erp: ErpWrite = field(default_factory=ErpWrite)  # read only for a requested ERP write

    def wants(self, tool: str) -> bool:
        """Tell whether the message asks for ``tool``."""
        return self.intents.get(tool, 0.0) >= INTENT_THRESHOLD

    def write_tool(self) -> str | None:
        """The ERP write the message asks to draft, if any (a requisition on a tie)."""
        asked = [tool for tool in WRITE_TOOLS if self.wants(tool)]
        if not asked:
            return None
        return max(asked, key=lambda tool: (self.intents[tool], tool == "draft_requisition"))


def _decimal(raw: str) -> Decimal | None:
    try:
        return Decimal(raw.replace(",", ""))
    except InvalidOperation:
        return None


class _Text:
    """The message with the spans already understood blanked out."""

    def __init__(self, text: str) -> None:
        self.original = text
        self.rest = text

    def take(self, pattern: str, flags: int = re.IGNORECASE) -> re.Match[str] | None:
        match = re.search(pattern, self.rest, flags)
        if match:
            start, end = match.span()
            self.rest = self.rest[:start] + " " * (end - start) + self.rest[end:]
        return match


def _unit_pattern(lexicon: Lexicon) -> str:
    spellings = set(lexicon.units)
    spellings |= {s + "S" for s in lexicon.units if s.isalpha() and len(s) > 1}
    spellings |= {"TONNE", "TONNES", "FEET", "FOOT", "LINEAR FEET", "SQUARE YARDS", "CUBIC YARDS"}
    ordered = sorted(spellings, key=len, reverse=True)
    return "|".join(re.escape(s) for s in ordered if s)


def _unit_code(lexicon: Lexicon, spelling: str) -> str | None:
    key = spelling.upper().strip()
    extra = {"TONNE": "t", "TONNES": "t", "FEET": "ft", "FOOT": "ft"}
    if key in lexicon.units:
        return lexicon.units[key]
    if key.endswith("S") and key[:-1] in lexicon.units:
        return lexicon.units[key[:-1]]
    return extra.get(key) or lexicon.units.get(key.replace("LINEAR ", "L").replace(" ", ""))


def _find_rfq(text: _Text, lexicon: Lexicon) -> str | None:
    codes = {re.sub(r"[\s-]", "", c).upper(): c for c in lexicon.rfq_codes}
    # Spelled as stored, with any spacing around the dash ("B -40276-A", "B-40276-A").
    match = text.take(r"\b[A-Z]{1,3}\s*-\s*\d{4,6}(?:\s*-\s*[A-Z0-9]{1,3})?\b", 0)
    if match:
        key = re.sub(r"[\s-]", "", match.group(0)).upper()
        if key in codes:
            return codes[key]
        for stored_key, code in codes.items():
            if stored_key.startswith(key) or key.startswith(stored_key):
                return code
        # Not one of ours: pass it on as written, so the tool says it does not exist.
        return re.sub(r"\s+", " ", match.group(0)).strip()
    # "project 40276", "contract #40276", "RFQ 40276"
    match = text.take(
        r"\b(?:project|contract|rfq|job|letting|proj\.?)\s*(?:no\.?|number|#)?\s*(\d{4,6})\b"
    )
    if match:
        digits = match.group(1)
        hits = [c for key, c in codes.items() if digits in key]
        if hits:
            return sorted(hits, key=len)[0]
    return None


def _find_supplier(text: _Text, lexicon: Lexicon) -> str | None:
    """The supplier the message names, by its distinctive words ("Rieth-Riley", "E&B paving")."""
    present = set(words(text.rest.replace("&", " AND ")))
    common = lexicon.item_words | {w.upper() for w in STOPWORDS}
    best: tuple[int, int, SupplierName] | None = None
    for supplier in lexicon.suppliers:
        key = [w for w in supplier.distinctive if w != "AND"]
        if not key or key[0] not in present:
            continue
        matched = [w for w in key if w in present]
        # One matched word is enough only when it is distinctive: not an item or question word.
        if len(matched) == 1 and len(key) > 1 and (key[0] in common or len(key[0]) < 4):
            continue
        # Most words matched wins; between look-alikes, the one the buyer deals with most.
        candidate = (len(matched), supplier.quotes, supplier)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is None:
        return None
    supplier = best[2]
    text.take(r"\b[A-Z]\s*&\s*[A-Z]\b", 0)
    for w in supplier.distinctive:
        if len(w) > 1:
            text.take(rf"\b{re.escape(w)}\b")
    text.take(r"\b(?:inc|llc|co|corp|company|ltd|l\.?p)\b\.?")
    return supplier.name


MARKET_WORDS = re.compile(
    r"\bindex|\bppi\b|\bmarket\b|\bcommodit|\bsteel\b|\bcopper\b|\balumin|\bcement\b"
    r"|\blumber\b|\boil\b|\bdiesel\b|\bscrap\b|\bnatural gas\b|\biron\b",
    re.IGNORECASE,
)
ORDINAL_NOUNS = r"(?:supplier|bidder|bid|quote|vendor|one|offer|place|contractor)"
PERIOD_PHRASE = (
    r"\b(?:next|coming|last|past|in|over|within)\s+(?:the\s+)?(?:next\s+)?(?:\d+|[a-z]+)\s+"
    r"(?:months?|years?|weeks?|quarters?)\b"
)


def _find_series(text: str, lexicon: Lexicon) -> str | None:
    for code in lexicon.series:
        if re.search(rf"\b{re.escape(code)}\b", text, re.IGNORECASE):
            return code
    asked = {w for w in words(text) if len(w) >= 3 and w.lower() not in STOPWORDS}
    asked -= {"PRICE", "PRICES", "COST", "INDEX", "PPI"}
    if not asked or not MARKET_WORDS.search(text):
        return None
    # Rarer words decide: "hot-rolled" picks hot-rolled bars, not every steel series.
    named = {code: set(words(name)) for code, name in lexicon.series.items()}
    frequency: dict[str, int] = {}
    for vocabulary in named.values():
        for word in vocabulary:
            frequency[word] = frequency.get(word, 0) + 1
    best: tuple[float, int, str] | None = None
    for code, vocabulary in named.items():
        score = sum(1 / frequency[w] for w in asked & vocabulary)
        if score:
            candidate = (score, -len(lexicon.series[code]), code)
            if best is None or candidate > best:
                best = candidate
    return best[2] if best else None


def _horizon(text: str) -> int | None:
    match = re.search(
        r"\b(?:next|coming|in|over|within)\s+(?:the\s+)?(?:next\s+)?(\d+|[a-z]+)\s+months?\b",
        text,
        re.IGNORECASE,
    )
    if match:
        raw = match.group(1).lower()
        value = int(raw) if raw.isdigit() else _WORD_NUMBERS.get(raw)
        if value:
            return max(1, min(12, value))
    if re.search(r"\b(next|coming|this) quarter\b|\bq[1-4]\b", text, re.IGNORECASE):
        return 3
    if re.search(r"\bhalf[- ]year\b|\bsix months\b", text, re.IGNORECASE):
        return 6
    if re.search(r"\bnext year\b|\b12 months\b|\ba year\b", text, re.IGNORECASE):
        return 12
    return None


_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}


def _period(text: str, as_of: dt.date) -> tuple[dt.date | None, dt.date | None]:  # noqa: PLR0911
    if re.search(r"\b(this|the current) year\b|\bytd\b|\byear to date\b", text, re.IGNORECASE):
        return dt.date(as_of.year, 1, 1), None
    if re.search(
        r"\bwhole history\b|\ball[- ]time\b|\bever\b|\ball (of )?(the )?history\b|"
        r"\bfull history\b|\bsince (the )?(start|beginning)\b",
        text,
        re.IGNORECASE,
    ):
        return dt.date(1900, 1, 1), None
    month = re.search(
        r"\bsince\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(20\d\d)\b",
        text,
        re.IGNORECASE,
    )
    if month:
        return dt.date(int(month.group(2)), _MONTHS[month.group(1).lower()], 1), None
    match = re.search(r"\bsince\s+(20\d\d)(?:-(\d\d))?\b", text)
    if match:
        return dt.date(int(match.group(1)), int(match.group(2) or 1), 1), None
    match = re.search(r"\b(?:in|during)\s+(20\d\d)\b", text)
    if match:
        year = int(match.group(1))
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    match = re.search(r"\b(?:last|past)\s+(\d+|[a-z]+)\s+(months?|years?)\b", text, re.IGNORECASE)
    if match:
        raw = match.group(1).lower()
        n = int(raw) if raw.isdigit() else _WORD_NUMBERS.get(raw, 0)
        if n:
            months = n * (12 if match.group(2).lower().startswith("year") else 1)
            start_year, start_month = divmod(as_of.year * 12 + as_of.month - 1 - months, 12)
            return dt.date(start_year, start_month + 1, 1), None
    if re.search(r"\b(last|past) year\b", text, re.IGNORECASE):
        return as_of.replace(year=as_of.year - 1), None
    return None, None


OFF_TOPIC = re.compile(
    r"\bweather\b|\bforecast for (rain|snow)\b|\bjoke\b|\brecipe\b|\bsports?\b|\bscore of the\b|"
    r"\bpoem\b|\bhoroscope\b|\bstock market\b|\bnews\b",
    re.IGNORECASE,
)

INJECTION = re.compile(
    r"ignore (all |any )?(previous|prior|above|earlier) (instructions|prompts?)|"
    r"disregard (the |your )?(rules|instructions|system)|system prompt|you are now|"
    r"(all|every|other) (orgs?|organi[sz]ations?|tenants?|customers?)('s)? data|"
    r"\borg(_| )?id\s*[=:]|developer mode|jailbreak",
    re.IGNORECASE,
)


def _read_money(text: _Text, reading: Reading, lexicon: Lexicon, units: str) -> None:
    """Money: "$1.10/lb", "USD 45 per ton", "45 dollars a ton", "EUR 38.50/t", "€38.50"."""
    money = text.take(
        rf"(?:(\$|US\$|USD|EUR|€|GBP|£|CAD)\s?{_NUMBER}|{_NUMBER}\s?(dollars|usd|eur|euros|bucks))"
        rf"(?:\s*(?:/|per|a|an|each)\s*({units})\b\.?)?"
    )
    if not money:
        return
    symbol = (money.group(1) or money.group(4) or "$").upper()
    reading.price = _decimal(money.group(2) or money.group(3))
    currency = {"€": "EUR", "EUROS": "EUR", "£": "GBP"}.get(symbol, symbol)
    reading.currency = "USD" if currency in {"$", "US$", "DOLLARS", "BUCKS"} else currency
    if money.group(5):
        reading.price_unit = _unit_code(lexicon, money.group(5))


def _read_new_price(text: _Text, reading: Reading, lexicon: Lexicon, units: str) -> None:
    """A new contract price without a currency: "… line 10 to 2.45", "to 2.45 per kg"."""
    match = text.take(rf"\b(?:to|at)\s+{_NUMBER}(?:\s*(?:/|per|a|an|each)\s*({units})\b\.?)?")
    if match:
        reading.price = _decimal(match.group(1))
        if match.group(2):
            reading.price_unit = _unit_code(lexicon, match.group(2))


def _read_quantity(text: _Text, reading: Reading, lexicon: Lexicon, units: str) -> None:
    """Quantity: "500 tons", "2.5k LF", "qty 300", "for 1,200"."""
    quantity = text.take(rf"\b{_NUMBER}\s*(k)?\s*({units})(?![A-Za-z])\.?", re.IGNORECASE)
    if quantity:
        value = _decimal(quantity.group(1))
        if value is not None and quantity.group(2):
            value *= 1000
        reading.quantity = value
        reading.unit = _unit_code(lexicon, quantity.group(3))
    else:
        bare = text.take(
            rf"\b(?:qty|quantity|for|of)\s*(?:of\s*)?{_NUMBER}\b(?!-\d|\s*(?:%|months?|years?|days?))"
        )
        if bare:
            reading.quantity = _decimal(bare.group(1))
    if reading.unit is None and reading.price_unit:
        reading.unit = reading.price_unit


def _read_item_code(text: _Text, reading: Reading, lexicon: Lexicon) -> None:
    """An item code written out ("703-06029") names the item exactly."""
    for token in re.findall(r"\b\d{3}-\d{5}\b|\b[A-Z0-9][A-Z0-9._/-]{3,}\b", text.rest.upper()):
        if token in lexicon.item_codes:
            reading.item_code = token
            text.take(re.escape(token))
            return


def _read_item(text: _Text, reading: Reading) -> None:
    """The item's description: the words nothing else claimed."""
    while text.take(r"['’]s\b"):
        pass
    text.take(r"\b(?:in|since|during)\s+20\d\d(?:-\d\d)?\b")
    text.take(PERIOD_PHRASE)
    remaining = [
        w
        for w in re.findall(r"#?\d+(?:\.\d+)?[A-Za-z]?\"?|[A-Za-z][A-Za-z0-9'&/.-]*", text.rest)
        if w.lower().strip(".'") not in STOPWORDS and len(w.strip(".")) > 0
    ]
    reading.item_text = " ".join(remaining).strip(" .,?!")


def _ordinal(message: str) -> int | None:
    for phrase, position in sorted(_ORDINALS.items(), key=lambda kv: -len(kv[0])):
        pattern = rf"\b{re.escape(phrase)}\b[- ]?(?:lowest |cheapest )?{ORDINAL_NOUNS}\b"
        if re.search(pattern, message, re.IGNORECASE):
            return position
    return None


def read_message(message: str, lexicon: Lexicon, *, as_of: dt.date) -> Reading:
    """Read one buyer message against the organisation's names."""
    reading = Reading(text=message)
    reading.injection = bool(INJECTION.search(message))
    reading.index_named = bool(re.search(r"\bindex\b|\bppi\b|\bWPU\w*", message, re.IGNORECASE))
    reading.off_topic = bool(OFF_TOPIC.search(message))
    for tool, patterns in INTENTS.items():
        score = sum(w for pattern, w in patterns if re.search(pattern, message, re.IGNORECASE))
        if score > 0:  # a guard pattern weighs negative; what it cancels is not asked
            reading.intents[tool] = score
    text = _Text(message)
    write = reading.write_tool()
    if write:
        # Before the RFQ: in a write, "contract 4600000012" is the ERP's contract.
        reading.erp = read_write(text, write, item_codes=lexicon.item_codes, as_of=as_of)
    reading.rfq = _find_rfq(text, lexicon)
    match = text.take(r"\b(?:quote|bid)\s*line\s*(?:id\s*)?#?\s*(\d+)\b")
    if match:
        reading.quote_line_id = int(match.group(1))
    _read_item_code(text, reading, lexicon)
    units = _unit_pattern(lexicon)
    _read_money(text, reading, lexicon, units)
    if write == "draft_contract_price_update" and reading.price is None:
        _read_new_price(text, reading, lexicon, units)
    percent = text.take(rf"([+-]?\s?{_NUMBER})\s*(?:%|percent|pct)")
    if percent:
        reading.percent = _decimal(percent.group(1).replace(" ", ""))
    _read_quantity(text, reading, lexicon, units)
    reading.horizon = _horizon(message)
    reading.since, reading.until = _period(message, as_of)
    reading.supplier = _find_supplier(text, lexicon)
    reading.supplier_ordinal = _ordinal(message)
    reading.series = _find_series(message, lexicon)
    _read_item(text, reading)
    return reading
