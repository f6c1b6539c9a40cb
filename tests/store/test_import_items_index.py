"""Item master and market index imports."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from store.importing.files import read_table
from store.importing.index import import_index, infer_frequency
from store.importing.mapping import ColumnMapping
from store.importing.service import import_file, read_series_info
from store.models import IndexObservation, IndexSeries, Item
from tests.conftest import SAMPLE, count

FRED = SAMPLE / "fred_ppi_construction_inputs_1947-01_2023-11.csv.gz"
WORLD_BANK = SAMPLE / "wb_pinksheet_construction_subset_1960-01_2024-11.csv.gz"


def test_items_import_validates_merges_attributes_and_is_idempotent(session, org_id, tmp_path):
    path = tmp_path / "items.csv"
    path.write_text(
        "item,description,category,unit,grade,bar_size\n"
        "REBAR-4,Reinforcing bar #4 epoxy coated,rebar,LBS,60,4\n"
        "REBAR-5,Reinforcing bar #5,rebar,lb,60,5\n"
        ",no code,rebar,LBS,60,5\n"
        "CONC-A,Class A concrete,ready-mix,C.Y.,,\n"
        "BAD-U,Something,misc,furlongs,,\n"
        "REBAR-4,again,rebar,LBS,60,4\n"
    )
    result = import_file(session=session, org_id=org_id, kind="items", path=path, actor="t")
    assert result.inserted == 3
    assert {r.line_no: r.reason for r in result.rejections} == {
        4: "item is missing",
        6: "unknown unit 'furlongs'",
        7: "duplicate of line 2 (same item code)",
    }
    rebar = session.scalars(select(Item).where(Item.code == "REBAR-4")).one()
    assert (rebar.name, rebar.unit, rebar.category) == (
        "Reinforcing bar #4 epoxy coated",
        "lb",
        "rebar",
    )
    assert rebar.attributes == {"grade": 60, "bar_size": 4}

    # A later file with other columns adds attributes and keeps the old ones.
    update = tmp_path / "items2.csv"
    update.write_text("item,coating\nREBAR-4,epoxy\nREBAR-5,\n")
    second = import_file(session=session, org_id=org_id, kind="items", path=update, actor="t")
    assert (second.inserted, second.updated, second.unchanged) == (0, 1, 1)
    session.refresh(rebar)
    assert rebar.attributes == {"grade": 60, "bar_size": 4, "coating": "epoxy"}
    assert rebar.unit == "lb"


def test_real_fred_and_world_bank_series_import(session, org_id):
    info = read_series_info(SAMPLE / "series_names.csv")
    fred = import_index(
        session=session,
        org_id=org_id,
        table=read_table(FRED),
        mapping=ColumnMapping(),
        actor="t",
        series_info=info,
    )
    assert fred.rejected == 0
    assert fred.rows_read == 923  # 1947-01 .. 2023-11
    steel = session.scalars(select(IndexSeries).where(IndexSeries.code == "WPU101704")).one()
    assert steel.name == "Hot-rolled bars, plates and structural shapes"
    assert steel.frequency == "monthly"
    last = session.scalars(
        select(IndexObservation)
        .where(IndexObservation.series_id == steel.id)
        .order_by(IndexObservation.obs_date.desc())
    ).first()
    assert last is not None
    assert last.obs_date == dt.date(2023, 11, 1)
    assert isinstance(last.value, Decimal)

    wb = import_index(
        session=session,
        org_id=org_id,
        table=read_table(WORLD_BANK),
        mapping=ColumnMapping(),
        actor="t",
        series_info=info,
    )
    assert wb.rejected == 0
    copper = session.scalars(select(IndexSeries).where(IndexSeries.code == "COPPER")).one()
    assert copper.unit == "$/mt"
    # Blank cells (series starting later) are not observations and not errors.
    assert count(session, "index_observations") == fred.inserted + wb.inserted
    again = import_index(
        session=session,
        org_id=org_id,
        table=read_table(FRED),
        mapping=ColumnMapping(),
        actor="t",
        series_info=info,
    )
    assert (again.inserted, again.updated) == (0, 0)


def test_index_bad_cells_are_reported_and_the_rest_of_the_row_kept(session, org_id, tmp_path):
    path = tmp_path / "idx.csv"
    path.write_text(
        "date,STEEL,CEMENT\n"
        "2024-01-01,100.5,200\n"
        "2024-02-01,n/a,201\n"
        "not-a-date,101,202\n"
        "2024-03-01,,203\n"
        "2024-03-01,102,204\n"
    )
    result = import_file(session=session, org_id=org_id, kind="index", path=path, actor="t")
    reasons = {r.line_no: r.reason for r in result.rejections}
    assert set(reasons) == {3, 4, 6}
    assert "STEEL is not a number: 'n/a'" in reasons[3]
    assert "other values were imported" in reasons[3]
    assert "date is not a date" in reasons[4]
    assert "date repeats an earlier line" in reasons[6]
    # 2024-01 (2), 2024-02 (cement only), 2024-03 (cement only; steel blank)
    assert result.inserted == 4


def test_frequency_is_inferred_from_spacing():
    import pandas as pd

    monthly = pd.Series(["2024-01-01", "2024-02-01", "2024-03-01"])
    weekly = pd.Series(["2024-01-01", "2024-01-08", "2024-01-15"])
    assert infer_frequency(monthly) == "monthly"
    assert infer_frequency(weekly) == "weekly"
