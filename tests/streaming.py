"""What the streaming tests share (tests/test_memory_limit.py over Parquet files and
tests/test_csv_blocks.py over CSV files): the request, and the smallest memory budget, which
their lakes' post-id hashes outgrow so that the repeat check spills."""

from __future__ import annotations

from typing import Any

KPIS = ["posts", "reach", "engagements", "engagement_rate", "engagement_rate_followers", "followers"]
KW: dict[str, Any] = {"kpis": KPIS, "by": ["platform"], "every": "1mo"}
SMALL = "1MB"
