"""The reliability suite (issue 15): each test injects a fault the way it happens for real.

Tests that boot QEMU carry the ``qemu`` marker themselves (``pytestmark``).
"""

# the console tests' fake source and its capture, shared with tests/unit/console
from tests.unit.console.conftest import capture, source  # noqa: F401
