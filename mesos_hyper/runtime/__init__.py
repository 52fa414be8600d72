"""Running containers: from an image and a request to a process in its own VM."""
