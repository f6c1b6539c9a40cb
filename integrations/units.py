"""Units of measure as each ERP spells them, both ways.

Reading, an ERP's code is resolved through its own table first (SAP's commercial "ST"
is a piece) and then the catalogue's spellings, which include the UN/ECE codes. Writing,
the ERP's own spelling is used when the sync saw it; otherwise the code it would read
back as the same unit.
"""

from __future__ import annotations

from store.units import UnitCatalog, UnitInfo

# ERP-internal unit codes the catalogue's spellings do not cover, by system: SAP's
# commercial codes differ from its ISO codes for a few units.
SYSTEM_UNITS: dict[str, dict[str, str]] = {
    "sap": {"TO": "t", "ST": "ea", "PAA": "ea", "KAR": "ea", "FT": "ft", "YD": "yd"},
    "ebs": {"EACH": "ea", "TON": "ton", "POUND": "lb"},
    "d365": {"PCS": "ea"},
}


def resolve_erp_unit(units: UnitCatalog, system: str, spelling: str) -> UnitInfo | None:
    """The catalogue unit an ERP's unit code means, or None when it is unknown."""
    own = SYSTEM_UNITS.get(system, {}).get(spelling.strip().upper())
    return units.resolve(own or spelling)


def erp_spelling(system: str, unit_code: str) -> str:
    """How ``system`` spells the catalogue unit ``unit_code`` when no record showed it.

    The first code of the system's own table that means the unit ("ST" for a piece in
    SAP), else the catalogue code in upper case, the ISO-style form the ERPs accept.
    """
    for spelling, code in SYSTEM_UNITS.get(system, {}).items():
        if code == unit_code:
            return spelling
    return unit_code.upper()
