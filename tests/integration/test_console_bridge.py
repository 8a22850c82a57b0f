#!/usr/bin/env python3
# tests/integration/test_console_bridge.py - unit tests of scripts/console_bridge.py against a fake emulator (a socket server that prints a prompt, echoes and answers commands); no emulator needed.
import os
import select
import subprocess
import sys
import tempfile
import termios
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BRIDGE = os.path.join(HERE, "..", "..", "scripts", "console_bridge.py")

# The fake emulator: binds a free port on 127.0.0.1 and prints it, listens only after DELAY
# seconds (connections are refused until then), accepts one client, prints a
# banner and the prompt "hv> " byte by byte (as a UART does), echoes what it receives and answers
# `help`, `info` (two lines), `quit` (says goodbye and ends, as a machine powering off). Every byte
# it sends is also written to SENT, so the test can compare the transcript with it.
FAKE = r'''
import socket, sys, time
delay, sent_path, mode = float(sys.argv[1]), sys.argv[2], sys.argv[3]
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
print(srv.getsockname()[1], flush=True)
time.sleep(delay)
if mode == "die":
    sys.exit(0)
srv.listen(1)
conn, _ = srv.accept()
srv.close()
sent = open(sent_path, "wb")
def out(text):
    for b in text.encode("latin-1"):
        conn.sendall(bytes([b]))
        sent.write(bytes([b]))
    sent.flush()
out("[I boot] hv 0.1.0 (git fake): type-1 hypervisor for Intel VT-x\r\n")
out("[I vmx] VMX: yes\r\n")
if mode == "silent":
    conn.recv(1)  # waits for the client to go away
    sys.exit(0)
out("hv> ")
line = ""
while True:
    data = conn.recv(1)
    if not data:
        break
    c = data.decode("latin-1")
    if c == "\r":
        out("\r\n")
        if line == "help":
            out("commands: help, info, quit\r\n")
        elif line == "info":
            out("vms: 2\r\nfree: 1024 frames\r\n")
        elif line == "quit":
            out("bye\r\n3 passed, 0 failed\r\n")
            break
        elif line:
            out("error: unknown command '" + line + "'\r\n")
        out("hv> ")
        line = ""
    elif c == "\x03":
        out("^C\r\nhv> ")
        line = ""
    else:
        line += c
        out(c)
conn.close()
'''

GOOD = """# a good session
timeout 10
expect ^\\[I boot\\] hv .*: type-1 hypervisor
prompt
send help
expect ^commands: help, info, quit$
prompt ^hv> $
sendraw inf\\x03
expect \\^C
prompt
send info
expect ^vms: 2$
expect ^free: [0-9]+ frames$
send quit
expect ^bye$
"""


class BridgeTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)  # cleanups run last-in first-out: after the fakes end
        self.log = os.path.join(self.dir.name, "serial.log")
        self.sent = os.path.join(self.dir.name, "sent.bin")

    def start_fake(self, delay=0.0, mode="normal"):
        fake = subprocess.Popen([sys.executable, "-c", FAKE, str(delay), self.sent, mode], stdout=subprocess.PIPE)
        self.addCleanup(fake.stdout.close)
        self.addCleanup(fake.wait, 10)
        self.addCleanup(lambda: fake.poll() is None and fake.kill())
        self.port = int(fake.stdout.readline())
        return fake

    def bridge(self, fake, session_text=None, timeout=30, extra=()):
        args = [sys.executable, BRIDGE, "--port", str(self.port), "--pid", str(fake.pid),
                "--log", self.log, "--timeout", str(timeout), "--pace-ms", "1", *extra]
        if session_text is not None:
            path = os.path.join(self.dir.name, "test.session")
            with open(path, "w") as f:
                f.write(session_text)
            args += ["--session", path]
        start = time.monotonic()
        p = subprocess.run(args, capture_output=True, text=True, timeout=timeout + 10)
        return p.returncode, p.stderr, time.monotonic() - start

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def test_good_session_passes_and_the_transcript_holds_every_byte(self):
        fake = self.start_fake(delay=0.3)  # the bridge must retry until it listens
        rc, err, _ = self.bridge(fake, GOOD)
        self.assertEqual(rc, 0, err)
        self.assertIn("all 13 steps passed", err)
        self.assertIn("test.session:5: step 3 'send help': sent", err)
        self.assertEqual(self.read(self.log), self.read(self.sent))
        self.assertIn(b"hv> help\r\ncommands:", self.read(self.log))
        self.assertIn(b"hv> inf^C\r\n", self.read(self.log))

    def test_missing_expectation_fails_naming_the_step_within_its_timeout(self):
        fake = self.start_fake()
        session = "timeout 1\nprompt\nsend help\n\n# never printed:\nexpect ^no such line$\nsend quit\n"
        rc, err, took = self.bridge(fake, session)
        self.assertEqual(rc, 1, err)
        self.assertIn("test.session:6: step 3 'expect ^no such line$' FAILED: not seen within 1 s", err)
        self.assertIn("  | commands: help, info, quit", err)  # the last output lines
        self.assertLess(took, 8)
        self.assertEqual(self.read(self.log), self.read(self.sent))

    def test_prompt_is_matched_on_the_unterminated_line(self):
        fake = self.start_fake()
        rc, err, _ = self.bridge(fake, "timeout 5\nprompt hv> \nsend quit\nexpect ^bye")
        self.assertEqual(rc, 0, err)

    def test_expect_matches_whole_lines_only(self):
        fake = self.start_fake()
        # "hv> " is never ended by a newline: only `prompt` sees it.
        rc, err, _ = self.bridge(fake, "timeout 1\nexpect ^hv> $\n")
        self.assertEqual(rc, 1, err)
        fake = self.start_fake()
        # Bytes arrive one at a time: "free: 1" is a prefix of "free: 1024 frames", never a line.
        rc, err, _ = self.bridge(fake, "timeout 1\nprompt\nsend info\nexpect ^free: 1\\b\n")
        self.assertEqual(rc, 1, err)
        self.assertIn("step 3 'expect ^free: 1\\b' FAILED", err)

    def test_lines_before_the_previous_step_do_not_match(self):
        fake = self.start_fake()
        # The banner came before the prompt: looking for it again after the prompt must fail.
        rc, err, _ = self.bridge(fake, "timeout 1\nprompt\nexpect type-1 hypervisor\n")
        self.assertEqual(rc, 1, err)
        self.assertIn("step 2 'expect type-1 hypervisor' FAILED", err)

    def test_machine_stopping_before_the_session_ends_fails(self):
        fake = self.start_fake()
        rc, err, _ = self.bridge(fake, "timeout 5\nsend quit\nexpect ^bye$\nexpect ^never$\n")
        self.assertEqual(rc, 1, err)
        self.assertIn("step 3 'expect ^never$' FAILED: the emulator closed the connection", err)

    def test_recording_only_ends_when_the_emulator_closes(self):
        fake = self.start_fake(mode="silent")
        rc, err, took = self.bridge(fake, None, timeout=2)
        self.assertEqual(rc, 124, err)  # the fake never closes: the overall timeout ends it
        self.assertGreaterEqual(took, 2)
        self.assertEqual(self.read(self.log), self.read(self.sent))

    def test_emulator_that_never_listens(self):
        fake = self.start_fake(mode="die")
        rc, err, took = self.bridge(fake, "expect x\n")
        self.assertEqual(rc, 3, err)
        self.assertIn("ended before accepting a connection", err)
        self.assertLess(took, 8)

    def test_bad_session_file_is_refused_with_its_line(self):
        fake = self.start_fake(mode="die")
        rc, err, _ = self.bridge(fake, "expect ok\nwait 3\n")
        self.assertEqual(rc, 2, err)
        self.assertIn("line 2: unknown step 'wait'", err)
        rc, err, _ = self.bridge(fake, "expect (unclosed\n")
        self.assertEqual(rc, 2, err)
        self.assertIn("line 1: bad regular expression", err)

    def test_interactive_bridges_a_raw_terminal_and_restores_it(self):
        fake = self.start_fake()
        master, slave = os.openpty()
        self.addCleanup(os.close, master)
        before = termios.tcgetattr(slave)
        bridge = subprocess.Popen([sys.executable, BRIDGE, "--port", str(self.port), "--pid", str(fake.pid),
                                   "--log", self.log, "--timeout", "30", "--interactive"],
                                  stdin=slave, stdout=slave, stderr=subprocess.PIPE)
        self.addCleanup(lambda: bridge.poll() is None and bridge.kill())

        def read_until(marker):
            seen = b""
            deadline = time.monotonic() + 10
            while marker not in seen and time.monotonic() < deadline:
                if select.select([master], [], [], 0.5)[0]:
                    seen += os.read(master, 4096)
            self.assertIn(marker, seen)
            return seen

        read_until(b"hv> ")  # relayed: the bridge runs, so the terminal is raw by now
        raw = termios.tcgetattr(slave)
        self.assertFalse(raw[3] & (termios.ECHO | termios.ICANON | termios.ISIG))
        os.write(master, b"help\r")  # as typed: Enter is CR in raw mode
        self.assertIn(b"help\r\ncommands:", read_until(b"commands: help, info, quit\r\nhv> "))
        os.write(master, b"\x1d")  # Ctrl-]
        self.assertEqual(bridge.wait(10), 10)
        self.assertEqual(termios.tcgetattr(slave), before)
        os.close(slave)
        self.assertIn(b"hv> help\r\ncommands:", self.read(self.log))

    def test_the_example_sessions_are_valid(self):
        sessions = os.path.join(HERE, "sessions")
        names = sorted(n for n in os.listdir(sessions) if n.endswith(".session"))
        self.assertTrue(names)
        for name in names:
            p = subprocess.run([sys.executable, BRIDGE, "--check", "--session", os.path.join(sessions, name)],
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, f"{name}: {p.stderr}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
