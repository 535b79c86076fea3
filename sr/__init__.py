"""Restoration model families, one folder each (`pixel/`: SRModel; `esrgan/`: ESRGANModel); `losses.py` holds the
pixel losses they share and `build_loss`."""
