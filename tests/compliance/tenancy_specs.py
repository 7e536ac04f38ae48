"""Tenancy walker specs for the compliance control map (tests/test_tenancy.py)."""

from tests.walker import public_page

SPECS = [public_page("compliance:controls")]
