"""The Mesos side of the external containerizer protocol (ECP).

``recordio`` frames messages on stdin/stdout, ``messages`` turns them into plain
validated dataclasses and back; the ECP commands are built on those two.
"""
