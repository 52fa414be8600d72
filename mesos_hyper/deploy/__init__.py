"""``mesos-hyper deploy``: Marathon app definitions as Marathon 1.3 would launch them."""
