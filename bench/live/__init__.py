"""`python -m bench.live`: planloop and baselines on real goals against a real model server."""
