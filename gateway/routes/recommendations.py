"""The daily recommendations (processors/recommendations; migration 0008 and 0009): the latest
recommendation of each ticker (``latest_recommendations``), a ticker's history (``recommendation_history``),
one recommendation's analysis details (``analysis_details``) and the job's runs (``job_runs``).

Dates are the events' ``YYYY-MM-DD`` (``analysis_date``, ``run_date``: trading days in Buenos Aires), so
ranges here are of dates, inclusive at both ends, not of instants.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from gateway.models import AnalysisDetails, JobRunSummary, Page, RecommendationEntry, RecommendationLatest
from gateway.params import NAME, Paging, paging

router = APIRouter(prefix="/recommendations", tags=["recommendations"])
# BYMA tickers and CEDEARs: GGAL, YPFD, BRK.B, BMA
TICKER = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,15}$"
MAX_RANGE_DAYS = 3_700  # ten years of daily rows (pages cap each call)

Label = Annotated[Literal["BUY", "HOLD", "SELL"] | None, Query(description="Only this recommendation.")]
Market = Annotated[Literal["BYMA", "CEDEAR"] | None, Query(description="Only this market.")]
Ticker = Annotated[str, Path(pattern=TICKER, description="The ticker (e.g. GGAL).")]

LATEST_COLUMNS = """analysis_date, ticker, market, recommendation, total_score, confidence, technical_score,
       fundamental_score, macro_score, sentiment_score, current_price, target_price, risk_level, summary,
       last_bar_date, cutoff, inputs_hash, model_version, data_issues"""
LATEST_SQL = f"""
SELECT {LATEST_COLUMNS}
FROM latest_recommendations
WHERE ($1::text IS NULL OR recommendation = $1) AND ($2::float8 IS NULL OR total_score >= $2)
  AND ($3::float8 IS NULL OR total_score <= $3) AND ($4::text IS NULL OR market = $4)
ORDER BY total_score DESC, ticker LIMIT $5 OFFSET $6
"""
HISTORY_SQL = """
SELECT analysis_date, ticker, recommendation, total_score, confidence, current_price, target_price, risk_level,
       previous_recommendation, score_change
FROM recommendation_history
WHERE ticker = $1 AND ($2::text IS NULL OR analysis_date >= $2) AND ($3::text IS NULL OR analysis_date <= $3)
ORDER BY analysis_date LIMIT $4 OFFSET $5
"""
ONE_SQL = f"SELECT {LATEST_COLUMNS} FROM daily_recommendations WHERE ticker = $1 AND analysis_date = $2"
DETAILS_SQL = """
SELECT analysis_type, score, raw_data, indicators, metadata
FROM analysis_details WHERE ticker = $1 AND analysis_date = $2 ORDER BY analysis_type
"""
JOBS_SQL = """
SELECT job_name, run_date, start_time, end_time, status, shards_reported, shards, tickers_processed, errors_count,
       log_data, trigger, duration_ms
FROM job_runs
WHERE ($1::text IS NULL OR job_name = $1) AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR run_date >= $3) AND ($4::text IS NULL OR run_date <= $4)
ORDER BY run_date, job_name LIMIT $5 OFFSET $6
"""


def date_range(
    start: Annotated[dt.date | None, Query(description="From this date on (YYYY-MM-DD, inclusive).")] = None,
    end: Annotated[dt.date | None, Query(description="Up to this date (YYYY-MM-DD, inclusive).")] = None,
) -> tuple[str | None, str | None]:
    """The range as the events' date text (which sorts as the dates do)."""
    if start is not None and end is not None:
        if end < start:
            raise HTTPException(400, "end must not be before start")
        if (end - start).days > MAX_RANGE_DAYS:
            raise HTTPException(400, f"the range may span at most {MAX_RANGE_DAYS} days; page through shorter ranges")
    return (None if start is None else start.isoformat(), None if end is None else end.isoformat())


DateRange = Annotated[tuple[str | None, str | None], Depends(date_range)]


@router.get("/latest", response_model=Page[RecommendationLatest])
async def latest(
    request: Request, label: Label = None, market: Market = None,
    min_score: Annotated[float | None, Query(ge=0, le=100, description="total_score at least this.")] = None,
    max_score: Annotated[float | None, Query(ge=0, le=100, description="total_score at most this.")] = None,
    page: Paging = Depends(paging),
) -> dict:  # fmt: skip
    """The latest recommendation of each ticker, highest total score first."""
    if min_score is not None and max_score is not None and max_score < min_score:
        raise HTTPException(400, "max_score must not be below min_score")
    rows = await request.app.state.db.fetch(LATEST_SQL, label, min_score, max_score, market, page.limit + 1,
                                            page.offset)  # fmt: skip
    return page.page(rows)


@router.get("/tickers/{ticker}", response_model=Page[RecommendationEntry])
async def history(request: Request, ticker: Ticker, dates: DateRange, page: Paging = Depends(paging)) -> dict:
    """A ticker's recommendations over [start, end] (dates), oldest first, each with the previous label and
    the change of score (an empty page: no recommendation in the range)."""
    rows = await request.app.state.db.fetch(HISTORY_SQL, ticker, dates[0], dates[1], page.limit + 1, page.offset)
    return page.page(rows)


@router.get("/tickers/{ticker}/{analysis_date}", response_model=AnalysisDetails,
            responses={404: {"description": "no recommendation of the ticker on that date"}})  # fmt: skip
async def details(
    request: Request, ticker: Ticker,
    analysis_date: Annotated[dt.date, Path(description="The run's date (YYYY-MM-DD).")],
) -> dict:  # fmt: skip
    """One recommendation and its analysis details (technical, fundamental, macro, sentiment: the raw inputs,
    indicators, score and metadata of each)."""
    day = analysis_date.isoformat()
    row = await request.app.state.db.fetchrow(ONE_SQL, ticker, day)
    if row is None:
        raise HTTPException(404, f"no recommendation of {ticker} on {day}")
    analyses = await request.app.state.db.fetch(DETAILS_SQL, ticker, day)
    return {"recommendation": dict(row), "analyses": [dict(a) for a in analyses]}


@router.get("/jobs", response_model=Page[JobRunSummary])
async def jobs(
    request: Request, dates: DateRange,
    status: Annotated[Literal["running", "completed", "failed"] | None, Query(description="Only this status.")] = None,
    job: Annotated[str | None, Query(pattern=NAME, description="Only this job (e.g. daily-recommendations).")] = None,
    page: Paging = Depends(paging),
) -> dict:  # fmt: skip
    """The job's runs over [start, end] (run dates), oldest first: status once every shard reported, tickers
    processed, errors with their reasons, and the processing time of the slowest shard (``duration_ms``,
    from the live worker's ``mercado-processing-us`` header; null for a run no live worker timed)."""
    rows = await request.app.state.db.fetch(JOBS_SQL, job, status, dates[0], dates[1], page.limit + 1, page.offset)
    return page.page(rows)
