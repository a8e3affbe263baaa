"""A minimal RESP2 client for the fault harness (standard library only).

    c = Conn(("127.0.0.2", 7202), timeout=8)
    c.call("SET", "k", "v")   # -> "OK", an int, bytes, None, a list or an Err

Every connection binds its source address to the host it connects to
(127.0.0.N to 127.0.0.N), so that the packet filters of a partition, which
cut traffic between two node addresses, never cut a client from its node.
"""
import socket


class Err:
    """An error reply, returned rather than raised: -TRYAGAIN and -TIMEOUT
    are ordinary outcomes under faults."""

    def __init__(self, msg):
        self.msg = msg

    def kind(self):
        return self.msg.split(" ", 1)[0]

    def __repr__(self):
        return "Err(%r)" % self.msg


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class Conn:
    """One connection. Any OSError or EOFError out of call() leaves the
    outcome of that command unknown; the connection must then be dropped."""

    def __init__(self, addr, timeout):
        host, _ = addr
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.sock.settimeout(timeout)
            self.sock.bind((host, 0))
            self.sock.connect(addr)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            self.sock.close()
            raise
        self.buf = bytearray()

    def close(self):
        self.sock.close()

    def call(self, *args):
        self.sock.sendall(encode(*args))
        return self._reply()

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise EOFError("connection closed by the node")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            self._fill()

    def _reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return Err(rest.decode(errors="replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data = bytes(self.buf[:n])
            del self.buf[:n + 2]
            return data
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise EOFError("not a RESP reply: %r" % line[:40])
