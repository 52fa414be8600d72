"""Host-side file access to a task sandbox, a directory the untrusted guest writes into.

The sandbox is shared read-write into the guest (virtiofs), so any name under it may be a
symlink, fifo, device node, socket, a huge sparse file or a very deep tree, and the guest
can swap a directory for a link at any moment. Code running as root on the host therefore
never resolves a path under it by name (the CVE-2018-15664 class of bug): ``beneath``
opens and creates files relative to directory fds without following any link, ``usage``
measures the tree the same way.
"""
