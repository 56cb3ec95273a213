"""Regression tests of the security findings of issue 14 (SPEC section 9): one test per finding."""
