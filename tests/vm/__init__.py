"""A qemu VM (software emulation) for what this host's kernel cannot do: ESP SAs, netem,
namespaces of their own. :func:`run_in_vm` boots one and runs a shell command in it."""

from tests.vm.vm import VmError, VmResult, run_in_vm, vm_unavailable

__all__ = ["VmError", "VmResult", "run_in_vm", "vm_unavailable"]
