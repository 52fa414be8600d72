"""Mesos 1.0.4 wire messages: hand-written .proto files and their generated modules.

``mesos_pb2`` is package ``mesos``; ``containerizer_pb2`` is ``mesos.containerizer``.
Regenerate with ``scripts/gen-protos.sh``; never edit the ``*_pb2`` files by hand.
"""
