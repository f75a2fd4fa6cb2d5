"""Cited question answering over a folder of articles."""
