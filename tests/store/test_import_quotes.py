"""Quote import: every rejection reason, keeping good rows, idempotency, real INDOT data."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select, text

from core.errors import ImportFileError, InvalidInputError
from store.importing.files import read_table
from store.importing.mapping import ColumnMapping, load_mapping, parse_map_options
from store.importing.quotes import import_quotes
from store.importing.service import import_file
from store.models import ImportRejection, ImportRun, QuoteLine, Supplier
from tests.conftest import FIXTURES, SAMPLE, count

BAD_ROWS = FIXTURES / "quotes_with_bad_rows.csv"
INDOT = SAMPLE / "indot_bidtabs_2022-08_2026-05.csv.gz"

EXPECTED_REASONS = {
    4: "supplier is missing",
    5: "unit_price is negative",
    6: "quote_date is not a date",
    7: "quantity is not a number",
    8: "unknown currency 'XYZ'",
    9: "unknown unit 'BUCKETS'",
    10: "unknown incoterm 'XYZ'",
    11: "lead_time_days is below 0",
    12: "awarded is not yes/no",
    13: "quantity must be greater than zero",
    15: "has 15 fields where the header has 16",
    16: "duplicate of line 14",
}


def _import(session, org_id, path: Path, mapping: ColumnMapping | None = None, **kw):
    return import_file(
        session=session,
        org_id=org_id,
        kind="quotes",
        path=path,
        mapping=mapping or ColumnMapping(),
        actor="test",
        **kw,
    )


def test_every_bad_row_is_rejected_with_line_and_reason_and_good_rows_kept(
    session, org_id, tmp_path
):
    path = tmp_path / BAD_ROWS.name
    shutil.copy(BAD_ROWS, path)
    result = _import(session, org_id, path)

    got = {r.line_no: r.reason for r in result.rejections}
    assert set(got) == set(EXPECTED_REASONS)
    for line, reason in EXPECTED_REASONS.items():
        assert reason in got[line], (line, got[line])
    assert result.rows_read == 16
    assert result.inserted == 4
    assert count(session, "quote_lines") == 4

    # Rejections are kept with the run, and written beside the input.
    stored = session.scalars(
        select(ImportRejection).where(ImportRejection.import_run_id == result.run_id)
    ).all()
    assert {r.line_no for r in stored} == set(EXPECTED_REASONS)
    assert stored[0].raw  # the raw values survive
    assert result.rejected_file == tmp_path / "quotes_with_bad_rows.rejected.csv"
    with result.rejected_file.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["line"]) for r in rows] == sorted(EXPECTED_REASONS)
    assert rows[0]["reason"] == "supplier is missing"
    run = session.get(ImportRun, (org_id, result.run_id))
    assert run is not None
    assert (run.status, run.rows_rejected, run.rows_inserted) == ("succeeded", 12, 4)


def test_values_are_normalised_exactly(session, org_id, tmp_path):
    path = tmp_path / "q.csv"
    shutil.copy(BAD_ROWS, path)
    _import(session, org_id, path)
    lines = {(ql.unit, ql.unit_price): ql for ql in session.scalars(select(QuoteLine)).all()}
    # S.Y./SYS -> yd2, C.Y. -> yd3; "$1,198.23" -> Decimal exactly.
    assert {unit for unit, _ in lines} == {"yd2", "yd3"}
    assert ("yd3", Decimal("1198.23")) in lines
    force = lines[("yd3", Decimal("57.0"))]
    assert force.incoterm == "FOB"
    assert force.lead_time_days == 14
    assert force.valid_until == dt.date(2022, 9, 30)
    assert force.awarded is False
    assert force.attributes == {"pos": 2, "job_size": 2840907, "region": 5}
    assert isinstance(force.unit_price, Decimal)


def test_reimport_creates_no_duplicates_and_updates_changed_prices(session, org_id, tmp_path):
    path = tmp_path / "q.csv"
    shutil.copy(BAD_ROWS, path)
    first = _import(session, org_id, path)
    second = _import(session, org_id, path)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, first.inserted)
    assert count(session, "quote_lines") == first.inserted

    # A corrected price on a re-import updates the same line.
    text_ = path.read_text().replace(",57.0,USD", ",58.5,USD")
    path.write_text(text_)
    third = _import(session, org_id, path)
    assert (third.inserted, third.updated) == (0, 1)
    prices = set(session.scalars(select(QuoteLine.unit_price)).all())
    assert Decimal("58.5") in prices
    assert Decimal("57.0") not in prices


def test_near_duplicate_supplier_names_resolve_to_one_supplier(session, org_id, tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(
        "supplier,item,quote_date,quantity,unit_price,unit\n"
        '"CLR, INC.",A-1,2024-01-02,10,5,EA\n'
        "CLR INC.,A-1,2024-02-02,10,6,EA\n"
        "clr inc,A-1,2024-03-02,10,7,EA\n"
        '"L G S PLUMBING INC",A-1,2024-03-02,10,7,EA\n'
        '"LGS PLUMBING, INC.",A-1,2024-04-02,10,7,EA\n'
    )
    result = _import(session, org_id, path)
    assert result.inserted == 5
    names = session.scalars(select(Supplier.name).order_by(Supplier.name)).all()
    assert names == ["CLR, INC.", "L G S PLUMBING INC"]


def test_column_mapping_options_and_missing_columns(session, org_id, tmp_path):
    path = tmp_path / "mapped.csv"
    path.write_text(
        "Vendor;Part;Date;Qty;Price;UoM;Colour\n"
        "Acme;P-1;02/01/2024;5;1,5;EA;red\n"  # decimal comma is not a number here
        "Acme;P-1;02/03/2024;5;1.5;EA;blue\n"
    )
    with pytest.raises(ImportFileError, match="missing required column"):
        _import(session, org_id, path)
    mapping = parse_map_options(
        [
            "Vendor=supplier",
            "Part=item",
            "Date=quote_date",
            "Qty=quantity",
            "Price=unit_price",
            "UoM=unit",
        ]
    )
    mapping.date_format = "%d/%m/%Y"
    result = _import(session, org_id, path, mapping)
    assert result.inserted == 1
    assert result.rejections[0].line_no == 2
    assert "unit_price is not a number" in result.rejections[0].reason
    line = session.scalars(select(QuoteLine)).one()
    assert line.quote_date == dt.date(2024, 3, 2)
    assert line.attributes == {"colour": "blue"}
    with pytest.raises(InvalidInputError, match="expects 'Source Column=field'"):
        parse_map_options(["nonsense"])


def test_excel_file_is_imported_with_sheet_row_numbers(session, org_id, tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["supplier", "item", "quote_date", "quantity", "unit_price", "unit"])
    sheet.append(["Acme", "P-1", dt.datetime(2024, 1, 5), 10, 12.5, "LBS"])
    sheet.append(["Acme", "P-1", "not a date", 10, 12.5, "LBS"])
    sheet.append([None, None, None, None, None, None])
    sheet.append(["Beta", "P-1", dt.date(2024, 1, 6), 4, 99, "TON"])
    path = tmp_path / "quotes.xlsx"
    book.save(path)
    result = _import(session, org_id, path)
    assert result.inserted == 2
    assert [(r.line_no, r.reason.split(":")[0]) for r in result.rejections] == [
        (3, "quote_date is not a date")
    ]
    units = set(session.scalars(select(QuoteLine.unit)).all())
    assert units == {"lb", "ton"}


def test_unreadable_files_fail_clearly(session, org_id, tmp_path):
    with pytest.raises(ImportFileError, match="file not found"):
        _import(session, org_id, tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ImportFileError, match="empty file"):
        _import(session, org_id, empty)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("supplier,item\nM\xfcller,X\n".encode("latin-1"))
    with pytest.raises(ImportFileError, match="not UTF-8"):
        _import(session, org_id, latin)
    dupe = tmp_path / "dupe.csv"
    dupe.write_text("supplier,Supplier\nA,B\n")
    with pytest.raises(ImportFileError, match="repeats column"):
        _import(session, org_id, dupe)


def test_rejected_file_falls_back_when_input_folder_is_read_only(session, org_id, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "q.csv"
    shutil.copy(BAD_ROWS, path)
    folder.chmod(0o555)
    try:
        result = _import(session, org_id, path, rejected_dir=tmp_path / "rejected")
    finally:
        folder.chmod(0o755)
    assert result.rejected_file is not None
    if result.rejected_file.parent == folder:  # root ignores folder permissions
        pytest.skip("running as root: the read-only folder was writable")
    assert result.rejected_file.parent == tmp_path / "rejected"


def test_real_indot_bid_tabs_import_whole_and_idempotent(session, org_id):
    """The full real sample: 81,241 bid lines, two of them exact duplicates."""
    table = read_table(INDOT)
    mapping = load_mapping("indot_bidtabs")
    result = import_quotes(
        session=session, org_id=org_id, table=table, mapping=mapping, actor="test"
    )
    assert result.rows_read == 81_241
    assert result.inserted == 81_239
    assert {r.line_no for r in result.rejections} == {25_754, 25_756}
    assert all("duplicate of line" in r.reason for r in result.rejections)
    assert count(session, "suppliers") == 134
    assert count(session, "items") == 93
    assert count(session, "rfqs") == 1_396
    # S.Y. and SYS are one unit: no quote line keeps either spelling.
    units = set(session.scalars(text("SELECT DISTINCT unit FROM quote_lines")).all())
    assert units == {"ton", "yd3", "yd2", "lb"}
    # The same pay item under two descriptions is still one item.
    assert session.scalar(text("SELECT count(*) FROM items WHERE code = '301-12234'")) == 1

    again = import_quotes(
        session=session, org_id=org_id, table=table, mapping=mapping, actor="test"
    )
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 81_239)
    assert count(session, "quote_lines") == 81_239
