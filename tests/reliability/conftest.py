"""The reliability suite (issue 15): each test injects a fault the way it happens for real.

Tests that boot QEMU carry the ``qemu`` marker themselves (``pytestmark``).
"""
