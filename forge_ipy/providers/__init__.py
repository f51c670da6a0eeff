"""Providers: the registry (which exist, where, with which key) and one module per wire shape."""
