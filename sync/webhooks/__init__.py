"""Webhooks in: who may send (:mod:`.verification`), what a delivery says about itself (:mod:`.identity`),
the receiver's public address (:mod:`.addresses`) and the endpoint that stores a delivery first (:mod:`.receive`).
"""
