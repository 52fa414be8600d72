"""A real Mesos 1.0.4 master and agent on loopback, and a small v1 scheduler that stays
registered (as Marathon does), for the tier of tests that runs against real Mesos."""
