"""The board's console: background capture, pexpect over the captured stream, a shell on it."""
