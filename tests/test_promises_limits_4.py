"""Limits promises at their edges (issue 29, round 8, seed-81 survivors).

* a rate-limit window may be as long as the storage keeps exactly (``MAX_DURATION``, 100 years)
  and no longer: the bound is inclusive, as for every other duration setting.
"""

from __future__ import annotations

import pytest

from guardrails._storage import MAX_DURATION
from guardrails.errors import GuardrailConfigError
from guardrails.rate_limits import RateLimitMiddleware


def test_a_window_of_exactly_the_longest_kept_duration_is_accepted() -> None:
    # 36525 days are 100 years of 365.25 days: MAX_DURATION to the second
    assert MAX_DURATION == 36525 * 86400
    limiter = RateLimitMiddleware("1 per 36525 day")
    assert [item.get_expiry() for item in limiter.limits] == [MAX_DURATION]
    with pytest.raises(GuardrailConfigError, match="100 years"):
        RateLimitMiddleware("1 per 36526 day")
