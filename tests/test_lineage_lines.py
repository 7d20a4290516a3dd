"""The lineage lines F4 and `ftui models show` print: rules read as a person writes them
(no Python list repr), and rules past the first eight are counted, not dropped unsaid."""

from __future__ import annotations

from ftui.registry.lineage import lineage_lines


def _info(rules: dict) -> dict:
    return {"model": {"name": "m", "kind": "adapter", "base_model": "tiny"},
            "run": None, "interactions": {"count": 3},
            "dataset": {"id": 4, "name": "d", "hash": "ab" * 8, "splits": {"train": 3},
                        "rules": rules}}


def test_list_rules_read_like_the_cli_flags():
    line = next(x for x in lineage_lines(_info({"statuses": ["new", "accepted"],
                                                "min_rating": 4})) if "<- rules" in x)
    assert "statuses=new,accepted" in line and "[" not in line and "'" not in line


def test_rules_past_eight_are_counted_with_where_to_see_them():
    rules = {f"rule{i}": i + 1 for i in range(11)}
    line = next(x for x in lineage_lines(_info(rules)) if "<- rules" in x)
    assert "rule7=8" in line and "rule8" not in line
    assert "3 more: ftui dataset show 4" in line
