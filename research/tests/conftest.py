"""Shared fixtures for the research tests: the model tests' own, so both build test data one way."""

from tests.unit.models.conftest import faces, nets, tiny_fer  # noqa: F401
