"""Pod networking: a bridge, one tap per pod VM, addresses, NAT, port forwards, nftables.

Everything host-side lives in one network namespace: the root one in production, or the
one ``MESOS_HYPER_NETNS`` names (tests). Taps are made in the root namespace, where
libvirtd opens them, and moved over once QEMU holds them.
"""
