"""The settings: one section per concern, each declared where it is used; ``MERCADO_<SECTION>__<FIELD>``."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sinks.settings import SinkSettings
from streams.config import RENAMED_VARIABLES, Settings


def test_each_section_is_declared_by_the_package_that_uses_it() -> None:
    owners = {name: type(getattr(Settings(), name)).__module__ for name in Settings.model_fields}
    assert owners == {
        "kafka_bootstrap": "builtins",
        "database_url": "builtins",
        "product_matching_data": "pathlib",
        "local": "infra.settings",
        "db": "infra.settings",
        "kafka": "streams.kafka.settings",
        "worker": "streams.engines.settings",
        "metrics": "streams.observability.settings",
        "feeds": "streams.feeds.settings",
        "admission": "processors.admission",
        "marketdata": "processors.marketdata.config",
        "retail": "processors.retail.config",
        "risk": "processors.risk.config",
        "scanner": "processors.scanner.config",
        "recommendations": "processors.recommendations.config",
        "paper": "processors.venue.config",
    }
    assert type(SinkSettings().sink).__module__ == "sinks.settings"


def test_a_section_field_comes_from_its_double_underscore_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MERCADO_DATABASE_URL", raising=False)
    monkeypatch.setenv("MERCADO_KAFKA__TOPIC_PREFIX", "t1.")
    monkeypatch.setenv("MERCADO_WORKER__ID", "7")
    monkeypatch.setenv("MERCADO_LOCAL__PG_PORT", "25432")
    monkeypatch.setenv("MERCADO_SINK__BATCH_ROWS", "17")
    settings = SinkSettings()
    assert (settings.kafka.topic_prefix, settings.worker.id, settings.local.pg_port, settings.sink.batch_rows) == (
        "t1.", "7", 25432, 17
    )
    assert settings.topic("md.ticks.v1") == "t1.md.ticks.v1"
    assert settings.dsn() == "postgresql://mercado@127.0.0.1:25432/mercado"


def test_a_variable_of_the_flat_settings_is_an_error_naming_its_new_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MERCADO_TOPIC_PREFIX", "t1.")
    with pytest.raises(ValidationError, match=r"MERCADO_TOPIC_PREFIX \(now MERCADO_KAFKA__TOPIC_PREFIX\)"):
        Settings()
    assert RENAMED_VARIABLES["MERCADO_DB_SCHEMA"] == "MERCADO_DB__SCHEMA_NAME"
    assert RENAMED_VARIABLES["MERCADO_SINK_GROUP"] == "MERCADO_SINK__GROUP"


def test_with_changes_fields_of_sections_and_keeps_the_rest() -> None:
    base = Settings(kafka_bootstrap="127.0.0.1:1")
    changed = base.with_(kafka__topic_prefix="p.", database_url="postgresql://x@h:1/d", worker__id="3")
    assert (changed.kafka.topic_prefix, changed.database_url, changed.worker.id) == ("p.", "postgresql://x@h:1/d", "3")
    assert changed.kafka.producer_linger_ms == base.kafka.producer_linger_ms
    assert changed.kafka_bootstrap == "127.0.0.1:1"
    assert base.kafka.topic_prefix == ""  # a copy
    with pytest.raises(KeyError, match="no setting kafka__topic_prefx"):
        base.with_(kafka__topic_prefx="p.")
    with pytest.raises(KeyError, match="no settings section 'kafak'"):
        base.with_(kafak__topic_prefix="p.")


def test_the_sink_settings_extend_the_process_settings() -> None:
    base = Settings(kafka_bootstrap="127.0.0.1:1").with_(kafka__topic_prefix="p.")
    sink = SinkSettings.extend(base)
    assert isinstance(sink, SinkSettings)
    assert (sink.kafka.topic_prefix, sink.kafka_bootstrap, sink.sink.group) == ("p.", "127.0.0.1:1", "mercado-sink")
    assert SinkSettings.extend(sink) is sink


def test_state_changelogs_roll_segments_so_the_broker_compacts_them() -> None:
    """Kafka compacts only closed segments and closes one after 1 GiB or 7 days by default: the
    changelog configs roll them hourly (a restore then reads about the state, not a week of history)."""
    from streams.kafka.settings import KafkaSettings

    assert KafkaSettings().changelog_config() == {"segment.ms": "3600000", "min.cleanable.dirty.ratio": "0.5"}
    assert KafkaSettings(changelog_segment_ms=2000).changelog_config()["segment.ms"] == "2000"
    with pytest.raises(ValueError):
        KafkaSettings(changelog_segment_ms=10)
    with pytest.raises(ValueError):
        KafkaSettings(changelog_min_cleanable_dirty_ratio=1.0)
