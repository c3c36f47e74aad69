"""Zalo: the Official Account (Open API v3) and the Zalo Bot platform."""
