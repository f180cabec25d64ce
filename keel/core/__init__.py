"""Keel's core: the typed state, the domain vocabulary, prices and the running thread.

The bottom layer (docs/architecture.md): it imports nothing of Keel's, and every other
layer may import it. `state` is the shape of a checkpoint; `vocabulary` the words a
review is made of (severities, effects, verdict kinds, decisions); `pricing` the cost
of a model call; `thread` the id of the thread a node runs in.
"""
