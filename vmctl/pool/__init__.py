"""The warm pool: VMs booted ahead of demand, paused at READY, each claimed by one task.

A pool VM has no disk, NIC or share of its own: its claimant hot-plugs the task's rootfs,
tap and sandbox, resumes it, and sends the spec (``vmctl.pod``). A pool VM serves one
task only and is destroyed with it; no VM that ran one tenant's code serves another.

On disk, under ``<state root>/pool/``: ``filling/<vm>`` while a VM boots (its filler holds
``fill.lock``), ``idle/<vm>`` once it waits paused, ``draining/<vm>`` while it is removed.
A claim is one ``rename(2)`` of ``idle/<vm>`` to the container's own directory, so two
claimants never get the same VM and a crash at any point leaves the VM findable: in a pool
directory, or in ``containers/<id>/vm.json``.
"""
