-- Retail arbitrage (processors/retail, seeds/retail-arbitrage-v5.md): tables for the retail events and the
-- views the seed's users read. The same in both storage modes: a few thousand events a day, plain tables.
--
-- Every match, opportunity and glitch event is kept as it came (immutable, keyed by event_id + event_time
-- like the tables of 0001); the current state — a live match, an open or closed opportunity — is derived
-- by the views from the event times, so it never depends on the order the sink wrote the rows in.
-- `retail_listings` is the exception: one row per listing, its latest observation (the highest
-- event_time wins, sinks/tables.retail.toml).

CREATE TABLE retail_listings (
    listing_key   text COLLATE "C" NOT NULL,
    retailer      text COLLATE "C" NOT NULL,
    sku           text NOT NULL,
    title         text NOT NULL,
    url           text,
    category      text NOT NULL,
    brand         text,
    model         text,
    model_code    text,
    storage_gb    integer,
    ram_gb        integer,
    color         text,
    current_price bigint NOT NULL,
    price_source  text NOT NULL,
    price_normal  bigint,
    price_offer   bigint,
    price_card    bigint,
    glitch_kinds  jsonb NOT NULL,
    event_id      text NOT NULL,
    event_time    timestamptz NOT NULL,
    observed_at   timestamptz NOT NULL,
    ingested_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (listing_key),
    CONSTRAINT retail_listings_price_positive CHECK (current_price > 0)
);
CREATE INDEX retail_listings_retailer ON retail_listings (retailer);

CREATE TABLE retail_matches (
    event_id       text COLLATE "C" NOT NULL,
    event_time     timestamptz NOT NULL,
    match_id       text COLLATE "C" NOT NULL,
    cause_event_id text NOT NULL,
    block_key      text NOT NULL,
    listing_a      jsonb NOT NULL,  -- the ListingQuote of each side, whole
    listing_b      jsonb NOT NULL,
    score          double precision NOT NULL,
    threshold      double precision NOT NULL,
    evidence       jsonb NOT NULL,
    listing_a_key  text COLLATE "C" GENERATED ALWAYS AS (listing_a ->> 'listing_key') STORED,
    a_retailer     text COLLATE "C" GENERATED ALWAYS AS (listing_a ->> 'retailer') STORED,
    a_title        text GENERATED ALWAYS AS (listing_a ->> 'title') STORED,
    a_price        bigint GENERATED ALWAYS AS ((listing_a ->> 'current_price')::bigint) STORED,
    listing_b_key  text COLLATE "C" GENERATED ALWAYS AS (listing_b ->> 'listing_key') STORED,
    b_retailer     text COLLATE "C" GENERATED ALWAYS AS (listing_b ->> 'retailer') STORED,
    b_title        text GENERATED ALWAYS AS (listing_b ->> 'title') STORED,
    b_price        bigint GENERATED ALWAYS AS ((listing_b ->> 'current_price')::bigint) STORED,
    ingested_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, event_time),
    CONSTRAINT retail_matches_score_valid CHECK (score >= 0 AND score <= 1),
    CONSTRAINT retail_matches_two_retailers CHECK (listing_a ->> 'retailer' <> listing_b ->> 'retailer')
);
CREATE INDEX retail_matches_match_time ON retail_matches (match_id, event_time);

CREATE TABLE retail_match_reprices (
    event_id            text COLLATE "C" NOT NULL,
    event_time          timestamptz NOT NULL,
    match_id            text COLLATE "C" NOT NULL,
    cause_event_id      text NOT NULL,
    block_key           text NOT NULL,
    changed_listing_key text NOT NULL,
    listing_a           jsonb NOT NULL,
    listing_b           jsonb NOT NULL,
    score               double precision NOT NULL,
    a_price             bigint GENERATED ALWAYS AS ((listing_a ->> 'current_price')::bigint) STORED,
    b_price             bigint GENERATED ALWAYS AS ((listing_b ->> 'current_price')::bigint) STORED,
    ingested_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, event_time),
    CONSTRAINT retail_match_reprices_score_valid CHECK (score >= 0 AND score <= 1)
);
CREATE INDEX retail_match_reprices_match_time ON retail_match_reprices (match_id, event_time);

CREATE TABLE retail_match_retractions (
    event_id       text COLLATE "C" NOT NULL,
    event_time     timestamptz NOT NULL,
    match_id       text COLLATE "C" NOT NULL,
    cause_event_id text NOT NULL,
    block_key      text NOT NULL,
    listing_a_key  text NOT NULL,
    listing_b_key  text NOT NULL,
    reason         text NOT NULL,
    vetoed_by      text,
    score          double precision,
    ingested_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, event_time)
);
CREATE INDEX retail_match_retractions_match_time ON retail_match_retractions (match_id, event_time);

CREATE TABLE retail_glitches (
    event_id              text COLLATE "C" NOT NULL,
    event_time            timestamptz NOT NULL,
    source_event_id       text NOT NULL,
    listing_key           text COLLATE "C" NOT NULL,
    retailer              text COLLATE "C" NOT NULL,
    sku                   text NOT NULL,
    title                 text NOT NULL,
    category              text NOT NULL,
    kind                  text NOT NULL,
    severity              text NOT NULL,
    price_field           text NOT NULL,
    price                 bigint NOT NULL,
    reference             text NOT NULL,
    reference_price       bigint,
    change_ratio          double precision,
    threshold             double precision,
    history_size          integer NOT NULL,
    affects_current_price boolean NOT NULL,
    ingested_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, event_time),
    CONSTRAINT retail_glitches_history_size_valid CHECK (history_size >= 0)
);
CREATE INDEX retail_glitches_listing_time ON retail_glitches (listing_key, event_time);

-- ArbitrageOpportunity: revision 0 opens an opportunity (event_id = opportunity_id), revision n updates it.
CREATE TABLE retail_opportunities (
    event_id           text COLLATE "C" NOT NULL,
    event_time         timestamptz NOT NULL,
    opportunity_id     text COLLATE "C" NOT NULL,
    revision           integer NOT NULL,
    match_id           text COLLATE "C" NOT NULL,
    cause_event_id     text NOT NULL,
    buy_quote          jsonb NOT NULL,  -- the ListingQuote bought and the one sold, whole
    sell_quote         jsonb NOT NULL,
    buy_price          bigint NOT NULL,
    sell_price         bigint NOT NULL,
    margin_clp         bigint NOT NULL,
    roi_pct            double precision NOT NULL,
    opportunity_score  double precision NOT NULL,
    confidence         double precision NOT NULL,
    match_score        double precision NOT NULL,
    volatility         double precision NOT NULL,
    risk_level         text NOT NULL,
    tier               text NOT NULL,
    glitch_suspected   boolean NOT NULL,
    glitch_kinds       jsonb NOT NULL,
    revalidate_every_s bigint NOT NULL,
    next_revalidation  timestamptz NOT NULL,
    buy_listing_key    text COLLATE "C" GENERATED ALWAYS AS (buy_quote ->> 'listing_key') STORED,
    buy_retailer       text COLLATE "C" GENERATED ALWAYS AS (buy_quote ->> 'retailer') STORED,
    buy_title          text GENERATED ALWAYS AS (buy_quote ->> 'title') STORED,
    sell_listing_key   text COLLATE "C" GENERATED ALWAYS AS (sell_quote ->> 'listing_key') STORED,
    sell_retailer      text COLLATE "C" GENERATED ALWAYS AS (sell_quote ->> 'retailer') STORED,
    sell_title         text GENERATED ALWAYS AS (sell_quote ->> 'title') STORED,
    ingested_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, event_time),
    CONSTRAINT retail_opportunities_prices_valid CHECK (
        buy_price > 0 AND sell_price >= buy_price AND margin_clp = sell_price - buy_price
    ),
    CONSTRAINT retail_opportunities_figures_valid CHECK (
        roi_pct >= 0 AND roi_pct < 'Infinity' AND opportunity_score >= 0 AND opportunity_score <= 100
        AND confidence >= 0 AND confidence <= 1 AND volatility >= 0 AND volatility < 'Infinity'
    ),
    CONSTRAINT retail_opportunities_tier_valid CHECK (tier IN ('CRITICAL', 'IMPORTANT', 'TRACKING')),
    CONSTRAINT retail_opportunities_revision_valid CHECK (revision >= 0 AND revalidate_every_s > 0)
);
CREATE INDEX retail_opportunities_opportunity_time ON retail_opportunities (opportunity_id, event_time);

CREATE TABLE retail_opportunity_validations (
    event_id           text COLLATE "C" NOT NULL,
    event_time         timestamptz NOT NULL,
    opportunity_id     text COLLATE "C" NOT NULL,
    match_id           text COLLATE "C" NOT NULL,
    validation         integer NOT NULL,
    tier               text NOT NULL,
    buy_price          bigint NOT NULL,
    sell_price         bigint NOT NULL,
    margin_clp         bigint NOT NULL,
    roi_pct            double precision NOT NULL,
    oldest_quote_age_s bigint NOT NULL,
    next_revalidation  timestamptz NOT NULL,
    ingested_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, event_time),
    CONSTRAINT retail_opportunity_validations_valid CHECK (validation > 0 AND oldest_quote_age_s >= 0)
);
CREATE INDEX retail_opportunity_validations_opportunity_time
    ON retail_opportunity_validations (opportunity_id, event_time);

CREATE TABLE retail_opportunity_closures (
    event_id       text COLLATE "C" NOT NULL,
    event_time     timestamptz NOT NULL,
    opportunity_id text COLLATE "C" NOT NULL,
    match_id       text COLLATE "C" NOT NULL,
    cause_event_id text NOT NULL,
    reason         text NOT NULL,
    buy_price      bigint,
    sell_price     bigint,
    margin_clp     bigint,
    roi_pct        double precision,
    opened_at      timestamptz NOT NULL,
    open_for_s     bigint NOT NULL,
    ingested_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, event_time),
    CONSTRAINT retail_opportunity_closures_open_for_valid CHECK (open_for_s >= 0)
);
CREATE INDEX retail_opportunity_closures_opportunity_time ON retail_opportunity_closures (opportunity_id, event_time);

-- Pairs that are the same product now: the latest assertion of each pair, unless a retraction followed
-- it (a `reblocked` retraction as old as the assertion does not count: the tracker's rule, see
-- processors/retail/opportunity_tracker.py), with the prices of its latest re-pricing.
CREATE VIEW retail_live_matches AS
SELECT m.match_id,
       m.block_key,
       m.listing_a_key,
       m.a_retailer,
       m.a_title,
       coalesce(p.a_price, m.a_price) AS a_price,
       m.listing_b_key,
       m.b_retailer,
       m.b_title,
       coalesce(p.b_price, m.b_price) AS b_price,
       coalesce(p.score, m.score) AS score,
       m.event_time AS asserted_at,
       coalesce(p.event_time, m.event_time) AS priced_at
FROM (
    SELECT DISTINCT ON (match_id) *
    FROM retail_matches
    ORDER BY match_id, event_time DESC, event_id DESC
) m
LEFT JOIN LATERAL (
    SELECT r.a_price, r.b_price, r.score, r.event_time
    FROM retail_match_reprices r
    WHERE r.match_id = m.match_id AND r.event_time >= m.event_time
    ORDER BY r.event_time DESC, r.event_id DESC
    LIMIT 1
) p ON true
WHERE NOT EXISTS (
    SELECT FROM retail_match_retractions x
    WHERE x.match_id = m.match_id
      AND (x.event_time > m.event_time OR (x.event_time = m.event_time AND x.reason <> 'reblocked'))
);

-- Every opportunity once, as of its latest revision: OPEN unless a closure as late as that revision
-- exists; its re-validations since; priority 1 (CRITICAL), 2 (IMPORTANT), 3 (TRACKING) like the seed's tiers.
CREATE VIEW retail_opportunity_status AS
SELECT o.opportunity_id,
       CASE WHEN c.closed_at IS NULL THEN 'OPEN' ELSE 'CLOSED' END AS status,
       o.tier,
       CASE o.tier WHEN 'CRITICAL' THEN 1 WHEN 'IMPORTANT' THEN 2 ELSE 3 END AS priority,
       o.opportunity_score,
       o.margin_clp,
       o.roi_pct,
       o.confidence,
       o.risk_level,
       o.glitch_suspected,
       o.match_id,
       o.buy_listing_key,
       o.buy_retailer,
       o.buy_title,
       o.buy_price,
       o.sell_listing_key,
       o.sell_retailer,
       o.sell_title,
       o.sell_price,
       o.revision,
       opening.opened_at,
       o.event_time AS updated_at,
       coalesce(v.validations, 0) AS validations,
       v.last_validated_at,
       CASE WHEN c.closed_at IS NULL THEN coalesce(v.next_revalidation, o.next_revalidation) END AS next_revalidation,
       c.closed_at,
       c.close_reason
FROM (
    SELECT DISTINCT ON (opportunity_id) *
    FROM retail_opportunities
    ORDER BY opportunity_id, event_time DESC, revision DESC
) o
CROSS JOIN LATERAL (
    SELECT min(f.event_time) AS opened_at FROM retail_opportunities f WHERE f.opportunity_id = o.opportunity_id
) opening
LEFT JOIN LATERAL (
    SELECT count(*) AS validations,
           max(r.event_time) AS last_validated_at,
           (array_agg(r.next_revalidation ORDER BY r.event_time DESC))[1] AS next_revalidation
    FROM retail_opportunity_validations r
    WHERE r.opportunity_id = o.opportunity_id AND r.event_time > o.event_time
    HAVING count(*) > 0
) v ON true
LEFT JOIN LATERAL (
    SELECT x.event_time AS closed_at, x.reason AS close_reason
    FROM retail_opportunity_closures x
    WHERE x.opportunity_id = o.opportunity_id AND x.event_time >= o.event_time
    ORDER BY x.event_time DESC
    LIMIT 1
) c ON true;

-- What to act on: the open opportunities, most urgent tier first, then by score.
CREATE VIEW retail_open_opportunities AS
SELECT opportunity_id, tier, priority, opportunity_score, margin_clp, roi_pct, confidence, risk_level,
       glitch_suspected, match_id, buy_listing_key, buy_retailer, buy_title, buy_price, sell_listing_key,
       sell_retailer, sell_title, sell_price, revision, opened_at, updated_at, validations, last_validated_at,
       next_revalidation
FROM retail_opportunity_status
WHERE status = 'OPEN'
ORDER BY priority, opportunity_score DESC, margin_clp DESC, opportunity_id;

-- A product is a group of listings joined by live matches (the same product at up to five retailers);
-- its key is its smallest listing key. One row per product with an open opportunity: the best one
-- (highest score, then margin), and how many are open and how many listings the product has.
CREATE VIEW retail_best_opportunity_per_product AS
WITH RECURSIVE edges AS (
    SELECT listing_a_key AS node, listing_b_key AS other FROM retail_live_matches
    UNION
    SELECT listing_b_key, listing_a_key FROM retail_live_matches
),
reach (root, node) AS (
    SELECT node, node FROM edges
    UNION
    SELECT r.root, e.other FROM reach r JOIN edges e ON e.node = r.node
),
products AS (
    SELECT node AS listing_key, min(root) AS product_key FROM reach GROUP BY node
),
sizes AS (
    SELECT product_key, count(*) AS listings FROM products GROUP BY product_key
),
ranked AS (
    SELECT coalesce(p.product_key, least(o.buy_listing_key, o.sell_listing_key)) AS product_key, o.*
    FROM retail_open_opportunities o
    LEFT JOIN products p ON p.listing_key = o.buy_listing_key
)
SELECT DISTINCT ON (r.product_key)
       r.product_key,
       coalesce(s.listings, 2) AS listings,
       count(*) OVER (PARTITION BY r.product_key) AS open_opportunities,
       r.opportunity_id,
       r.tier,
       r.opportunity_score,
       r.margin_clp,
       r.roi_pct,
       r.confidence,
       r.risk_level,
       r.buy_retailer,
       r.buy_title,
       r.buy_price,
       r.sell_retailer,
       r.sell_title,
       r.sell_price,
       r.updated_at
FROM ranked r
LEFT JOIN sizes s ON s.product_key = r.product_key
ORDER BY r.product_key, r.opportunity_score DESC, r.margin_clp DESC, r.opportunity_id;

-- Per retailer: listings seen (latest observation each), how many are matched to another retailer now,
-- the open opportunities that buy or sell there, and the price glitches seen on its listings.
CREATE VIEW retail_retailer_coverage AS
WITH listings AS (
    SELECT retailer,
           count(*) AS listings,
           count(*) FILTER (WHERE jsonb_array_length(glitch_kinds) > 0) AS glitched_now,
           max(event_time) AS last_observed_at
    FROM retail_listings
    GROUP BY retailer
),
sides AS (
    SELECT a_retailer AS retailer, listing_a_key AS listing_key FROM retail_live_matches
    UNION ALL
    SELECT b_retailer, listing_b_key FROM retail_live_matches
),
matched AS (
    SELECT retailer, count(DISTINCT listing_key) AS matched_listings, count(*) AS live_matches
    FROM sides
    GROUP BY retailer
),
open_sides AS (
    SELECT retailer, count(*) FILTER (WHERE side = 'buy') AS open_buy, count(*) FILTER (WHERE side = 'sell') AS open_sell
    FROM (
        SELECT buy_retailer AS retailer, 'buy' AS side FROM retail_open_opportunities
        UNION ALL
        SELECT sell_retailer, 'sell' FROM retail_open_opportunities
    ) s
    GROUP BY retailer
),
glitches AS (
    SELECT retailer, count(*) AS glitches FROM retail_glitches GROUP BY retailer
),
retailers AS (
    SELECT retailer FROM listings
    UNION SELECT retailer FROM matched
    UNION SELECT retailer FROM open_sides
    UNION SELECT retailer FROM glitches
)
SELECT r.retailer,
       coalesce(l.listings, 0) AS listings,
       coalesce(m.matched_listings, 0) AS matched_listings,
       round(100.0 * coalesce(m.matched_listings, 0) / nullif(l.listings, 0), 1) AS matched_pct,
       coalesce(m.live_matches, 0) AS live_matches,
       coalesce(o.open_buy, 0) AS open_buy,
       coalesce(o.open_sell, 0) AS open_sell,
       coalesce(g.glitches, 0) AS glitches,
       coalesce(l.glitched_now, 0) AS glitched_now,
       l.last_observed_at
FROM retailers r
LEFT JOIN listings l USING (retailer)
LEFT JOIN matched m USING (retailer)
LEFT JOIN open_sides o USING (retailer)
LEFT JOIN glitches g USING (retailer)
ORDER BY r.retailer;
