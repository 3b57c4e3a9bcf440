"""Real kernels in QEMU (Debian's kernel packages): the VM lab. (Stand-in docstring on branch warn: helper vm
owns this package's README; warn.py is `vm warn`.)"""
