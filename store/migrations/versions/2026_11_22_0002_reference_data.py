"""Load reference data: units of measure with exact conversions, their spellings, currencies.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (code, name, dimension, units of the dimension's base in one of it, spellings).
# Base units: kg, m, m2, m3, ea, ls, h. Factors are exact by definition (NIST SP 811);
# US customary units are the US survey-independent international ones (1959).
# Spellings are matched after upper-casing and removing spaces, dots, dashes, underscores.
UNITS: list[tuple[str, str, str, str, list[str]]] = [
    # mass
    ("kg", "kilogram", "mass", "1", ["KGS", "KILO", "KILOS", "KILOGRAM", "KILOGRAMS", "KGM"]),
    ("g", "gram", "mass", "0.001", ["GR", "GRAM", "GRAMS", "GRM"]),
    ("mg", "milligram", "mass", "0.000001", ["MGM"]),
    ("t", "metric tonne", "mass", "1000", ["TNE", "TONNE", "TONNES", "MT", "METRICTON"]),
    ("lb", "pound", "mass", "0.45359237", ["LBS", "LBR", "POUND", "POUNDS"]),
    ("oz", "ounce", "mass", "0.028349523125", ["ONZ", "OUNCE", "OUNCES"]),
    ("ton", "short ton (2000 lb)", "mass", "907.18474", ["TONS", "SHORTTON", "STN", "NT"]),
    ("lton", "long ton (2240 lb)", "mass", "1016.0469088", ["LONGTON", "LTN"]),
    ("cwt", "hundredweight (100 lb)", "mass", "45.359237", ["HUNDREDWEIGHT"]),
    # length
    ("m", "metre", "length", "1", ["MTR", "METER", "METRE", "METERS", "METRES", "LM"]),
    ("mm", "millimetre", "length", "0.001", ["MMT", "MILLIMETER", "MILLIMETRE"]),
    ("cm", "centimetre", "length", "0.01", ["CMT", "CENTIMETER", "CENTIMETRE"]),
    ("km", "kilometre", "length", "1000", ["KMT", "KILOMETER", "KILOMETRE"]),
    ("in", "inch", "length", "0.0254", ["INH", "INCH", "INCHES"]),
    ("ft", "foot (linear foot)", "length", "0.3048", ["LF", "LFT", "LINFT", "FOT", "FOOT", "FEET"]),
    ("yd", "yard", "length", "0.9144", ["YRD", "YARD", "YARDS", "LY"]),
    ("mi", "mile", "length", "1609.344", ["SMI", "MILE", "MILES"]),
    # area
    ("m2", "square metre", "area", "1", ["SQM", "SQMT", "MTK", "M²"]),
    ("cm2", "square centimetre", "area", "0.0001", ["SQCM", "CMK"]),
    ("mm2", "square millimetre", "area", "0.000001", ["SQMM", "MMK"]),
    ("in2", "square inch", "area", "0.00064516", ["SQIN", "INK"]),
    ("ft2", "square foot", "area", "0.09290304", ["SF", "SFT", "SQFT", "FTK", "FT²"]),
    ("yd2", "square yard", "area", "0.83612736", ["SY", "SYS", "SQY", "SQYD", "YDK", "YD²"]),
    ("sq", "roofing square (100 ft2)", "area", "9.290304", ["SQUARE", "SQUARES"]),
    ("acre", "acre", "area", "4046.8564224", ["AC", "ACR", "ACRES"]),
    ("ha", "hectare", "area", "10000", ["HAR", "HECTARE", "HECTARES"]),
    # volume
    ("m3", "cubic metre", "volume", "1", ["CUM", "CBM", "MTQ", "M³"]),
    ("l", "litre", "volume", "0.001", ["LT", "LTR", "LITER", "LITRE", "LITERS", "LITRES"]),
    ("ml", "millilitre", "volume", "0.000001", ["MLT", "MILLILITER", "MILLILITRE"]),
    ("in3", "cubic inch", "volume", "0.000016387064", ["CUIN", "INQ"]),
    ("ft3", "cubic foot", "volume", "0.028316846592", ["CF", "CFT", "CUFT", "FTQ", "FT³"]),
    ("yd3", "cubic yard", "volume", "0.764554857984", ["CY", "CYS", "CUYD", "YDQ", "YD³"]),
    ("gal", "US gallon", "volume", "0.003785411784", ["GLL", "GALLON", "GALLONS", "GALS"]),
    ("bf", "board foot", "volume", "0.002359737216", ["FBM", "BDFT", "BOARDFOOT"]),
    ("mbf", "thousand board feet", "volume", "2.359737216", ["MFBM"]),
    # count
    (
        "ea",
        "each",
        "count",
        "1",
        [
            "EACH",
            "PC",
            "PCS",
            "PCE",
            "PIECE",
            "PIECES",
            "UNIT",
            "UNITS",
            "NO",
            "NOS",
            "ST",
            "C62",
            "H87",
        ],
    ),
    ("pr", "pair", "count", "2", ["PAIR", "PAIRS", "PRS"]),
    ("dz", "dozen", "count", "12", ["DOZ", "DZN", "DOZEN"]),
    ("hun", "hundred", "count", "100", ["HUNDRED", "CEN"]),
    ("th", "thousand", "count", "1000", ["THOUSAND", "MIL1000"]),
    # lump sum: a whole scope of work, convertible to nothing else
    ("ls", "lump sum", "lump_sum", "1", ["LUMPSUM", "LSUM"]),
    # time (labour, equipment rental)
    ("h", "hour", "time", "1", ["HR", "HRS", "HOUR", "HOURS", "HUR"]),
    ("day", "day", "time", "24", ["DAYS", "DAY"]),
    ("wk", "week", "time", "168", ["WEEK", "WEEKS", "WEE"]),
]

# ISO 4217 active codes: (code, name, minor units).
CURRENCIES: list[tuple[str, str, int]] = [
    ("AED", "UAE Dirham", 2),
    ("AFN", "Afghani", 2),
    ("ALL", "Lek", 2),
    ("AMD", "Armenian Dram", 2),
    ("AOA", "Kwanza", 2),
    ("ARS", "Argentine Peso", 2),
    ("AUD", "Australian Dollar", 2),
    ("AWG", "Aruban Florin", 2),
    ("AZN", "Azerbaijan Manat", 2),
    ("BAM", "Convertible Mark", 2),
    ("BBD", "Barbados Dollar", 2),
    ("BDT", "Taka", 2),
    ("BGN", "Bulgarian Lev", 2),
    ("BHD", "Bahraini Dinar", 3),
    ("BIF", "Burundi Franc", 0),
    ("BMD", "Bermudian Dollar", 2),
    ("BND", "Brunei Dollar", 2),
    ("BOB", "Boliviano", 2),
    ("BRL", "Brazilian Real", 2),
    ("BSD", "Bahamian Dollar", 2),
    ("BTN", "Ngultrum", 2),
    ("BWP", "Pula", 2),
    ("BYN", "Belarusian Ruble", 2),
    ("BZD", "Belize Dollar", 2),
    ("CAD", "Canadian Dollar", 2),
    ("CDF", "Congolese Franc", 2),
    ("CHF", "Swiss Franc", 2),
    ("CLP", "Chilean Peso", 0),
    ("CNY", "Yuan Renminbi", 2),
    ("COP", "Colombian Peso", 2),
    ("CRC", "Costa Rican Colon", 2),
    ("CUP", "Cuban Peso", 2),
    ("CVE", "Cabo Verde Escudo", 2),
    ("CZK", "Czech Koruna", 2),
    ("DJF", "Djibouti Franc", 0),
    ("DKK", "Danish Krone", 2),
    ("DOP", "Dominican Peso", 2),
    ("DZD", "Algerian Dinar", 2),
    ("EGP", "Egyptian Pound", 2),
    ("ERN", "Nakfa", 2),
    ("ETB", "Ethiopian Birr", 2),
    ("EUR", "Euro", 2),
    ("FJD", "Fiji Dollar", 2),
    ("FKP", "Falkland Islands Pound", 2),
    ("GBP", "Pound Sterling", 2),
    ("GEL", "Lari", 2),
    ("GHS", "Ghana Cedi", 2),
    ("GIP", "Gibraltar Pound", 2),
    ("GMD", "Dalasi", 2),
    ("GNF", "Guinean Franc", 0),
    ("GTQ", "Quetzal", 2),
    ("GYD", "Guyana Dollar", 2),
    ("HKD", "Hong Kong Dollar", 2),
    ("HNL", "Lempira", 2),
    ("HTG", "Gourde", 2),
    ("HUF", "Forint", 2),
    ("IDR", "Rupiah", 2),
    ("ILS", "New Israeli Sheqel", 2),
    ("INR", "Indian Rupee", 2),
    ("IQD", "Iraqi Dinar", 3),
    ("IRR", "Iranian Rial", 2),
    ("ISK", "Iceland Krona", 0),
    ("JMD", "Jamaican Dollar", 2),
    ("JOD", "Jordanian Dinar", 3),
    ("JPY", "Yen", 0),
    ("KES", "Kenyan Shilling", 2),
    ("KGS", "Som", 2),
    ("KHR", "Riel", 2),
    ("KMF", "Comorian Franc", 0),
    ("KPW", "North Korean Won", 2),
    ("KRW", "Won", 0),
    ("KWD", "Kuwaiti Dinar", 3),
    ("KYD", "Cayman Islands Dollar", 2),
    ("KZT", "Tenge", 2),
    ("LAK", "Lao Kip", 2),
    ("LBP", "Lebanese Pound", 2),
    ("LKR", "Sri Lanka Rupee", 2),
    ("LRD", "Liberian Dollar", 2),
    ("LSL", "Loti", 2),
    ("LYD", "Libyan Dinar", 3),
    ("MAD", "Moroccan Dirham", 2),
    ("MDL", "Moldovan Leu", 2),
    ("MGA", "Malagasy Ariary", 2),
    ("MKD", "Denar", 2),
    ("MMK", "Kyat", 2),
    ("MNT", "Tugrik", 2),
    ("MOP", "Pataca", 2),
    ("MRU", "Ouguiya", 2),
    ("MUR", "Mauritius Rupee", 2),
    ("MVR", "Rufiyaa", 2),
    ("MWK", "Malawi Kwacha", 2),
    ("MXN", "Mexican Peso", 2),
    ("MYR", "Malaysian Ringgit", 2),
    ("MZN", "Mozambique Metical", 2),
    ("NAD", "Namibia Dollar", 2),
    ("NGN", "Naira", 2),
    ("NIO", "Cordoba Oro", 2),
    ("NOK", "Norwegian Krone", 2),
    ("NPR", "Nepalese Rupee", 2),
    ("NZD", "New Zealand Dollar", 2),
    ("OMR", "Rial Omani", 3),
    ("PAB", "Balboa", 2),
    ("PEN", "Sol", 2),
    ("PGK", "Kina", 2),
    ("PHP", "Philippine Peso", 2),
    ("PKR", "Pakistan Rupee", 2),
    ("PLN", "Zloty", 2),
    ("PYG", "Guarani", 0),
    ("QAR", "Qatari Rial", 2),
    ("RON", "Romanian Leu", 2),
    ("RSD", "Serbian Dinar", 2),
    ("RUB", "Russian Ruble", 2),
    ("RWF", "Rwanda Franc", 0),
    ("SAR", "Saudi Riyal", 2),
    ("SBD", "Solomon Islands Dollar", 2),
    ("SCR", "Seychelles Rupee", 2),
    ("SDG", "Sudanese Pound", 2),
    ("SEK", "Swedish Krona", 2),
    ("SGD", "Singapore Dollar", 2),
    ("SHP", "Saint Helena Pound", 2),
    ("SLE", "Leone", 2),
    ("SOS", "Somali Shilling", 2),
    ("SRD", "Surinam Dollar", 2),
    ("SSP", "South Sudanese Pound", 2),
    ("STN", "Dobra", 2),
    ("SVC", "El Salvador Colon", 2),
    ("SYP", "Syrian Pound", 2),
    ("SZL", "Lilangeni", 2),
    ("THB", "Baht", 2),
    ("TJS", "Somoni", 2),
    ("TMT", "Turkmenistan New Manat", 2),
    ("TND", "Tunisian Dinar", 3),
    ("TOP", "Pa'anga", 2),
    ("TRY", "Turkish Lira", 2),
    ("TTD", "Trinidad and Tobago Dollar", 2),
    ("TWD", "New Taiwan Dollar", 2),
    ("TZS", "Tanzanian Shilling", 2),
    ("UAH", "Hryvnia", 2),
    ("UGX", "Uganda Shilling", 0),
    ("USD", "US Dollar", 2),
    ("UYU", "Peso Uruguayo", 2),
    ("UZS", "Uzbekistan Sum", 2),
    ("VES", "Bolivar Soberano", 2),
    ("VND", "Dong", 0),
    ("VUV", "Vatu", 0),
    ("WST", "Tala", 2),
    ("XAF", "CFA Franc BEAC", 0),
    ("XCD", "East Caribbean Dollar", 2),
    ("XOF", "CFA Franc BCEAO", 0),
    ("XPF", "CFP Franc", 0),
    ("YER", "Yemeni Rial", 2),
    ("ZAR", "Rand", 2),
    ("ZMW", "Zambian Kwacha", 2),
    ("ZWG", "Zimbabwe Gold", 2),
]


def _alias_key(spelling: str) -> str:
    # Same normalisation as store.units.alias_key; frozen here so the migration never drifts.
    out = spelling.upper()
    for ch in " ._-":
        out = out.replace(ch, "")
    return out


def upgrade() -> None:
    units = sa.table(
        "units",
        sa.column("code", sa.String),
        sa.column("name", sa.Text),
        sa.column("dimension", sa.String),
        sa.column("to_base", sa.Numeric),
    )
    aliases = sa.table(
        "unit_aliases", sa.column("alias", sa.String), sa.column("unit_code", sa.String)
    )
    currencies = sa.table(
        "currencies",
        sa.column("code", sa.String),
        sa.column("name", sa.Text),
        sa.column("minor_units", sa.Integer),
    )
    op.bulk_insert(
        units,
        [{"code": c, "name": n, "dimension": d, "to_base": Decimal(f)} for c, n, d, f, _ in UNITS],
    )
    alias_rows: dict[str, str] = {}
    for code, _name, _dim, _factor, spellings in UNITS:
        for spelling in [code, *spellings]:
            key = _alias_key(spelling)
            if alias_rows.setdefault(key, code) != code:
                raise ValueError(f"unit spelling {spelling!r} is claimed twice")
    op.bulk_insert(aliases, [{"alias": a, "unit_code": c} for a, c in sorted(alias_rows.items())])
    op.bulk_insert(currencies, [{"code": c, "name": n, "minor_units": m} for c, n, m in CURRENCIES])


def downgrade() -> None:
    op.execute("DELETE FROM unit_aliases")
    op.execute("DELETE FROM units")
    op.execute("DELETE FROM currencies")
