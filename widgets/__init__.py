"""Reusable Textual widgets of ftui."""
