"""Keep the Oracle path honest: the SQL must be what Oracle 12c+ accepts, values bound."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from core.errors import ConfigurationError
from integrations.ebs import connector as connector_module
from integrations.ebs import create_ebs_engine, queries
from integrations.ebs.settings import EbsSettings, load_ebs_settings

# What PostgreSQL accepts and Oracle does not (or answers differently), with the reason.
FORBIDDEN: list[tuple[str, str]] = [
    (r"::", "PostgreSQL cast"),
    (r"\bILIKE\b", "PostgreSQL-only operator"),
    (r"\bLIMIT\b", "Oracle has FETCH FIRST n ROWS ONLY"),
    (r"\bRETURNING\b", "Oracle needs RETURNING ... INTO with out-binds"),
    (r"\b(?:TRUE|FALSE)\b", "Oracle SQL (before 23c) has no boolean literals"),
    (r"%s|%\(|%d", "driver-style formatting: use :name binds"),
    (r"[{}]", "an unfilled template hole"),
    (r"\b(?:GREATEST|LEAST)\s*\(", "Oracle returns NULL if any argument is NULL"),
    (r"\bNOW\s*\(|\bSYSDATE\b", "database-specific clock: bind the time"),
    (r"\bON\s+CONFLICT\b|\bnextval\b|\bSERIAL\b", "PostgreSQL-only"),
    (r"\bIS\s+(?:NOT\s+)?DISTINCT\s+FROM\b", "Oracle (before 23c) lacks it"),
    (r"\b(?:FROM|JOIN)\s+[\w.$#]+\s+AS\s", "Oracle refuses AS before a table alias"),
    (r"\)\s+AS\s+\w+\s+(?:ON|WHERE|JOIN|LEFT|ORDER)\b", "Oracle refuses AS before an alias"),
    (r"\"", "quoted identifiers change case rules between the two"),
    (r";", "oracledb refuses a trailing semicolon"),
    (r"\bOFFSET\b", "keyset paging, not OFFSET"),
]


def problems(sql: str) -> list[str]:
    """Name every forbidden construct in ``sql``."""
    found = [reason for pattern, reason in FORBIDDEN if re.search(pattern, sql, re.IGNORECASE)]
    # Every SELECT reads from a table (Oracle has no FROM-less SELECT outside DUAL).
    if len(re.findall(r"\bSELECT\b", sql, re.I)) > len(re.findall(r"\bFROM\b", sql, re.I)):
        found.append("SELECT without FROM")
    return found


def all_statement_texts() -> dict[str, str]:
    """Every statement in every variant the settings can select."""
    texts: dict[str, str] = {}
    for owner in (None, "APPS"):
        for units in (False, True):
            for master in (False, True):
                built = queries.build_statements(
                    owner=owner, filter_operating_units=units, item_master=master
                )
                for name, statement in built.all().items():
                    texts[f"{name}[{owner},{units},{master}]"] = statement.text
    return texts


def test_the_checker_catches_postgres_only_sql() -> None:
    bad = {
        "SELECT x::numeric FROM t": "PostgreSQL cast",
        "SELECT * FROM t WHERE a ILIKE :p": "PostgreSQL-only operator",
        "SELECT a FROM t LIMIT 5": "Oracle has FETCH FIRST n ROWS ONLY",
        "INSERT INTO t (a) VALUES (:a) RETURNING id": "Oracle needs RETURNING ... INTO",
        "SELECT a FROM t WHERE flag = true": "Oracle SQL (before 23c)",
        "SELECT a FROM t WHERE b = %s": "driver-style formatting",
        "SELECT a FROM t WHERE b = %(b)s": "driver-style formatting",
        "SELECT a FROM po_lines_all AS l": "Oracle refuses AS before a table alias",
        "SELECT GREATEST(a, b) FROM t": "Oracle returns NULL",
        "SELECT 1": "SELECT without FROM",
    }
    for sql, reason in bad.items():
        assert any(p.startswith(reason) for p in problems(sql)), sql


@pytest.mark.parametrize(("name", "sql"), sorted(all_statement_texts().items()))
def test_statement_is_portable(name: str, sql: str) -> None:
    assert problems(sql) == [], name
    # Binds are :name placeholders; an id after a colon is never a formatted value.
    assert set(re.findall(r"(?<![:\w]):(\w+)", sql)) <= {
        "full_read", "since", "after", "page_size", "org_ids", "master_org_id",
        "document_type", "supplier_code", "batch_id", "interface_source_code", "org_id",
        "preparer_id", "item_segment1", "quantity", "unit_price", "unit_of_measure",
        "currency_code", "suggested_vendor_id", "suggested_vendor_name", "need_by_date",
        "destination_organization_code", "note_to_buyer", "now", "contract_number",
        "line_num", "po_line_id", "old_unit_price",
    }  # fmt: skip


def test_reads_are_keyset_paged() -> None:
    for name, sql in all_statement_texts().items():
        if name.split("[")[0] in {"suppliers", "items", "po_lines", "contract_lines",
                                  "quotation_lines"}:  # fmt: skip
            assert re.search(r"> :after\s", sql), name
            assert re.search(r"ORDER BY [\w.]+\s+FETCH FIRST :page_size ROWS ONLY$", sql), name


def _strings_built_at_runtime(path: Path) -> list[str]:
    """f-strings, %-formatting and .format() calls in a module."""
    tree = ast.parse(path.read_text())
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            found.append(f"f-string at line {node.lineno}")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            found.append(f"% formatting at line {node.lineno}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
        ):
            found.append(f".format() at line {node.lineno}")
    return found


def test_sql_is_never_formatted_with_values() -> None:
    # queries.py builds text only from its own constants and the checked owner name.
    assert _strings_built_at_runtime(Path(queries.__file__)) == []
    # The connector holds no SQL of its own: every statement comes from queries.py.
    tree = ast.parse(Path(connector_module.__file__).read_text())
    sql = re.compile(
        r"\bSELECT\b.*\bFROM\b|\bINSERT INTO\b|\bUPDATE \w+ SET\b|\bDELETE FROM\b", re.S
    )
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id != "text", f"text() at line {node.lineno}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert not sql.search(node.value), node.value


def test_the_owner_prefix_is_a_plain_identifier() -> None:
    assert queries.owner_prefix(None) == ""
    assert queries.owner_prefix("APPS") == "APPS."
    for bad in ("APPS; DROP TABLE x", "a.b", "1apps", "apps--", ""):
        with pytest.raises(ValueError, match="plain identifier"):
            queries.owner_prefix(bad)
        if bad:
            with pytest.raises(ValidationError):
                EbsSettings(schema=bad)


def test_settings_read_the_ebs_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EBS_URL", "oracle+oracledb://scott:tiger@ebs.example:1521/?service_name=X")
    monkeypatch.setenv("EBS_OPERATING_UNITS", "[204, 205]")
    monkeypatch.setenv("EBS_SCHEMA", "APPS")
    monkeypatch.setenv("EBS_FETCH_SIZE", "250")
    monkeypatch.setenv("EBS_TIMEOUT_SECONDS", "12.5")
    settings = EbsSettings()
    assert settings.url is not None
    assert "tiger" not in repr(settings)
    assert settings.operating_units == [204, 205]
    assert settings.schema_owner == "APPS"
    assert settings.fetch_size == 250
    assert settings.timeout_seconds == 12.5
    monkeypatch.setenv("EBS_URL", "scott:tiger@ebs-host:1521")
    with pytest.raises(ConfigurationError) as info:
        load_ebs_settings()
    assert "EBS_URL" in str(info.value)
    assert "tiger" not in str(info.value)


def test_there_is_no_working_default_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EBS_URL", raising=False)
    assert EbsSettings(_env_file=None).url is None


def test_statements_compile_for_oracle_with_named_binds() -> None:
    engine = create_ebs_engine(
        EbsSettings(url="oracle+oracledb://scott:secret@ebs.invalid:1521/?service_name=EBSPROD")
    )  # no connection is made until a statement runs
    try:
        assert (engine.dialect.name, engine.dialect.driver) == ("oracle", "oracledb")
        assert engine.dialect.paramstyle == "named"
        assert engine.dialect.coerce_to_decimal is True  # type: ignore[attr-defined]
        assert engine.dialect.arraysize == 1000  # type: ignore[attr-defined]
        for name, sql in all_statement_texts().items():
            compiled = str(text(sql).compile(dialect=engine.dialect))
            assert "%(" not in compiled, name
            assert ":page_size" in compiled or "page_size" not in sql, name
    finally:
        engine.dispose()
