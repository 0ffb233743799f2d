"""Shipping: the smoke test, loading into a Docker engine, pushing to a registry.

``smoke`` runs the finished image once, ``load`` hands it to the engine (docker SDK), ``push``
uploads it with the ``registry`` client and ``credentials`` from Docker's config.
"""
