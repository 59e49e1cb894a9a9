"""Topic names are declared once (processors/topics.py) and every pipeline's topics are in the catalog."""

from __future__ import annotations

import re
from pathlib import Path

from processors import topics
from streams.config import Settings
from streams.kafka.catalog import TOPICS
from streams.runtime.pipelines import PIPELINES, build_stages

ROOT = Path(__file__).resolve().parents[2]
NAMES = {value for name, value in vars(topics).items() if name.isupper()}


def test_the_catalog_has_every_declared_topic_and_no_other() -> None:
    assert {spec.name for spec in TOPICS} == NAMES


def test_every_pipeline_reads_and_writes_catalog_topics() -> None:
    catalog = {spec.name for spec in TOPICS}
    for name in PIPELINES:
        for stage in build_stages(name, Settings()):
            assert set(stage.inputs) <= catalog, (name, stage.name)
            assert set(stage.outputs) <= catalog, (name, stage.name)


def test_no_module_spells_a_topic_name_out() -> None:
    literal = re.compile(r"""["'](""" + "|".join(re.escape(n) for n in NAMES) + r""")["']""")
    found = []
    for folder in ("processors", "streams", "sinks", "infra", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "processors" / "topics.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if literal.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "use processors.topics instead of:\n" + "\n".join(found)
