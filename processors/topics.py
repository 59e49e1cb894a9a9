"""Every topic name, declared once.

The processors emit to these names, the catalog (``streams/kafka/catalog.py``) gives each its Kafka
metadata (record types, key, partitions, retention), and everything else refers to them by constant.
``tests/unit/test_topics.py`` checks that no other module spells a topic name out.
"""

# inputs (written by the doors: mercado produce, backfill, feeds)
TICKS = "md.ticks.v1"
LISTINGS = "retail.listings.v1"
SCAN_SNAPSHOTS = "scanner.snapshots.v1"
ORDERS = "trading.orders.v1"
VENUE_HEALTH = "trading.venue-health.v1"

# market data (processors/marketdata)
BARS = "md.bars.v1"
GAPS = "md.gaps.v1"
INDICATORS = "md.indicators.v1"
QUALITY = "md.quality.v1"
LATE_TICKS = "md.late-ticks.v1"
MD_ALERTS = "md.alerts.v1"

# retail arbitrage (processors/retail)
NORMALIZED = "retail.listings.normalized.v1"
RETAIL_REJECTED = "retail.rejected.v1"
GLITCHES = "retail.glitches.v1"
BY_BLOCK = "retail.by-block.v1"
MATCHES = "retail.matches.v1"
OPPORTUNITIES = "retail.opportunities.v1"

# market-maker risk (processors/risk)
RISK_INPUTS = "risk.inputs.v1"
DECISIONS = "risk.order-decisions.v1"
BREAKERS = "risk.breakers.v1"
TRADING_STATE = "risk.trading-state.v1"
POSITIONS = "risk.positions.v1"
RISK_ALERTS = "risk.alerts.v1"

# paper venue (processors/venue): approvals and ticks together, then the order lifecycle to ORDERS
PAPER_INPUTS = "paper.inputs.v1"

# commands (gateway/commands.py writes them; the owning pipeline acts on them)
RISK_COMMANDS = "risk.commands.v1"
RECO_COMMANDS = "reco.commands.v1"
FEED_COMMANDS = "feeds.commands.v1"
FEEDS_SERVED = "feeds.served.v1"  # compacted: the venue and symbols each command-taking feed serves
COMMAND_RESULTS = "mercado.command-results.v1"

# stock scanner (processors/scanner)
SCAN_RESULTS = "scanner.results.v1"
SCAN_DELTAS = "scanner.deltas.v1"
SCAN_BOARDS = "scanner.boards.v1"
SCAN_ALERTS = "scanner.alerts.v1"
SCAN_TOP = "scanner.top.v1"
SCAN_REJECTED = "scanner.rejected.v1"
# daily recommendations (processors/recommendations)
DAILY_BARS = "reco.daily-bars.v1"
FUNDAMENTALS = "reco.fundamentals.v1"
MACRO = "reco.macro.v1"
SENTIMENT = "reco.sentiment.v1"
JOB_REQUESTS = "reco.job-requests.v1"
RECO_INPUTS = "reco.inputs.v1"
RECOMMENDATIONS = "reco.recommendations.v1"
JOB_RUNS = "reco.job-runs.v1"

# refused and undecodable messages, from every consumer
DEAD_LETTERS = "mercado.deadletter.v1"
