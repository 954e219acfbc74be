"""Hyperspace node: one Python package that runs in CPython and in Pyodide."""

__version__ = "0.1.0"
