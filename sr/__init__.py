"""Restoration model families, one folder each (`pixel/`: SRModel); `losses.py` holds the pixel losses they share."""
