"""Host preparation: guest artifacts, accelerator choice, libvirtd."""
