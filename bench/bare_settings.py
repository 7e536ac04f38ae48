"""The portal's settings with a one-view URLconf: the load test's ceiling."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bare_urls"
