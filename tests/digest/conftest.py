"""Fixtures for digest tests (helpers live in digest_support.py)."""

from __future__ import annotations

from tests.digest.digest_support import db, department, product, respond

__all__ = ["db", "department", "product", "respond"]
