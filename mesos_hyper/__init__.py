"""mesos-hyper: a Mesos external containerizer that runs each task's image in its own VM."""

__version__ = "0.1.0"
