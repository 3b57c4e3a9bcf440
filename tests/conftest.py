"""Shared pytest settings.

Hypothesis runs derandomized by default, so CI sees the same examples on every run; set
HYPOTHESIS_PROFILE=explore to search new ones (and more of them)."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
