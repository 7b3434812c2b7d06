"""Behaviour-sequence and sequential recommenders on MovieLens latest-small (see each module)."""
