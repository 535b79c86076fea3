"""Architectures shared by the SR models and DeFlow's conditioning encoder."""
