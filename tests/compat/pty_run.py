#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal, so that Pulumi's CLI believes a person is at the keyboard,
presses Enter once the command's output shows PROMPT (again every 2 s until it shows AFTER: a key
pressed while the prompt is still setting up the terminal can be lost), and copies all it prints
to stdout. The terminal queries the prompt sends (cursor position, background colour) go
unanswered, as from a terminal that does not support them: answers would be read as typed keys. Exits with the command's status, or 124 after TIMEOUT seconds (the
command is killed then).

    pty_run.py PROMPT AFTER TIMEOUT COMMAND [ARG...]
"""
import os
import pty
import select
import signal
import sys
import time


def main():
    prompt, after = sys.argv[1].encode(), sys.argv[2].encode()
    timeout, command = float(sys.argv[3]), sys.argv[4:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    seen, pressed_at = b"", None
    deadline = time.monotonic() + timeout
    while True:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            print(f"pty_run: no exit within {timeout} s", file=sys.stderr)
            return 124
        ready, _, _ = select.select([fd], [], [], 0.2)
        now = time.monotonic()
        if pressed_at is not None and after not in seen[pressed_at[1]:] and now - pressed_at[0] > 2:
            os.write(fd, b"\r")
            pressed_at = (now, pressed_at[1])
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
        if pressed_at is None and prompt in seen:
            time.sleep(0.3)  # let the prompt finish setting up the terminal
            os.write(fd, b"\r")
            pressed_at = (time.monotonic(), len(seen))
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
