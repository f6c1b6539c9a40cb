"""Reading a request to write to an ERP: a requisition, or a contract price change.

These slots (the ERP named, dates, contract number and line, plant, note) are read only
when the message asks for one of the two drafting tools, so that "contract 40276" in a
question about bids still names an RFQ, and "plant" in an item's name stays in it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Protocol

WRITE_TOOLS = frozenset({"draft_requisition", "draft_contract_price_update"})

# A question about writes ("did we raise a requisition?") is not a request for one.
_ASKING = (r"^\W*(did|does|do|has|have|had|was|were|is|are|what|which|when|who|why|how)\b", -4.0)

WRITE_INTENTS: dict[str, list[tuple[str, float]]] = {
    "draft_requisition": [
        (
            r"\b(raise|create|put in|submit|open|make|draft|enter|start|prepare|need|want)\b"
            r".{0,40}\b(purchase[- ])?(requisitions?|reqs?|purchase requests?)\b",
            4.0,
        ),
        (r"^\W*(please\s+)?requisition\b", 4.0),
        (r"\brequisition", 1.0),
        _ASKING,
    ],
    "draft_contract_price_update": [
        (
            r"\b(update|change|set|amend|adjust|revise|modify)\b.{0,40}\b(contract|agreement)s?\b",
            4.0,
        ),
        # Raising or cutting one's own contract price is said as a command; "Milestone
        # wants to raise the contract price" is a price-increase request to check.
        (r"^\W*(please\s+)?(raise|increase|lower|reduce|cut)\b.{0,40}\b(contract|agreement)", 4.0),
        (r"\bnew (contract|agreement) price\b", 3.0),
        (
            r"\b(wants?|asks?|asking|requests?|requesting|proposes?|proposing)\s+(to\s+)?"
            r"(raise|increase|change|update|adjust|lower)\b",
            -4.0,
        ),
        _ASKING,
    ],
}

SYSTEMS = {
    "sap": r"SAP(?:\s+S/?4\s*HANA)?|S/?4\s*HANA",
    "ebs": r"Oracle(?:\s+(?:EBS|E-Business(?:\s+Suite)?))?|EBS|E-Business\s+Suite",
    "d365": r"(?:Microsoft\s+)?Dynamics(?:\s+365)?(?:\s+(?:F&O|Finance|SCM))?|D365",
}

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# Whole month names only: "12 marble tiles" is not the 12th of March.
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATES = (
    r"(?P<y>20\d\d)-(?P<m>\d{1,2})-(?P<d>\d{1,2})",
    rf"(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<mon>{_MONTH})(?:,?\s+(?P<y2>20\d\d))?",
    rf"(?P<mon3>{_MONTH})\s+(?P<d3>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<y3>20\d\d))?",
)
# Words that introduce the date; the tool decides what it means (need-by or valid-from).
_LEAD = (
    r"needed|need(?:ed)?[- ]by|required|deliver(?:ed|y)?|due|by|before|no later than"
    r"|valid|effective|starting|start(?:s|ing)?|from|as of|as from"
)


class Taking(Protocol):
    """The message with the spans already understood blanked out (``reading._Text``)."""

    rest: str

    def take(self, pattern: str, flags: int = ...) -> re.Match[str] | None:
        """Blank out and return the first match of ``pattern``."""
        ...


@dataclass
class ErpWrite:
    """What a request to write to an ERP names besides item, quantity, price and supplier."""

    system: str | None = None  # sap, ebs or d365
    need_by: dt.date | None = None
    valid_from: dt.date | None = None
    contract: str | None = None
    line: str | None = None
    plant: str | None = None
    note: str | None = None


def _date(match: re.Match[str], as_of: dt.date) -> dt.date | None:
    """The date a match spells; without a year, the next one on or after ``as_of``."""
    g = match.groupdict()
    try:
        if g.get("y"):
            return dt.date(int(g["y"]), int(g["m"]), int(g["d"]))
        month = _MONTHS.index((g.get("mon") or g.get("mon3") or "")[:3].lower()) + 1
        day, year = int(g.get("d2") or g.get("d3") or 0), g.get("y2") or g.get("y3")
        found = dt.date(int(year) if year else as_of.year, month, day)
        if not year and found < as_of:
            found = found.replace(year=as_of.year + 1)
        return found
    except ValueError:  # "February 30": not a date, so not guessed at
        return None


def _read_date(text: Taking, write: ErpWrite, tool: str, as_of: dt.date) -> None:
    date = "(?:" + "|".join(_DATES) + r")\b"
    match = text.take(rf"\b(?:(?:{_LEAD})\s+(?:(?:by|on|from)\s+)?)?" + date, re.IGNORECASE)
    if match is None:
        return
    if tool == "draft_requisition":
        write.need_by = _date(match, as_of)
    else:
        write.valid_from = _date(match, as_of)


def _read_contract(text: Taking, write: ErpWrite, item_codes: set[str]) -> None:
    number = r"([A-Z0-9][A-Z0-9/_-]*\d[A-Z0-9/_-]*)\b"
    named = re.finditer(
        r"\b(?:contract|agreement|blanket(?:\s+agreement)?|BPA)(?:\s+price)?"
        rf"(?:\s+(?:no\.?|number|of|for))?\s*#?\s*:?\s*{number}",
        text.rest,
        re.IGNORECASE,
    )
    # An ERP contract number is a long digit run (SAP's 46…), when no word introduces it.
    bare = re.finditer(r"\b(\d{6,})\b", text.rest)
    for match in [*named, *bare]:
        token = match.group(1)
        if token.upper() not in item_codes:
            write.contract = token
            text.take(re.escape(match.group(0)))
            break
    line = text.take(
        r"\b(?:line|pos(?:ition)?)\s*(?:item\s*)?(?:no\.?|number|#)?\s*:?\s*(\d{1,6})\b(?!-\d)",
        re.IGNORECASE,
    )
    if line:
        write.line = line.group(1)


def read_write(text: Taking, tool: str, *, item_codes: set[str], as_of: dt.date) -> ErpWrite:
    """Take out of ``text`` what a request for ``tool`` names."""
    write = ErpWrite()
    note = text.take(r"\b(?:note|comment|remark)s?\s*:\s*(.+)$", re.IGNORECASE | re.DOTALL)
    if note:
        write.note = note.group(1).strip()[:500]
    for system, spelled in SYSTEMS.items():
        if text.take(rf"\b(?:(?:in|into|on|to|via|through)\s+(?:the\s+)?)?(?:{spelled})\b"):
            write.system = system
            break
    _read_date(text, write, tool, as_of)
    if tool == "draft_contract_price_update":
        _read_contract(text, write, item_codes)
    else:
        plant = text.take(
            r"\b(?:plant|site|ship[- ]to)\s*(?:code\s*)?#?:?\s*([A-Z0-9_-]*\d[A-Z0-9_-]*)\b",
            re.IGNORECASE,
        )
        if plant:
            write.plant = plant.group(1)[:40]
    # The command words are not part of the item's description.
    text.take(
        r"\b(?:please\s+)?(?:raise|create|put in|submit|open|make|draft|enter|start|prepare"
        r"|update|change|set|amend|adjust|revise|modify|lower|reduce|increase|cut)\b",
        re.IGNORECASE,
    )
    text.take(
        r"\b(?:a\s+new\s+|new\s+)?(?:purchase[- ])?(?:requisitions?|reqs?|purchase requests?)\b",
        re.IGNORECASE,
    )
    return write
