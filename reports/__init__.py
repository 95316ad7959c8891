"""Sweep reports: one self-contained HTML page per sweep, built from MLflow (see build.py)."""

from .html import build_report

__all__ = ["build_report"]
