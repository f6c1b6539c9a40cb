"""Supplier identity: the normalised key that near-duplicate spellings share.

``DAVE O'MARA CONTRACTOR, INC.`` and ``DAVE O'MARA CONTRACTOR INC`` are one supplier;
so are ``L G S PLUMBING INC`` and ``LGS PLUMBING, INC.``. The key drops punctuation
and case, joins runs of single letters, expands a few abbreviations, and strips
trailing legal forms. It is deliberately conservative: it never merges names that
differ in a word that carries meaning (``HRP COMPANY`` vs ``HRP CONSTRUCTION``).
"""

from __future__ import annotations

import re
import unicodedata

_LEGAL_FORMS = {
    "INC",
    "INCORPORATED",
    "LLC",
    "LLP",
    "LP",
    "LTD",
    "LIMITED",
    "CORP",
    "CORPORATION",
    "CO",
    "COMPANY",
    "PLC",
    "GMBH",
    "AG",
    "SA",
    "SAS",
    "BV",
    "NV",
    "SPA",
    "SRL",
    "PTY",
}
_TRANSLITERATE = str.maketrans(
    {"Ø": "O", "Æ": "AE", "Œ": "OE", "Ł": "L", "Đ": "D", "Þ": "TH", "ẞ": "SS", "ß": "SS"}
)
_ABBREVIATIONS = {"BROS": "BROTHERS", "CONSTR": "CONSTRUCTION", "INTL": "INTERNATIONAL"}


def supplier_key(name: str) -> str:
    """Return the normalised identity of a supplier name or code."""
    # Upper-case first (ß -> SS), spell out letters with no ASCII decomposition, then
    # drop the accents NFKD separates (É -> E).
    text = name.upper().translate(_TRANSLITERATE)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = text.replace("&", " AND ")
    text = re.sub(r"[.'’`]", "", text)  # J.H. -> JH, O'MARA -> OMARA
    tokens = re.sub(r"[^A-Z0-9]+", " ", text).split()
    joined: list[str] = []
    in_initials = False
    for token in tokens:
        if len(token) == 1 and token.isalpha():
            # L G S -> LGS: spelled-out initials are one word.
            if in_initials:
                joined[-1] += token
            else:
                joined.append(token)
            in_initials = True
            continue
        in_initials = False
        joined.append(_ABBREVIATIONS.get(token, token))
    while len(joined) > 1 and joined[-1] in _LEGAL_FORMS:
        joined.pop()
    return " ".join(joined) or name.strip().upper()
