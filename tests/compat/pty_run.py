#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal, so that Pulumi's CLI believes a person is at the keyboard,
presses Enter once the command's output shows PROMPT, and copies all it prints to stdout. Exits
with the command's status, or 124 after TIMEOUT seconds (the command is killed then).

    pty_run.py PROMPT TIMEOUT COMMAND [ARG...]
"""
import os
import pty
import select
import signal
import sys
import time


def main():
    prompt, timeout, command = sys.argv[1].encode(), float(sys.argv[2]), sys.argv[3:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    seen, pressed = b"", False
    deadline = time.monotonic() + timeout
    while True:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            print(f"pty_run: no exit within {timeout} s", file=sys.stderr)
            return 124
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:  # the command closed the terminal: it has exited
            break
        if not data:
            break
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        seen += data
        if not pressed and prompt in seen:
            os.write(fd, b"\r")
            pressed = True
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
