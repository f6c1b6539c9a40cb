"""The agent evaluation: versioned buyer questions, the facts their answers must hold, a runner.

The dataset (``evals/datasets/agent_questions.jsonl``, one case per line, versioned by the
sidecar ``agent_questions.meta.json``) is written against the sample data, not against the
agent's planner, so it measures how the agent generalises. Each case is a thread of user
turns; the runner sends them through ``agent.run_turn`` in a fresh thread and scores:

- ``tool_accuracy``: share of cases whose expected tools were all called, per turn, and no
  forbidden tool was called in any turn;
- ``fact_recall``: share of all facts found in the answers;
- ``pass_rate``: share of cases with both.

Facts are checked against the final answer (``absent`` facts against every answer of the
thread). Numeric facts are computed from the organisation's own store at evaluation time,
read-only and under row-level security, so they follow the data rather than a typed copy.
A turn that raises is recorded as the case's error and fails the case; it never stops the run.

Evals are not tests: the scores are between 0 and 1, ``THRESHOLD`` is the bar a release
should clear, and the report records the model and settings it was measured with.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
import math
import re
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.settings import Settings
from store.db import Database, TenantSession
from store.suppliers import supplier_key

DATASETS = Path(__file__).resolve().parent / "datasets"
DEFAULT_DATASET = DATASETS / "agent_questions.jsonl"
AS_OF = dt.date(2026, 6, 1)
"""The date the sample's questions are asked on (the sample's last letting is 2026-05-07)."""

THRESHOLD = 0.6
"""The pass rate a release of the agent should reach on the holdout split."""

USER_ID = "eval"
SPLITS = ("dev", "holdout")
TOOL_NAMES = (
    "search_items",
    "price_history",
    "predict_price",
    "compare_quotes",
    "should_cost",
    "detect_anomalies",
    "forecast_price",
    "check_price_increase",
    "negotiation_advice",
    "supplier_scorecard",
    "erp_lookup",
    "draft_counter_offer",
)
"""The tools a case may expect or forbid."""

_SQL_TIMEOUT_MS = 20_000


# --------------------------------------------------------------------------- dataset schema


class _Fact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    note: str | None = Field(default=None, description="What the fact stands for, for readers.")


class TextFact(_Fact):
    """A regular expression (case-insensitive) the answer must contain, or must not.

    ``sql`` instead of ``pattern`` computes the pattern from the store: one text value,
    e.g. "no purchase orders" wording when the table is empty and the PO numbers otherwise.
    """

    kind: Literal["text"]
    pattern: str | None = None
    sql: str | None = None
    absent: bool = Field(default=False, description="True: no answer of the thread may match.")

    @model_validator(mode="after")
    def _one_source(self) -> TextFact:
        if (self.pattern is None) == (self.sql is None):
            raise ValueError("a text fact has exactly one of pattern and sql")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return self


class NumberFact(_Fact):
    """A number the answer must state, within a tolerance.

    ``sql`` is run read-only in the organisation's tenant session (``:as_of`` is bound to
    the evaluation date); every non-null value of its result, in any row or column, is an
    acceptable alternative (ties, or the same figure in dollars or percent). ``value`` is
    only for arithmetic on numbers given in the question itself.
    """

    kind: Literal["number"]
    sql: str | None = None
    value: float | None = None
    rel_tol: float = Field(default=0.005, ge=0, le=1)
    abs_tol: float = Field(default=0.005, ge=0)

    @model_validator(mode="after")
    def _one_source(self) -> NumberFact:
        if (self.value is None) == (self.sql is None):
            raise ValueError("a number fact has exactly one of sql and value")
        return self


class NameFact(_Fact):
    """A supplier the answer must name; ``sql`` returns the stored name.

    The name matches on its normalised key (punctuation, case and legal form ignored), or on
    the key without a trailing generic word ("Milestone" for MILESTONE CONTRACTORS) when
    what is left is still distinctive.
    """

    kind: Literal["name"]
    sql: str


Fact = Annotated[TextFact | NumberFact | NameFact, Field(discriminator="kind")]


class AgentCase(BaseModel):
    """One buyer conversation and what its answers must show.

    ``expect_tools`` has one list per turn; each entry must be called during that turn
    (``"a|b"``: at least one of them). ``forbid_tools`` apply to every turn.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    split: Literal["dev", "holdout"]
    turns: list[str] = Field(min_length=1)
    expect_tools: list[list[str]]
    forbid_tools: list[str] = Field(default_factory=list)
    facts: list[Fact] = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)

    @field_validator("turns")
    @classmethod
    def _non_empty_turns(cls, turns: list[str]) -> list[str]:
        if any(not t.strip() for t in turns):
            raise ValueError("a turn is empty")
        return turns

    @model_validator(mode="after")
    def _tools_known(self) -> AgentCase:
        if len(self.expect_tools) != len(self.turns):
            raise ValueError("expect_tools needs one list per turn")
        for entry in (e for per_turn in self.expect_tools for e in per_turn):
            unknown = [name for name in entry.split("|") if name not in TOOL_NAMES]
            if unknown:
                raise ValueError(f"unknown tool(s) {unknown} in expect_tools")
        unknown = [name for name in self.forbid_tools if name not in TOOL_NAMES]
        if unknown:
            raise ValueError(f"unknown tool(s) {unknown} in forbid_tools")
        clash = {
            name for per_turn in self.expect_tools for e in per_turn if "|" not in e for name in [e]
        } & set(self.forbid_tools)
        if clash:
            raise ValueError(f"tools both expected and forbidden: {sorted(clash)}")
        return self


@dataclass(frozen=True)
class AgentDataset:
    """The cases with the version they were published under."""

    name: str
    version: str
    sha256: str
    recorded_sha256: str | None
    path: Path
    cases: tuple[AgentCase, ...]

    @property
    def version_matches(self) -> bool:
        """True when the file is the one its version was recorded for."""
        return self.recorded_sha256 == self.sha256


class DatasetError(ValueError):
    """The dataset file or its sidecar is malformed."""


def meta_path(dataset_path: Path) -> Path:
    """The sidecar holding a dataset's version (``x.jsonl`` -> ``x.meta.json``)."""
    return dataset_path.with_name(f"{dataset_path.stem}.meta.json")


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_dataset(path: Path = DEFAULT_DATASET) -> AgentDataset:
    """Read and validate a dataset and its version sidecar."""
    cases: list[AgentCase] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            case = AgentCase.model_validate_json(line)
        except ValidationError as exc:
            raise DatasetError(f"{path.name} line {number}: {exc}") from None
        if case.id in seen:
            raise DatasetError(f"{path.name} line {number}: duplicate id {case.id!r}")
        seen.add(case.id)
        cases.append(case)
    sidecar = meta_path(path)
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{sidecar.name}: {exc}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("version"), str):
        raise DatasetError(f"{sidecar.name}: needs a string 'version'")
    recorded = meta.get("sha256")
    return AgentDataset(
        name=str(meta.get("name", path.stem)),
        version=meta["version"],
        sha256=file_sha256(path),
        recorded_sha256=recorded if isinstance(recorded, str) else None,
        path=path,
        cases=tuple(cases),
    )


# --------------------------------------------------------------------------- reading answers

# Dates, item codes (703-06029, 401-000047) and RFQ codes (B -40276-A) hold digits that are
# not figures; they are blanked before numbers are read.
_NOT_FIGURES = re.compile(
    r"\b\d{4}-\d{2}-\d{2}\b|\b\d{3}-\d{5,6}\b|\b[A-Z]{1,2} ?- ?\d{4,6}-[A-Z]\b", re.IGNORECASE
)
_FIGURE = re.compile(
    r"(?<![\w.,])"
    r"((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)"
    # "M" for millions only when attached ("$2.5M"); "9.5mm" is a size, not money.
    r"(?:(k|m|bn)(?![a-z])|\s+(thousand|million|billion)\b)?",
    re.IGNORECASE,
)
_SCALE = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9}


def parse_numbers(answer: str) -> list[float]:
    """Every figure an answer states, as floats.

    ``$1,234.56`` -> 1234.56, ``USD 45.00/TON`` -> 45.0, ``12.5%`` -> 12.5 (percentages
    are read as written, so percent facts are expressed in percent), ``1.2k`` -> 1200,
    ``$2.5M`` and ``2.5 million`` -> 2500000. Signs are dropped: facts compare magnitudes,
    since "down 3%" and "-3%" say the same. Dates, item codes and RFQ codes are skipped.
    """
    cleaned = _NOT_FIGURES.sub(" ", answer)
    numbers: list[float] = []
    for match in _FIGURE.finditer(cleaned):
        digits, suffix, word = match.groups()
        value = float(digits.replace(",", ""))
        scale = (suffix or word or "").lower()
        numbers.append(value * _SCALE.get(scale, 1.0))
    return numbers


def number_found(
    answer_numbers: Sequence[float], expected: Sequence[float], *, rel_tol: float, abs_tol: float
) -> bool:
    """True when some figure of the answer is within tolerance of some expected value."""
    return any(
        # The epsilon keeps the bounds inclusive: 1.80 for 1.795 at half a cent.
        math.isclose(abs(got), abs(want), rel_tol=rel_tol, abs_tol=abs_tol + 1e-9)
        for want in expected
        for got in answer_numbers
    )


_GENERIC_TAIL = frozenset(
    {
        "CONSTRUCTION",
        "CONSTRUCTORS",
        "CONTRACTOR",
        "CONTRACTORS",
        "CONTRACTING",
        "COMPANY",
        "COMPANIES",
        "GROUP",
        "PAVING",
        "ASSOCIATES",
    }
)


def name_keys(stored_name: str) -> list[str]:
    """The normalised forms of a supplier name an answer may use."""
    key = supplier_key(stored_name)
    keys = [key]
    tokens = key.split()
    while len(tokens) > 1 and tokens[-1] in _GENERIC_TAIL:
        tokens.pop()
    short = " ".join(tokens)
    # A lone short word ("HIS", "FORCE") is too common to stand for the supplier.
    if short != key and (len(tokens) >= 2 or len(short) >= 6):
        keys.append(short)
    return keys


def name_found(answer: str, stored_name: str) -> bool:
    """True when the answer names the supplier (see ``name_keys``)."""
    normalised = f" {supplier_key(answer)} "
    return any(f" {key} " in normalised for key in name_keys(stored_name))


# --------------------------------------------------------------------------- facts


@dataclass
class FactResult:
    """One fact: what was expected (resolved from the store) and whether it was found."""

    kind: str
    note: str | None
    expected: list[Any]
    absent: bool = False
    found: bool = False
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "kind": self.kind,
            "note": self.note,
            "expected": self.expected,
            "absent": self.absent,
            "found": self.found,
            "error": self.error,
        }

    def check(self, final_answer: str, all_answers: Sequence[str]) -> bool:
        """Score the fact against the thread's answers and remember the outcome."""
        if self.error is not None:
            self.found = False
        elif self.kind == "text" and self.absent:
            self.found = not any(
                re.search(str(self.expected[0]), a, re.IGNORECASE | re.DOTALL) for a in all_answers
            )
        elif self.kind == "text":
            self.found = bool(
                re.search(str(self.expected[0]), final_answer, re.IGNORECASE | re.DOTALL)
            )
        elif self.kind == "name":
            self.found = any(name_found(final_answer, str(n)) for n in self.expected)
        else:
            raise AssertionError("number facts are checked by check_number")
        return self.found

    def check_number(self, final_answer: str, *, rel_tol: float, abs_tol: float) -> bool:
        """Score a number fact against the final answer."""
        self.found = self.error is None and number_found(
            parse_numbers(final_answer),
            [float(v) for v in self.expected],
            rel_tol=rel_tol,
            abs_tol=abs_tol,
        )
        return self.found


@contextmanager
def read_only_session(database: Database, org_id: uuid.UUID) -> Iterator[Session]:
    """A tenant session that cannot write and is always rolled back."""
    session = TenantSession(bind=database.service_engine, expire_on_commit=False)
    session.info["org_id"] = org_id
    try:
        session.execute(text("SET LOCAL transaction_read_only = on"))
        session.execute(text(f"SET LOCAL statement_timeout = {_SQL_TIMEOUT_MS}"))
        yield session
    finally:
        session.rollback()
        session.close()


def _query_values(session: Session, sql: str, as_of: dt.date) -> list[Any]:
    params = {"as_of": as_of} if ":as_of" in sql else {}
    with session.begin_nested():
        rows = session.execute(text(sql), params).all()
    return [value for row in rows for value in row if value is not None]


def _as_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise TypeError(f"not a number: {value!r}")
    return float(value)


def resolve_fact(
    session: Session, fact: TextFact | NumberFact | NameFact, as_of: dt.date
) -> FactResult:
    """Compute what a fact expects from the store (errors are recorded, not raised)."""
    result = FactResult(kind=fact.kind, note=fact.note, expected=[])
    try:
        if isinstance(fact, TextFact):
            result.absent = fact.absent
            if fact.pattern is not None:
                result.expected = [fact.pattern]
            else:
                values = _query_values(session, cast(str, fact.sql), as_of)
                if len(values) != 1 or not isinstance(values[0], str):
                    raise ValueError(f"expected one text value, got {values!r}")
                re.compile(values[0])
                result.expected = values
        elif isinstance(fact, NumberFact):
            if fact.value is not None:
                result.expected = [fact.value]
            else:
                result.expected = [
                    _as_number(v) for v in _query_values(session, cast(str, fact.sql), as_of)
                ]
                if not result.expected:
                    raise ValueError("the query returned no number")
        else:
            result.expected = [str(v) for v in _query_values(session, fact.sql, as_of)]
            if not result.expected:
                raise ValueError("the query returned no name")
    except (SQLAlchemyError, ValueError, TypeError, re.error) as exc:
        result.error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
    return result


def resolve_facts(
    database: Database, org_id: uuid.UUID, case: AgentCase, as_of: dt.date
) -> list[FactResult]:
    """Resolve every fact of a case in one read-only tenant session."""
    with read_only_session(database, org_id) as session:
        return [resolve_fact(session, fact, as_of) for fact in case.facts]


# --------------------------------------------------------------------------- the agent's face


class ToolCallLike(Protocol):
    """A tool call as ``run_turn`` reports it."""

    @property
    def name(self) -> str: ...

    @property
    def args(self) -> Mapping[str, Any]: ...


class TurnResultLike(Protocol):
    """What ``run_turn`` returns."""

    @property
    def answer(self) -> str: ...

    @property
    def tool_calls(self) -> Sequence[ToolCallLike]: ...

    @property
    def thread_id(self) -> str: ...

    @property
    def mode(self) -> str: ...


class TurnFn(Protocol):
    """The signature of ``agent.run_turn``."""

    def __call__(
        self,
        message: str,
        /,
        *,
        database: Database,
        org_id: uuid.UUID,
        user_id: str,
        thread_id: str | None = None,
        as_of: dt.date | None = None,
        settings: Settings | None = None,
    ) -> TurnResultLike: ...


def default_turn() -> TurnFn:
    """``agent.run_turn``, imported only when an evaluation runs."""
    module = importlib.import_module("agent")
    return cast(TurnFn, module.run_turn)


# --------------------------------------------------------------------------- scoring


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


@dataclass
class CaseResult:
    """How one case went."""

    id: str
    split: str
    tags: list[str]
    turns: list[str]
    answers: list[str] = field(default_factory=list)
    tool_calls: list[list[dict[str, Any]]] = field(default_factory=list)
    missing_tools: list[str] = field(default_factory=list)
    forbidden_called: list[str] = field(default_factory=list)
    facts: list[FactResult] = field(default_factory=list)
    error: str | None = None
    modes: list[str] = field(default_factory=list)
    turn_seconds: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def tools_ok(self) -> bool:
        """Expected tools called, nothing forbidden, no turn failed."""
        return self.error is None and not self.missing_tools and not self.forbidden_called

    @property
    def facts_found(self) -> int:
        """Facts found in the answers."""
        return sum(f.found for f in self.facts)

    @property
    def missing_facts(self) -> list[str]:
        """The facts not found, described."""
        return [
            f"{'absent ' if f.absent else ''}{f.kind} {f.note or ''}: {f.expected!r}"
            + (f" (error: {f.error})" if f.error else "")
            for f in self.facts
            if not f.found
        ]

    @property
    def passed(self) -> bool:
        """Tools right and every fact found."""
        return self.tools_ok and self.facts_found == len(self.facts)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "id": self.id,
            "split": self.split,
            "tags": self.tags,
            "passed": self.passed,
            "tools_ok": self.tools_ok,
            "facts_found": self.facts_found,
            "facts_total": len(self.facts),
            "missing_tools": self.missing_tools,
            "forbidden_called": self.forbidden_called,
            "missing_facts": self.missing_facts,
            "error": self.error,
            "turns": self.turns,
            "answers": self.answers,
            "answer": self.answers[-1] if self.answers else None,
            "tool_calls": self.tool_calls,
            "facts": [f.to_json() for f in self.facts],
            "modes": self.modes,
            "turn_seconds": [round(s, 3) for s in self.turn_seconds],
            "seconds": round(self.seconds, 3),
        }


def _score_tools(case: AgentCase, result: CaseResult) -> None:
    for index, expected in enumerate(case.expect_tools):
        called = (
            {c["name"] for c in result.tool_calls[index]}
            if index < len(result.tool_calls)
            else set()
        )
        for entry in expected:
            if not called & set(entry.split("|")):
                result.missing_tools.append(f"turn {index + 1}: {entry}")
    called_anywhere = {c["name"] for per_turn in result.tool_calls for c in per_turn}
    result.forbidden_called = sorted(called_anywhere & set(case.forbid_tools))


def _score_facts(case: AgentCase, result: CaseResult) -> None:
    complete = result.error is None and len(result.answers) == len(case.turns)
    final = result.answers[-1] if complete else ""
    for fact, outcome in zip(case.facts, result.facts, strict=True):
        if not complete:
            outcome.found = False  # a thread that broke off shows nothing, not even an absence
        elif isinstance(fact, NumberFact):
            outcome.check_number(final, rel_tol=fact.rel_tol, abs_tol=fact.abs_tol)
        else:
            outcome.check(final, result.answers)


def run_case(
    case: AgentCase,
    *,
    turn: TurnFn,
    database: Database,
    org_id: uuid.UUID,
    as_of: dt.date,
    settings: Settings | None,
    user_id: str = USER_ID,
) -> CaseResult:
    """Run one case in a fresh thread and score it."""
    started = time.perf_counter()
    result = CaseResult(id=case.id, split=case.split, tags=list(case.tags), turns=list(case.turns))
    # Facts are resolved before the turns so that what the agent writes (drafts) cannot move them.
    result.facts = resolve_facts(database, org_id, case, as_of)
    thread_id: str | None = None
    for index, message in enumerate(case.turns):
        turn_started = time.perf_counter()
        try:
            reply = turn(
                message,
                database=database,
                org_id=org_id,
                user_id=user_id,
                thread_id=thread_id,
                as_of=as_of,
                settings=settings,
            )
            answer = str(reply.answer)
            calls = [
                {"name": str(c.name), "args": _json_safe(dict(c.args))} for c in reply.tool_calls
            ]
            thread_id = str(reply.thread_id)
            mode = str(reply.mode)
        except Exception as exc:  # a failing turn is scored; it must not end the run
            result.turn_seconds.append(time.perf_counter() - turn_started)
            result.error = f"turn {index + 1}: {type(exc).__name__}: {exc}"
            break
        result.turn_seconds.append(time.perf_counter() - turn_started)
        result.answers.append(answer)
        result.tool_calls.append(calls)
        result.modes.append(mode)
    _score_tools(case, result)
    _score_facts(case, result)
    result.seconds = time.perf_counter() - started
    return result


# --------------------------------------------------------------------------- the report


@dataclass
class AgentEvalReport:
    """Scores between 0 and 1, the cases behind them, and what they were measured with."""

    cases: int
    tool_accuracy: float
    fact_recall: float
    pass_rate: float
    details: list[CaseResult]
    meta: dict[str, Any]
    threshold: float = THRESHOLD

    @property
    def passed(self) -> bool:
        """True when the pass rate reaches the threshold."""
        return self.cases > 0 and self.pass_rate >= self.threshold

    def to_json(self) -> dict[str, Any]:
        """The scores at the top level, with ``details`` and ``meta``."""
        return {
            "cases": self.cases,
            "tool_accuracy": self.tool_accuracy,
            "fact_recall": self.fact_recall,
            "pass_rate": self.pass_rate,
            "details": [d.to_json() for d in self.details],
            "meta": self.meta,
        }


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def model_record(settings: Settings, modes: Sequence[str]) -> dict[str, Any]:
    """The model and settings an evaluation ran with (never a secret)."""
    seen = sorted(set(modes))
    mode = seen[0] if len(seen) == 1 else ("mixed" if seen else None)
    provider: str | None = None
    model: str | None = None
    endpoint: str | None = None
    if settings.azure_openai_endpoint and settings.azure_openai_api_key is not None:
        provider, model = "azure-openai", settings.azure_openai_deployment
        endpoint = settings.azure_openai_endpoint
    elif settings.openai_api_key is not None:
        provider = "openai-compatible" if settings.openai_base_url else "openai"
        model, endpoint = settings.openai_model, settings.openai_base_url
    return {
        "mode": mode,
        "modes_seen": seen,
        "llm_configured": settings.llm_configured,
        "provider": provider if mode != "offline" else None,
        "model": model if mode != "offline" else None,
        "endpoint": endpoint if mode != "offline" else None,
        "llm_timeout_seconds": settings.llm_timeout_seconds,
    }


def _breakdown(
    details: Sequence[CaseResult], key: Callable[[CaseResult], Sequence[str]]
) -> dict[str, Any]:
    groups: dict[str, list[CaseResult]] = {}
    for detail in details:
        for name in key(detail):
            groups.setdefault(name, []).append(detail)
    return {
        name: {
            "cases": len(group),
            "tool_accuracy": _share(sum(d.tools_ok for d in group), len(group)),
            "pass_rate": _share(sum(d.passed for d in group), len(group)),
        }
        for name, group in sorted(groups.items())
    }


def _describe(function: object) -> str:
    module = getattr(function, "__module__", "?")
    return f"{module}.{getattr(function, '__qualname__', type(function).__name__)}"


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], 3)


def evaluate_agent(
    *,
    database: Database,
    org_id: uuid.UUID,
    dataset_path: Path = DEFAULT_DATASET,
    split: str | None = None,
    as_of: dt.date = AS_OF,
    turn: TurnFn | None = None,
    settings: Settings | None = None,
    case_ids: Sequence[str] | None = None,
) -> AgentEvalReport:
    """Run the dataset's cases (one split, or some ids) through the agent and score them."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    dataset = load_dataset(dataset_path)
    cases = [c for c in dataset.cases if split is None or c.split == split]
    if case_ids is not None:
        wanted = set(case_ids)
        cases = [c for c in cases if c.id in wanted]
    run = turn or default_turn()
    started_at = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    details = [
        run_case(c, turn=run, database=database, org_id=org_id, as_of=as_of, settings=settings)
        for c in cases
    ]
    seconds = time.perf_counter() - started
    facts_total = sum(len(d.facts) for d in details)
    pass_rate = _share(sum(d.passed for d in details), len(details))
    turn_times = [s for d in details for s in d.turn_seconds]
    by_case = {c.id: c for c in cases}
    meta: dict[str, Any] = {
        "dataset": {
            "name": dataset.name,
            "version": dataset.version,
            "sha256": dataset.sha256,
            "version_matches": dataset.version_matches,
            "path": dataset.path.name,
        },
        "split": split,
        "as_of": as_of.isoformat(),
        "threshold": THRESHOLD,
        "passed": bool(details) and pass_rate >= THRESHOLD,
        "turn_function": _describe(run),
        "settings": model_record(
            settings or database.settings, [m for d in details for m in d.modes]
        ),
        "started_at": started_at.isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "turns": len(turn_times),
        "turn_seconds": {
            "mean": round(statistics.fmean(turn_times), 3) if turn_times else None,
            "p50": _percentile(turn_times, 0.5),
            "p95": _percentile(turn_times, 0.95),
            "max": round(max(turn_times), 3) if turn_times else None,
        },
        "errors": sum(d.error is not None for d in details),
        "fact_errors": sum(f.error is not None for d in details for f in d.facts),
        "facts": facts_total,
        "by_split": _breakdown(details, lambda d: [d.split]),
        "by_tag": _breakdown(details, lambda d: d.tags),
        "by_tool": _breakdown(
            details,
            lambda d: sorted({e for per_turn in by_case[d.id].expect_tools for e in per_turn}),
        ),
    }
    return AgentEvalReport(
        cases=len(details),
        tool_accuracy=_share(sum(d.tools_ok for d in details), len(details)),
        fact_recall=_share(sum(d.facts_found for d in details), facts_total),
        pass_rate=pass_rate,
        details=details,
        meta=meta,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Evaluate the agent on an organisation (``python -m evals.agent --org demo``)."""
    import argparse

    from core.settings import get_settings
    from store import orgs

    parser = argparse.ArgumentParser(prog="python -m evals.agent", description=main.__doc__)
    parser.add_argument(
        "--org", default=None, help="organisation holding the sample (default: settings)"
    )
    parser.add_argument("--split", choices=SPLITS, default=None)
    parser.add_argument(
        "--case", action="append", dest="cases", help="only this case id (repeatable)"
    )
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--out", type=Path, default=None, help="write the full JSON report here")
    args = parser.parse_args(argv)
    settings = get_settings()
    database = Database(settings)
    try:
        with database.owner_session() as session:
            org_id = orgs.get_org(session=session, name=args.org or settings.default_org).id
        report = evaluate_agent(
            database=database,
            org_id=org_id,
            dataset_path=args.dataset,
            split=args.split,
            case_ids=args.cases,
        )
    finally:
        database.dispose()
    payload = report.to_json()
    if args.out:
        args.out.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    summary = {k: payload[k] for k in ("cases", "tool_accuracy", "fact_recall", "pass_rate")}
    summary["meta"] = {
        k: payload["meta"][k] for k in ("dataset", "split", "threshold", "passed", "settings")
    }
    print(json.dumps(summary, indent=2, default=str))
    return 0 if report.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
