"""RUN_DAILY_JOB (reco.commands.v1): the route stage turns an operator's command into the date's JobRequested
— the same event `mercado recommend run` writes — to every shard, with a CommandResult, decided at the
command's event time; a job from a command gives exactly the recommendations of a requested one."""

from __future__ import annotations

from datetime import date

from processors import topics
from processors.recommendations import InProcessRecommendations, RecommendationsConfig
from processors.recommendations.calendar import TradingCalendar
from processors.recommendations.pipeline import recommendation_pipelines
from processors.recommendations.processor import RouteProcessor, Shards, input_key
from processors.recommendations.schedule import job_request
from tests.support.recommendations import run
from tests.unit.test_recommendations import DAYS, series, wave

CFG = RecommendationsConfig(shards=3)
CAL = TradingCalendar(CFG)
H = 3_600_000_000


def command(t: int, key: str, run_date: str, target: str = "daily-recommendations", kind: str = "RUN_DAILY_JOB"):
    return (topics.RECO_COMMANDS, "Command", {
        "event_id": f"cmd:{key}", "event_time": t, "idempotency_key": key, "actor": "ops", "kind": kind,
        "owner": "recommendations", "target": target, "params": {"run_date": run_date}, "body_sha256": "0" * 64})


def route(event) -> list:
    _topic, schema, record = event
    return RouteProcessor(input_key(schema, record), Shards(CFG.shards), CFG).on_event(schema, record)


def test_a_command_becomes_the_dates_job_request_to_every_shard_and_is_accepted() -> None:
    day = date(2024, 3, 4)  # a Monday
    cutoff = CAL.cutoff_us(day)
    event = command(cutoff + H, "run-1", "2024-03-04")
    assert input_key("Command", event[2]) == "daily-recommendations"
    out = route(event)
    requested = {**job_request(day, CFG, "manual")}
    assert [(e.topic, e.key, e.schema, e.record) for e in out[:-1]] == [
        (topics.RECO_INPUTS, key, "JobRequested", {**requested, "shard": i})
        for i, key in enumerate(Shards(CFG.shards).keys)]
    assert requested["event_id"] == "job:daily-recommendations:2024-03-04" and requested["trigger"] == "manual"
    assert {e.topic for e in out} <= set(recommendation_pipelines(CFG)[0].outputs)  # the worker writes them
    result = out[-1]
    assert (result.topic, result.key, result.schema) == (topics.COMMAND_RESULTS, "run-1", "CommandResult")
    assert result.record == {
        "event_id": "result:run-1", "event_time": cutoff + H, "idempotency_key": "run-1", "kind": "RUN_DAILY_JOB",
        "owner": "recommendations", "target": "daily-recommendations", "status": "ACCEPTED", "reason": None,
        "message": "run of 2024-03-04 requested (JobRequested job:daily-recommendations:2024-03-04)",
        "caused": ["job:daily-recommendations:2024-03-04"], "caused_by": "cmd:run-1",
    }


def test_rejections_are_decided_at_the_commands_event_time() -> None:
    monday = CAL.cutoff_us(date(2024, 3, 4))
    cases = [
        (command(monday - 1, "r1", "2024-03-04"), "cutoff-not-reached",
         f"the cutoff of 2024-03-04 ({monday} µs) has not come yet"),
        (command(monday, "r2", "2024-03-02"), "not-a-trading-day", "2024-03-02 is not a trading day (weekend)"),
        (command(monday, "r3", "2024-13-01"), "invalid-parameter",
         "run_date '2024-13-01' is not a date (YYYY-MM-DD)"),
        (command(monday, "r4", "2024-03-04", target="weekly"), "unknown-job",
         "no job weekly (this pipeline runs daily-recommendations)"),
        (command(monday, "r5", "2024-03-04", kind="SET_RISK_MODE"), "unknown-kind",
         "the recommendations pipeline does not handle SET_RISK_MODE"),
    ]
    for event, reason, message in cases:
        [result] = route(event)
        assert (result.record["status"], result.record["reason"], result.record["message"],
                result.record["caused"]) == ("REJECTED", reason, message, []), event
    [holiday] = route(command(monday, "r6", "2024-05-01"))  # Labour day in Argentina
    assert holiday.record["reason"] == "not-a-trading-day" and "2024-05-01 is not a trading day (" in \
        holiday.record["message"]


def test_a_commanded_run_gives_the_requested_runs_recommendations() -> None:
    history = series("GGAL", wave(40)) + series("YPFD", wave(40, 50.0))
    history.sort(key=lambda e: e[2]["event_time"])
    day = DAYS[40]
    requested = run([*history, (topics.JOB_REQUESTS, "JobRequested", job_request(day, CFG, "manual"))], CFG)
    commanded = run([*history, command(CAL.cutoff_us(day) + H, "run-2", day.isoformat())], CFG)
    recos = [e.record for e in requested if e.schema == "Recommendation"]
    assert len(recos) == 2
    assert [e.record for e in commanded if e.schema == "Recommendation"] == recos
    assert [e.record for e in commanded if e.schema == "JobRun"] == [
        e.record for e in requested if e.schema == "JobRun"]
    [result] = [e.record for e in commanded if e.schema == "CommandResult"]
    assert result["status"] == "ACCEPTED"
    # the same date asked again: the same JobRequested, which the shards skip (the date already ran)
    again = InProcessRecommendations(CFG)
    out = []
    for event in [*history, command(CAL.cutoff_us(day) + H, "a", day.isoformat()),
                  command(CAL.cutoff_us(day) + 2 * H, "b", day.isoformat())]:
        out.extend(again.feed(*event))
    assert len([e for e in out if e.schema == "JobRun"]) == len([e for e in requested if e.schema == "JobRun"])
