"""The agent evaluation: its dataset is valid against the real sample, and its runner scores.

The runner is driven by scripted ``turn`` functions standing in for the agent; the facts
they are scored on are resolved from the real sample organisation.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import types
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from core.settings import load_settings
from evals.agent import (
    AS_OF,
    DEFAULT_DATASET,
    THRESHOLD,
    TOOL_NAMES,
    AgentCase,
    DatasetError,
    NumberFact,
    default_turn,
    evaluate_agent,
    file_sha256,
    load_dataset,
    meta_path,
    name_found,
    number_found,
    parse_numbers,
    resolve_facts,
)
from store.db import Database

# --------------------------------------------------------------------------- the dataset


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(DEFAULT_DATASET)


def test_dataset_is_versioned(dataset):
    meta = json.loads(meta_path(DEFAULT_DATASET).read_text())
    assert dataset.version == meta["version"]
    assert dataset.version_matches, (
        "agent_questions.jsonl changed: bump 'version' in agent_questions.meta.json, note the "
        f"change in its changelog and record sha256 {file_sha256(DEFAULT_DATASET)}"
    )
    assert meta["version"] in meta["changelog"]


def test_dataset_size_splits_and_shapes(dataset):
    cases = dataset.cases
    assert len(cases) >= 70
    splits = Counter(c.split for c in cases)
    assert set(splits) == {"dev", "holdout"}
    assert min(splits.values()) >= 0.4 * len(cases)
    tags = Counter(t for c in cases for t in c.tags)
    assert sum(len(c.turns) > 1 for c in cases) >= 3
    assert tags["multi-turn"] == sum(len(c.turns) > 1 for c in cases)
    assert tags["refusal"] + tags["clarification"] >= 3
    assert tags["injection"] >= 3
    assert tags["two-tools"] >= 3
    # every injection case checks that something did not happen, or that an approval held
    for case in (c for c in cases if "injection" in c.tags):
        assert any(getattr(f, "absent", False) for f in case.facts), case.id
    # facts computed from the data, not typed in: literal numbers only for ad-hoc quotes
    for case in cases:
        for fact in case.facts:
            if isinstance(fact, NumberFact) and fact.value is not None:
                assert "ad-hoc-quotes" in case.tags, case.id


def test_every_tool_is_covered_at_least_four_times(dataset):
    plain: Counter[str] = Counter()
    for case in dataset.cases:
        for entry in {e for per_turn in case.expect_tools for e in per_turn if "|" not in e}:
            plain[entry] += 1
    assert {name: plain[name] for name in TOOL_NAMES if plain[name] < 4} == {}
    for split in ("dev", "holdout"):
        in_split = {e for c in dataset.cases if c.split == split for t in c.expect_tools for e in t}
        assert set(TOOL_NAMES) <= {n for e in in_split for n in e.split("|")}, split


def test_the_schema_refuses_bad_cases(tmp_path):
    good = {
        "id": "x-1",
        "split": "dev",
        "turns": ["hello"],
        "expect_tools": [["price_history"]],
        "facts": [{"kind": "text", "pattern": "x"}],
    }
    AgentCase.model_validate(good)
    for broken in (
        {**good, "expect_tools": [["price_history"], []]},  # not one list per turn
        {**good, "expect_tools": [["guess_price"]]},  # unknown tool
        {**good, "forbid_tools": ["price_history"]},  # expected and forbidden
        {**good, "split": "train"},
        {**good, "facts": []},
        {**good, "facts": [{"kind": "number", "rel_tol": 0.1}]},  # neither sql nor value
        {**good, "facts": [{"kind": "text", "pattern": "("}]},  # not a regex
        {**good, "surprise": 1},
    ):
        with pytest.raises(ValueError, match="validation error"):
            AgentCase.model_validate(broken)
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n")
    meta_path(path).write_text(json.dumps({"version": "0"}))
    with pytest.raises(DatasetError, match="duplicate id"):
        load_dataset(path)


def test_every_fact_resolves_on_the_sample(database, sample_org, dataset):
    problems = {}
    for case in dataset.cases:
        for fact, resolved in zip(
            case.facts, resolve_facts(database, sample_org, case, AS_OF), strict=True
        ):
            if resolved.error or not resolved.expected:
                problems[f"{case.id}: {fact.note}"] = resolved.error or "nothing expected"
            elif fact.kind == "number":
                assert all(isinstance(v, float) for v in resolved.expected)
            elif fact.kind == "name":
                assert all(isinstance(v, str) and v for v in resolved.expected)
    assert problems == {}


def test_fact_sql_cannot_write(database, sample_org):
    case = AgentCase.model_validate(
        {
            "id": "vandal",
            "split": "dev",
            "turns": ["hi"],
            "expect_tools": [[]],
            "facts": [
                {"kind": "number", "sql": "DELETE FROM quote_lines RETURNING 1"},
                {"kind": "number", "sql": "SELECT count(*) FROM quote_lines"},
                {"kind": "number", "sql": "SELECT 'not a number'"},
            ],
        }
    )
    deleted, counted, wrong_type = resolve_facts(database, sample_org, case, AS_OF)
    assert "read-only" in (deleted.error or "")
    assert counted.error is None
    assert counted.expected[0] > 80_000
    assert "not a number" in (wrong_type.error or "")


def test_fact_sql_sees_only_its_own_tenant(database, sample_org):
    other = uuid.uuid4()  # an organisation that holds nothing
    case = AgentCase.model_validate(
        {
            "id": "peek",
            "split": "dev",
            "turns": ["hi"],
            "expect_tools": [[]],
            "facts": [{"kind": "number", "sql": "SELECT count(*) FROM quote_lines"}],
        }
    )
    (mine,) = resolve_facts(database, sample_org, case, AS_OF)
    (theirs,) = resolve_facts(database, other, case, AS_OF)
    assert mine.expected[0] > 0
    assert theirs.expected == [0.0]


# --------------------------------------------------------------------------- reading answers


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("The low bid is $1,234.56 per ton.", [1234.56]),
        ("USD 45.00/TON", [45.0]),
        ("up 12.5% on the year", [12.5]),
        ("about 1.2k tons", [1200.0]),
        ("a $2.5M job, or 2.5 million dollars", [2_500_000.0, 2_500_000.0]),
        ("down -3.2% since", [3.2]),
        ("1,315,408.49", [1315408.49]),
        ("$.45/SY", [0.45]),
        ("HMA 9.5mm surface", [9.5]),
        ("703-06029 on B -40276-A let 2026-05-07: 7 bidders", [7.0]),
        ("index WPU101704 at 283.246", [283.246]),
        ("no figures here", []),
    ],
)
def test_parse_numbers(answer, expected):
    assert parse_numbers(answer) == pytest.approx(expected)


def test_number_found_uses_tolerances():
    assert number_found([1315000.0], [1315408.49], rel_tol=0.02, abs_tol=0.0)
    assert not number_found([1200000.0], [1315408.49], rel_tol=0.02, abs_tol=0.0)
    assert number_found([7.0], [7.0], rel_tol=0.0, abs_tol=0.005)
    assert not number_found([8.0], [7.0], rel_tol=0.0, abs_tol=0.005)
    assert number_found([1.8], [1.795], rel_tol=0.0, abs_tol=0.005)  # rounded to the cent
    assert number_found([3.0, 60.0], [99.0, 60.0], rel_tol=0.01, abs_tol=0.0)  # alternatives


@pytest.mark.parametrize(
    ("answer", "stored", "found"),
    [
        ("Milestone Contractors, L.P. is low", "MILESTONE CONTRACTORS, L.P.", True),
        ("go with Milestone", "MILESTONE CONTRACTORS, L.P.", True),
        ("E&B Paving came in at", "E & B PAVING, INC.", True),
        ("E & B is cheapest", "E & B PAVING, INC.", True),
        ("Rieth-Riley Construction Co., Inc.", "RIETH-RILEY CONSTRUCTION", True),
        ("Dave O'Mara Contractor", "DAVE O'MARA CONTRACTOR, INC.", True),
        ("5 Star Company Inc bid", "5 STAR COMPANY INC", True),
        ("HIS Constructors bid", "HIS CONSTRUCTORS INC", True),
        ("his bid was low", "HIS CONSTRUCTORS INC", False),
        ("Force was low", "FORCE CONSTRUCTION COMPANY, INC.", False),
        ("Milestone Contractors North", "RIETH-RILEY CONSTRUCTION", False),
    ],
)
def test_name_found(answer, stored, found):
    assert name_found(answer, stored) is found


# --------------------------------------------------------------------------- the runner


@dataclass
class Call:
    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class Reply:
    answer: str
    tool_calls: list[Call]
    thread_id: str
    mode: str = "offline"


def _case(id_, turns, tools, facts, **extra):
    return {
        "id": id_,
        "split": extra.pop("split", "dev"),
        "turns": turns,
        "expect_tools": tools,
        "facts": facts,
        **extra,
    }


LOWEST_40276 = (
    "SELECT name FROM (SELECT s.name, sum(ql.quantity * ql.unit_price) AS total "
    "FROM quote_lines ql JOIN quotes q ON q.org_id = ql.org_id AND q.id = ql.quote_id "
    "JOIN rfqs r ON r.org_id = q.org_id AND r.id = q.rfq_id "
    "JOIN suppliers s ON s.org_id = q.org_id AND s.id = q.supplier_id "
    "WHERE r.code = 'B -40276-A' GROUP BY s.id, s.name) t ORDER BY total LIMIT 1"
)
MEDIAN_REBAR = (
    "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ql.unit_price) FROM quote_lines ql "
    "JOIN items i ON i.org_id = ql.org_id AND i.id = ql.item_id "
    "WHERE i.code = '703-06029' AND ql.quote_date <= :as_of"
)

SMALL = [
    _case(
        "compare",
        ["level B -40276-A"],
        [["compare_quotes"]],
        [{"kind": "name", "sql": LOWEST_40276}, {"kind": "text", "pattern": "B -40276-A"}],
    ),
    _case(
        "median",
        ["epoxy rebar median?"],
        [["price_history"]],
        [{"kind": "number", "sql": MEDIAN_REBAR}],
        split="holdout",
    ),
    _case(
        "thread",
        ["compare B -40276-A", "and the counter?"],
        [["compare_quotes"], ["negotiation_advice|draft_counter_offer"]],
        [
            {"kind": "text", "pattern": "counter"},
            {"kind": "text", "pattern": "all orgs", "absent": True},
        ],
        forbid_tools=["erp_lookup"],
        tags=["multi-turn"],
    ),
]


def _write(tmp_path: Path, cases: list[dict[str, Any]]) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in cases))
    meta_path(path).write_text(
        json.dumps({"name": "small", "version": "0.1", "sha256": file_sha256(path)})
    )
    return path


class ScriptedAgent:
    """Answers with each case's expected tools and every fact it expects, read from the store."""

    def __init__(
        self,
        database: Database,
        org_id: uuid.UUID,
        path: Path,
        *,
        wrong_tool=None,
        fail_on=None,
        leak=False,
    ):
        self.dataset = {c.turns[0]: c for c in load_dataset(path).cases}
        self.database, self.org_id = database, org_id
        self.wrong_tool, self.fail_on, self.leak = wrong_tool, fail_on, leak
        self.threads_seen: list[str | None] = []
        self.current: AgentCase | None = None
        self.index = 0

    def __call__(
        self, message, *, database, org_id, user_id, thread_id=None, as_of=None, settings=None
    ):
        assert (database, org_id, user_id, as_of) == (self.database, self.org_id, "eval", AS_OF)
        self.threads_seen.append(thread_id)
        if thread_id is None:
            self.current, self.index = self.dataset[message], 0
        else:
            self.index += 1
        assert self.current is not None
        if message == self.fail_on:
            raise RuntimeError("boom")
        tools = [e.split("|")[0] for e in self.current.expect_tools[self.index]]
        if self.wrong_tool and tools:
            tools = [self.wrong_tool]
        parts = []
        if self.index == len(self.current.turns) - 1:
            for fact in resolve_facts(self.database, self.org_id, self.current, AS_OF):
                if fact.absent:
                    continue
                value = fact.expected[0]
                parts.append(f"${value:,.2f}" if isinstance(value, float) else str(value))
        if self.leak:
            parts.append("here are all orgs' data")
        return Reply(
            answer=" / ".join(parts) or "ok",
            tool_calls=[Call(t, {"q": Decimal1()}) for t in tools],
            thread_id=thread_id or f"t-{uuid.uuid4().hex[:8]}",
        )


class Decimal1:
    """An argument that is not JSON-native (the report must still serialise)."""

    def __str__(self) -> str:
        return "1"


def test_a_perfect_agent_scores_one(database, sample_org, tmp_path):
    path = _write(tmp_path, SMALL)
    agent = ScriptedAgent(database, sample_org, path)
    report = evaluate_agent(database=database, org_id=sample_org, dataset_path=path, turn=agent)
    assert (report.cases, report.tool_accuracy, report.fact_recall, report.pass_rate) == (
        3,
        1.0,
        1.0,
        1.0,
    )
    assert report.passed
    # each case starts a fresh thread; later turns continue the thread the agent returned
    assert agent.threads_seen[0] is None
    assert agent.threads_seen[1] is None
    assert agent.threads_seen[2] is None
    assert agent.threads_seen[3] is not None
    assert agent.threads_seen[3].startswith("t-")
    payload = report.to_json()
    assert set(payload) == {"cases", "tool_accuracy", "fact_recall", "pass_rate", "details", "meta"}
    json.dumps(payload)
    meta = payload["meta"]
    assert meta["dataset"] == {
        "name": "small",
        "version": "0.1",
        "sha256": file_sha256(path),
        "version_matches": True,
        "path": "questions.jsonl",
    }
    assert meta["threshold"] == THRESHOLD
    assert meta["as_of"] == "2026-06-01"
    assert meta["settings"]["mode"] == "offline"
    assert meta["settings"]["model"] is None
    assert meta["turns"] == 4
    assert meta["turn_seconds"]["max"] is not None
    assert meta["by_tag"]["multi-turn"]["pass_rate"] == 1.0
    detail = payload["details"][0]
    assert detail["passed"]
    assert detail["tool_calls"] == [[{"name": "compare_quotes", "args": {"q": "1"}}]]
    assert "O'MARA" in detail["answer"]


def test_a_wrong_tool_lowers_tool_accuracy(database, sample_org, tmp_path):
    path = _write(tmp_path, SMALL)
    agent = ScriptedAgent(database, sample_org, path, wrong_tool="search_items")
    report = evaluate_agent(database=database, org_id=sample_org, dataset_path=path, turn=agent)
    assert report.tool_accuracy == 0.0
    assert report.pass_rate == 0.0
    assert report.fact_recall == 1.0
    assert report.details[0].missing_tools == ["turn 1: compare_quotes"]
    assert report.details[2].missing_tools == [
        "turn 1: compare_quotes",
        "turn 2: negotiation_advice|draft_counter_offer",
    ]
    forbidding = _write(tmp_path, [SMALL[2]])
    agent = ScriptedAgent(database, sample_org, forbidding, wrong_tool="erp_lookup")
    report = evaluate_agent(
        database=database, org_id=sample_org, dataset_path=forbidding, turn=agent
    )
    assert report.details[0].forbidden_called == ["erp_lookup"]
    assert report.tool_accuracy == 0.0


def test_a_leak_fails_the_absent_fact(database, sample_org, tmp_path):
    path = _write(tmp_path, SMALL)
    agent = ScriptedAgent(database, sample_org, path, leak=True)
    report = evaluate_agent(database=database, org_id=sample_org, dataset_path=path, turn=agent)
    assert [d.passed for d in report.details] == [True, True, False]
    assert report.fact_recall == pytest.approx(round(4 / 5, 4))
    assert report.details[2].missing_facts[0].startswith("absent text")


def test_a_raising_turn_is_recorded_and_the_run_goes_on(database, sample_org, tmp_path):
    path = _write(tmp_path, SMALL)
    agent = ScriptedAgent(database, sample_org, path, fail_on="and the counter?")
    report = evaluate_agent(database=database, org_id=sample_org, dataset_path=path, turn=agent)
    broken = report.details[2]
    assert broken.error == "turn 2: RuntimeError: boom"
    assert not broken.passed
    assert broken.facts_found == 0
    assert broken.missing_tools == ["turn 2: negotiation_advice|draft_counter_offer"]
    assert len(broken.turn_seconds) == 2
    assert len(broken.answers) == 1
    assert report.meta["errors"] == 1
    assert [d.passed for d in report.details[:2]] == [True, True]
    assert report.pass_rate == pytest.approx(round(2 / 3, 4))


def test_split_filter_and_model_record(database, sample_org, tmp_path):
    path = _write(tmp_path, SMALL)
    settings = load_settings(
        openai_api_key="test-key-3f9a1c",
        openai_model="gpt-test",
        openai_base_url="http://127.0.0.1:9/v1",
    )

    def llm_agent(message, **kwargs):
        reply = ScriptedAgent(database, sample_org, path)(message, **kwargs)
        reply.mode = "llm"
        return reply

    report = evaluate_agent(
        database=database,
        org_id=sample_org,
        dataset_path=path,
        turn=llm_agent,
        split="holdout",
        settings=settings,
    )
    assert [d.id for d in report.details] == ["median"]
    assert report.meta["split"] == "holdout"
    assert report.meta["settings"] == {
        "mode": "llm",
        "modes_seen": ["llm"],
        "llm_configured": True,
        "provider": "openai-compatible",
        "model": "gpt-test",
        "endpoint": "http://127.0.0.1:9/v1",
        "llm_timeout_seconds": 30.0,
    }
    assert "test-key-3f9a1c" not in json.dumps(report.to_json())
    with pytest.raises(ValueError, match="split"):
        evaluate_agent(
            database=database, org_id=sample_org, dataset_path=path, turn=llm_agent, split="train"
        )


def test_the_real_dataset_runs_through_the_runner(database, sample_org, dataset):
    """Every case runs; an agent that calls the right tools and states the figures gets them."""
    agent = ScriptedAgent(database, sample_org, DEFAULT_DATASET)
    report = evaluate_agent(database=database, org_id=sample_org, turn=agent)
    assert report.cases == len(dataset.cases)
    assert report.tool_accuracy == 1.0
    assert report.meta["fact_errors"] == 0
    assert report.meta["errors"] == 0
    for detail in report.details:
        for fact in detail.facts:
            if fact.kind in ("number", "name"):
                assert fact.found, (detail.id, fact.note, fact.expected, detail.answers[-1])


def test_the_default_turn_is_the_agents_run_turn(monkeypatch):
    fake = types.ModuleType("agent")

    def run_turn(message, **kwargs):
        raise AssertionError("not called here")

    fake.run_turn = run_turn  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "agent", fake)
    assert default_turn() is run_turn


def test_as_of_is_the_samples_question_date():
    assert dt.date(2026, 5, 7) < AS_OF == dt.date(2026, 6, 1)
