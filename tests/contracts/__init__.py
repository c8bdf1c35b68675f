"""Backend-agnostic test suites that every implementation of a protocol must pass."""

import pytest

# The suites live outside test_*.py files; let pytest explain their failed asserts too.
pytest.register_assert_rewrite("tests.contracts.store_contract")
