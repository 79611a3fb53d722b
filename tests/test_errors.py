"""Out of memory is said in our own words: what the app was doing and how much it held, not a guess."""

from __future__ import annotations

from sgim_desktop.errors import is_out_of_memory, out_of_memory_message


def test_python_and_torch_allocation_failures_are_out_of_memory():
    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: "
                                         "can't allocate memory: you tried to allocate 25769803776 bytes."))
    assert not is_out_of_memory(RuntimeError("shapes cannot be multiplied"))


def test_the_message_names_the_task_the_request_and_the_memory_held():
    exc = RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 25769803776 bytes.")
    message = out_of_memory_message(exc, "editing")
    assert message.startswith("out of memory while editing")
    assert "25,770 MB more" in message and "MB" in message
    assert "\n" not in message and "CPU device" not in message
