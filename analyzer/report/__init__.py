"""Presentation: depends only on records, so saved JSON can be re-rendered."""
