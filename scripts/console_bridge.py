#!/usr/bin/env python3
# scripts/console_bridge.py - the two-way serial console: connects to the emulator's COM1 socket, records every byte received in the transcript, and bridges a terminal or plays a session file (docs/console.md).
"""Connects to an emulator's COM1 socket (TCP, the emulator listens) and:
  - appends every byte received to the transcript (--log), flushed at once;
  - --interactive: bridges the terminal (raw, no echo; Ctrl-] ends);
  - --session FILE: plays a session file (expect / prompt / send / sendraw / timeout / pace);
  - otherwise only records (and with --echo also prints what it receives).
Ends when the emulator closes the connection (the machine stopped), at the overall --timeout,
on Ctrl-], or when a session step fails.
Exit status: 0 the emulator closed the connection; 1 a session step failed; 2 bad usage or
session file; 3 the emulator ended before accepting the connection; 10 the user ended the
session with Ctrl-]; 124 the overall timeout; 130 interrupted by a signal."""
import argparse
import codecs
import os
import re
import select
import signal
import socket
import sys
import time

CTRL_RBRACKET = 0x1D
ALIVE_CHECK_S = 0.5  # how often the emulator's process is looked at while the connection is idle
DEFAULT_PROMPT = "hv> $"  # hv's monitor prompt (docs/monitor.md), as a `prompt` step's default
EXIT_OK, EXIT_STEP, EXIT_USAGE, EXIT_NO_EMULATOR, EXIT_USER, EXIT_TIMEOUT = 0, 1, 2, 3, 10, 124
EXIT_SIGNAL = 130


class SessionError(Exception):
    pass


class Step:
    """kind: expect or prompt (arg: compiled regex), send or sendraw (arg: the text to send);
    text: the argument as written."""

    def __init__(self, kind, arg, text, line_no, timeout, pace):
        self.kind, self.arg, self.text, self.line_no = kind, arg, text, line_no
        self.timeout, self.pace = timeout, pace

    def describe(self):
        return f"{self.kind} {self.text}"


def parse_session(text, step_timeout, pace_ms):
    """Session file -> list of Steps. `timeout` and `pace` change the following steps."""
    steps = []
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        kind, _, arg = line.lstrip().partition(" ")
        if kind == "prompt" and not arg:
            arg = DEFAULT_PROMPT
        if kind in ("expect", "prompt"):
            if not arg:
                raise SessionError(f"line {no}: {kind} needs a regular expression")
            try:
                steps.append(Step(kind, re.compile(arg), arg, no, step_timeout, pace_ms))
            except re.error as e:
                raise SessionError(f"line {no}: bad regular expression '{arg}': {e}")
        elif kind == "send":
            try:
                arg.encode("latin-1")
            except UnicodeEncodeError:
                raise SessionError(f"line {no}: send takes bytes 0..255 only (use sendraw \\xHH)")
            steps.append(Step(kind, arg, arg, no, step_timeout, pace_ms))
        elif kind == "sendraw":
            try:
                data = codecs.escape_decode(arg.encode("latin-1"))[0].decode("latin-1")
            except (ValueError, UnicodeEncodeError) as e:
                raise SessionError(f"line {no}: bad escape in sendraw: {e}")
            steps.append(Step(kind, data, arg, no, step_timeout, pace_ms))
        elif kind in ("timeout", "pace"):
            try:
                value = float(arg)
            except ValueError:
                raise SessionError(f"line {no}: {kind} needs a number, got '{arg}'")
            if value < 0 or (kind == "timeout" and value == 0):
                raise SessionError(f"line {no}: {kind} must be positive, got '{arg}'")
            if kind == "timeout":
                step_timeout = value
            else:
                pace_ms = value
        else:
            raise SessionError(f"line {no}: unknown step '{kind}' (expect, prompt, send, sendraw, timeout, pace, #)")
    return steps


class Output:
    """Everything received and a cursor: where the current step looks from. Lines are bytes
    read as latin-1 (one character per byte) with their CRs removed."""

    def __init__(self):
        self.data = bytearray()
        self.cursor = 0

    def add(self, data):
        self.data += data

    def end(self):
        return len(self.data)

    @staticmethod
    def text(raw):
        return bytes(raw).decode("latin-1").replace("\r", "")

    def find(self, regex, partial):
        """Searches the lines from the cursor: each complete line, then, if `partial`, the
        unterminated last line. On a match, moves the cursor past that complete line, or to the
        end of the match in the unterminated line, and returns the line."""
        while True:
            nl = self.data.find(b"\n", self.cursor)
            if nl < 0:
                break
            line = self.text(self.data[self.cursor:nl])
            self.cursor = nl + 1
            if regex.search(line):
                return line
        tail = self.text(self.data[self.cursor:])
        if not partial or not tail:
            return None
        m = regex.search(tail)
        if m:
            # Move the cursor past the match: m.end() characters of the tail without its CRs.
            seen = 0
            while seen < m.end():
                if self.data[self.cursor] != 0x0D:
                    seen += 1
                self.cursor += 1
            return tail
        return None

    def last_lines(self, n):
        window = 200 * n
        lines = self.text(self.data[-window:]).split("\n")
        if len(self.data) > window:
            lines.pop(0)  # most likely cut
        if lines and not lines[-1]:
            lines.pop()
        return lines[-n:]


class Player:
    """Plays the steps against the output; queues bytes to send."""

    def __init__(self, steps, name, out, sender, report):
        self.steps, self.name, self.out, self.sender, self.report = steps, name, out, sender, report
        self.index = 0
        self.deadline = None
        self.failed = None

    @property
    def done(self):
        return self.index >= len(self.steps)

    def where(self, step):
        return f"{self.name}:{step.line_no}: step {self.index + 1} '{step.describe()}'"

    def poll(self, now):
        """Runs as many steps as can complete now. Returns True while steps remain."""
        while not self.done and not self.failed:
            step = self.steps[self.index]
            if step.kind in ("send", "sendraw"):
                self.out.cursor = self.out.end()
                data = step.arg + ("\r" if step.kind == "send" else "")
                self.sender(data.encode("latin-1"), step.pace)
                self.report(f"{self.where(step)}: sent")
            else:
                if self.deadline is None:
                    self.deadline = now + step.timeout
                line = self.out.find(step.arg, partial=step.kind == "prompt")
                if line is None:
                    if now >= self.deadline:
                        self.fail(step, f"not seen within {step.timeout:g} s")
                    return True
                self.report(f"{self.where(step)}: ok: {line.strip()}")
            self.index += 1
            self.deadline = None
            if self.done:
                self.report(f"{self.name}: all {len(self.steps)} steps passed; recording until the machine stops")
        return not self.done

    def fail(self, step, why):
        self.failed = f"{self.where(step)} FAILED: {why}"
        lines = self.out.last_lines(15)
        self.report(self.failed + "; the last output lines were:\n" + "\n".join("  | " + l for l in lines))

    def step_deadline(self):
        return self.deadline


def emulator_alive(pid):
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


def connect(host, port, pid, deadline):
    """Retries until the emulator listens; None if it ended first or the deadline passed."""
    while time.monotonic() < deadline:
        try:
            return socket.create_connection((host, port), timeout=1.0)
        except OSError:
            pass
        if not emulator_alive(pid):
            return "gone"
        time.sleep(0.05)
    return None


def pick_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Bridge:
    def __init__(self, args, sock, log):
        self.args, self.sock, self.log = args, sock, log
        self.out = Output()
        self.player = None
        self.queue = bytearray()  # bytes still to send, one at a time, every self.pace s
        self.pace = 0.0
        self.next_send = 0.0
        self.received_any = False

    def enqueue(self, data, pace_ms):
        self.queue += data
        self.pace = pace_ms / 1000.0

    def received(self, data):
        self.received_any = True
        self.log.write(data)
        self.log.flush()
        if self.args.echo or self.args.interactive:
            os.write(sys.stdout.fileno(), data)
        if self.player:
            self.out.add(data)

    def send_next(self):
        """Sends the next queued byte; False if the connection is gone."""
        try:
            self.sock.sendall(bytes(self.queue[:1]))
        except OSError:
            return False
        del self.queue[:1]
        return True

    def drain(self):
        while select.select([self.sock], [], [], 0.2)[0]:
            try:
                data = self.sock.recv(65536)
            except ConnectionError:
                return
            if not data:
                return
            self.received(data)

    def ended(self, why):
        """The machine stopped: a session with steps left fails."""
        if self.player and not self.player.done:
            self.player.poll(time.monotonic())
            if not self.player.done:
                self.player.fail(self.player.steps[self.player.index], why)
                return EXIT_STEP
        return EXIT_OK

    def run(self, deadline):
        stdin = sys.stdin.fileno() if self.args.interactive else None
        while True:
            now = time.monotonic()
            if self.player and not self.player.failed:
                self.player.poll(now)
            if self.player and self.player.failed:
                return EXIT_STEP
            if now >= deadline:
                if self.player and not self.player.done:
                    self.player.fail(self.player.steps[self.player.index], "the overall timeout came first")
                    return EXIT_STEP
                return EXIT_TIMEOUT
            if self.queue and now >= self.next_send:
                if not self.send_next():
                    self.drain()
                    return self.ended("the emulator closed the connection while we were sending")
                self.next_send = now + self.pace
            wake = [deadline, now + ALIVE_CHECK_S]
            if self.queue:
                wake.append(self.next_send)
            if self.player and self.player.step_deadline():
                wake.append(self.player.step_deadline())
            fds = [self.sock] + ([stdin] if stdin is not None else [])
            ready, _, _ = select.select(fds, [], [], max(0.0, min(wake) - time.monotonic()))
            if self.sock in ready:
                try:
                    data = self.sock.recv(65536)
                except ConnectionError:
                    data = b""
                if not data:
                    return self.ended("the emulator closed the connection (the machine stopped)")
                self.received(data)
            elif not emulator_alive(self.args.pid):
                # The connection is open but the emulator is gone: what answered was not it
                # (another program took the port first), or its last bytes are still on the way.
                self.drain()
                if not self.received_any:
                    return EXIT_NO_EMULATOR
                return self.ended("the emulator ended (the machine stopped)")
            if stdin is not None and stdin in ready:
                keys = os.read(stdin, 1024)
                if not keys:
                    stdin = None
                    continue
                if CTRL_RBRACKET in keys:
                    self.enqueue(keys[:keys.index(CTRL_RBRACKET)], self.args.pace_ms)
                    while self.queue and self.send_next():  # what was typed before Ctrl-] goes out
                        time.sleep(self.pace)
                    return EXIT_USER
                self.enqueue(keys, self.args.pace_ms)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, help="the emulator's COM1 socket")
    ap.add_argument("--pid", type=int, help="the emulator's process: stop waiting for it once it ends")
    ap.add_argument("--log", help="the transcript: every byte received is appended")
    ap.add_argument("--timeout", type=float, default=600, help="overall seconds (default 600)")
    ap.add_argument("--session", help="a session file to play (docs/console.md)")
    ap.add_argument("--step-timeout", type=float, default=60, help="default seconds per expect step (60)")
    ap.add_argument("--pace-ms", type=float, default=5, help="milliseconds between bytes sent (5)")
    ap.add_argument("--interactive", action="store_true", help="bridge the terminal (raw mode; Ctrl-] ends)")
    ap.add_argument("--echo", action="store_true", help="also print what is received")
    ap.add_argument("--pick-port", action="store_true", help="print a free TCP port on --host and exit")
    ap.add_argument("--check", action="store_true", help="only check the --session file and exit")
    args = ap.parse_args(argv)
    if args.pick_port:
        print(pick_port(args.host))
        return EXIT_OK
    if not args.check and (args.port is None or args.log is None):
        ap.error("--port and --log are required")
    eol = "\r\n" if args.interactive else "\n"  # the terminal is raw while bridged

    def say(msg):
        sys.stderr.write(eol.join(msg.split("\n")) + eol)
        sys.stderr.flush()

    # A signal (SIGTERM, SIGHUP) ends the bridge through `finally`, so the terminal is restored.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(EXIT_SIGNAL))
    steps = None
    if args.session:
        try:
            with open(args.session, encoding="utf-8") as f:
                steps = parse_session(f.read(), args.step_timeout, args.pace_ms)
        except (OSError, SessionError) as e:
            say(f"console: session {args.session}: {e}")
            return EXIT_USAGE
    if args.check:
        return EXIT_OK
    deadline = time.monotonic() + args.timeout
    sock = connect(args.host, args.port, args.pid, deadline)
    if sock == "gone":
        say(f"console: the emulator ended before accepting a connection on {args.host}:{args.port}")
        return EXIT_NO_EMULATOR
    if sock is None:
        say(f"console: nothing listened on {args.host}:{args.port} within {args.timeout:g} s")
        return EXIT_TIMEOUT
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    saved = None
    with open(args.log, "ab") as log:
        bridge = Bridge(args, sock, log)
        if steps is not None:
            name = os.path.basename(args.session)
            bridge.player = Player(steps, name, bridge.out, bridge.enqueue, say)
        if args.interactive:
            import termios
            import tty
            saved = termios.tcgetattr(sys.stdin.fileno())
        try:
            if saved is not None:
                tty.setraw(sys.stdin.fileno())
            rc = bridge.run(deadline)
        except KeyboardInterrupt:
            rc = EXIT_SIGNAL
        finally:
            if saved is not None:
                termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
            sock.close()
    if rc == EXIT_TIMEOUT:
        say(f"console: overall timeout ({args.timeout:g} s)")
    return rc


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:
        sys.exit(EXIT_OK)
