"""pytest-kdump: kernel crash (kdump) regression testing with pytest, labgrid and crash/drgn.

Tests use the ``kdump`` fixture (see the README); assertions on a dump's analysis are here::

    from pytest_kdump import assert_in_backtrace
"""

from .assertions import (
    assert_in_backtrace,
    assert_log_contains,
    assert_module_loaded,
    assert_not_in_backtrace,
    assert_panic_message,
    assert_task_state,
)

__version__ = "0.1.0"
__all__ = ["assert_in_backtrace", "assert_log_contains", "assert_module_loaded",
           "assert_not_in_backtrace", "assert_panic_message", "assert_task_state"]
