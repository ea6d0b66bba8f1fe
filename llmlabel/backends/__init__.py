"""Backends: one file each behind the ``Backend`` protocol in ``base.py``."""
