"""Evaluation harness: gold sets, metrics, reports."""
