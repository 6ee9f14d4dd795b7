#!/usr/bin/env python3
"""pty_drive.py EXPECT_RC INPUT CMD...: run CMD on a fresh pty (as a user's
terminal would be), wait for a shell prompt ("# " or "$ "), type INPUT, collect
the transcript until EOF and exit with 0 if CMD's exit code is EXPECT_RC.
The transcript is printed so checks can grep it."""
import os
import pty
import select
import sys
import time

want = int(sys.argv[1])
typed = sys.argv[2].encode().decode("unicode_escape").encode()
cmd = sys.argv[3:]

pid, fd = pty.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)

out = b""
deadline = time.time() + 60
sent = False
prompt_deadline = time.time() + 15
while time.time() < deadline:
    if not sent and (b"# " in out or b"$ " in out or time.time() > prompt_deadline):
        os.write(fd, typed)
        sent = True
    r, _, _ = select.select([fd], [], [], 0.2)
    if fd in r:
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the other side closed
            break
        if not data:
            break
        out += data
else:
    print("pty_drive: timeout, killing", flush=True)
    os.kill(pid, 9)

_, status = os.waitpid(pid, 0)
rc = os.waitstatus_to_exitcode(status)
sys.stdout.write(out.decode(errors="replace").replace("\r", ""))
print(f"\npty_drive: exit code {rc} (expected {want})")
sys.exit(0 if rc == want else 1)
