"""Conversions and scoped settings that a framework's source and its fd engine both need: one module each."""
