"""The client of a running engine (``vram-advisor verify``): the only package, beside ``hub``, that talks over the
network, and only to the one URL a user names.

* ``http``: a bounded HTTP client (every read bounded in size and time, no redirect followed, a key sent only when
  given);
* ``identify``: which engine and model a server says it runs (pure, from its answers);
* ``sse``: the streamed answer as the client sees it, and the speeds measured from it (pure);
* ``promtext``: the engine's own figures from its Prometheus text (pure);
* ``session``: one verify run: ask, stream, measure.
"""
