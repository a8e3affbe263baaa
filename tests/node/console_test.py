#!/usr/bin/env python3
"""The web console at GET / in a real browser: headless Chromium (Debian
`chromium`) loads the page of a running 3-node cluster holding data, with
an admin token set, and the DOM it rendered must hold:

  - the nodes table: nodes 1, 2 and 3, up, each one's leader count as the
    API says;
  - the range table: every range by id, with its span (keys as the API
    escapes them) and its leader;
  - the hot ranges: the range that took the writes first;
  - the charts drawn from /metrics;
  - one range's raft detail (/#range=ID on its leader: a replication row
    per replica) and, the log needing the token, the note asking for it.

Also the answers' headers (Content-Type, Cache-Control, the
Content-Security-Policy) and that the page breaks none of its own policy
(Chromium's console). Without Chromium the test fails: scripts/setup.sh
installs it.

    console_test.py path/to/rangekv [--screenshot FILE.png]

--screenshot also saves a picture of the page (docs/console.png).
"""
import html.parser
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))
import cluster  # noqa: E402

BIN = sys.argv[1]
SLOW = 4 if os.environ.get("RK_SANITIZED_RUN") else 1  # ASan + UBSan builds
TOKEN = "console-test-token-0123456789"
HOT_RANGE_KEYS = 300


def fail(msg):
    print("console_test: FAIL: " + msg, flush=True)
    sys.exit(1)


def url(i, path):
    return "http://%s%s" % (cluster.http_addr(i), path)


def get(i, path, token=None):
    req = urllib.request.Request(url(i, path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=5 * SLOW) as r:
        return r.status, r.headers, r.read()


def api(i, path):
    return json.loads(get(i, path)[2])


def resp_set(i, pairs):
    """SETs on node i's client port (RESP), checking each +OK."""
    with socket.create_connection(cluster.client_addr(i), timeout=10 * SLOW) as s:
        f = s.makefile("rb")
        for k, v in pairs:
            s.sendall(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
            line = f.readline()
            if line != b"+OK\r\n":
                fail("SET %r: %r" % (k, line))


class Writer(threading.Thread):
    """SETs into one range until stopped: the charts have something to draw."""

    def __init__(self, i, prefix):
        super().__init__(daemon=True)
        self.i, self.prefix, self.stop, self.n = i, prefix, threading.Event(), 0

    def run(self):
        while not self.stop.is_set():
            resp_set(self.i, [(self.prefix + b"w%06d" % (self.n + k), b"w" * 64) for k in range(20)])
            self.n += 20


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    fail("no chromium on PATH: the console is tested in a real browser "
         "(Debian package chromium; scripts/setup.sh installs it)")


class Dom(html.parser.HTMLParser):
    """The rendered tables (id -> rows of cell texts), elements' attributes
    by id, and the polylines of the charts."""

    def __init__(self):
        super().__init__()
        self.tables, self.attrs, self.polylines = {}, {}, {}
        self.texts = {}
        self.table = None
        self.cell = None
        self.svg = None
        self.open_ids = []  # (tag, id) of elements whose text is kept

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.attrs[a["id"]] = a
            if tag in ("span", "small", "p", "b"):
                self.open_ids.append((tag, a["id"]))
                self.texts[a["id"]] = ""
        if tag == "html":
            self.attrs["html"] = a
        if tag == "body":
            self.attrs["body"] = a
        if tag == "table":
            self.table = a.get("id")
            self.tables[self.table] = []
            self.in_body = False
        elif tag == "tbody" and self.table is not None:
            self.in_body = True
        elif tag == "tr" and self.table is not None and self.in_body:
            self.tables[self.table].append([])
        elif tag == "td" and self.table is not None and self.in_body:
            self.cell = ""
        elif tag == "svg":
            self.svg = a.get("id")
            self.polylines[self.svg] = []
        elif tag == "polyline" and self.svg is not None:
            self.polylines[self.svg].append(a.get("points", ""))

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.tables[self.table][-1].append(self.cell)
            self.cell = None
        elif tag == "table":
            self.table = None
        elif tag == "svg":
            self.svg = None
        elif self.open_ids and self.open_ids[-1][0] == tag:
            self.open_ids.pop()

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data
        for _, i in self.open_ids:
            self.texts[i] += data


def browse(chromium, page, tmp, screenshot=None):
    """Loads page in headless Chromium; returns (the DOM it rendered, its
    log on stderr)."""
    args = [chromium, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
            "--disable-extensions", "--disable-background-networking",
            "--user-data-dir=" + os.path.join(tmp, "chromium"),
            "--enable-logging=stderr", "--v=0",
            # Virtual time: the page's timers and fetches run until it is
            # spent (the charts need two /metrics reads, 2 s apart).
            "--virtual-time-budget=%d" % (9000 * SLOW), "--window-size=1400,1700"]
    args += ["--screenshot=" + screenshot] if screenshot else ["--dump-dom"]
    p = subprocess.run(args + [page], capture_output=True, timeout=120 * SLOW)
    if p.returncode != 0:
        fail("chromium exited %d: %s" % (p.returncode, p.stderr.decode(errors="replace")[-2000:]))
    return p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def check_headers(i):
    csp = None
    for path, ctype in (("/", "text/html"), ("/console.js", "text/javascript"),
                        ("/console.css", "text/css")):
        status, h, body = get(i, path)
        if status != 200 or not h["Content-Type"].startswith(ctype + "; charset=utf-8") or \
                h["Cache-Control"] != "no-cache" or h["X-Content-Type-Options"] != "nosniff" or \
                not body:
            fail("GET %s: %s %s" % (path, status, dict(h)))
        csp = h["Content-Security-Policy"]
    for want in ("default-src 'none'", "script-src 'self'", "connect-src 'self'",
                 "frame-ancestors 'none'"):
        if csp is None or want not in csp:
            fail("Content-Security-Policy %r lacks %r" % (csp, want))
    # The page names only its own files, and no inline script or style.
    page = get(i, "/")[2].decode()
    if "http://" in page or "https://" in page or "<script>" in page or "<style" in page:
        fail("the page refers elsewhere or holds inline code")
    try:
        get(i, "/console.nope")
        fail("GET /console.nope answered")
    except urllib.error.HTTPError as e:
        if e.code != 404:
            fail("GET /console.nope: %d" % e.code)
    # POST / is not a page: the token is asked for first (any POST needs it).
    try:
        urllib.request.urlopen(urllib.request.Request(url(i, "/"), data=b"x"), timeout=5 * SLOW)
        fail("POST / answered")
    except urllib.error.HTTPError as e:
        if e.code != 401:
            fail("POST /: %d" % e.code)
    print("headers: Content-Type, Cache-Control, Content-Security-Policy on /, "
          "/console.js, /console.css; 404 for another file")


def check_page(d, log, c, hot_range):
    if "Refused to" in log or "Uncaught" in log:
        fail("the page broke its policy or threw: %s" % [ln for ln in log.splitlines()
                                                        if "Refused" in ln or "Uncaught" in ln])
    st = api(1, "/api/v1/cluster/status")
    nodes = d.tables.get("nodes", [])
    if [r[0] for r in nodes] != ["1", "2", "3"] or any(r[1] != "up" for r in nodes):
        fail("nodes table: %s" % nodes)
    if [r[6] for r in nodes] != [str(n["leaders"]) for n in st["nodes"]]:
        fail("nodes table leaders %s, the API says %s" % ([r[6] for r in nodes], st["nodes"]))
    ranges = api(1, "/api/v1/ranges")["ranges"]
    rows = d.tables.get("ranges", [])
    if [r[0] for r in rows] != [str(x["id"]) for x in ranges]:
        fail("range table ids %s, want %s" % ([r[0] for r in rows], [x["id"] for x in ranges]))
    for row, x in zip(rows, ranges):
        want = [x["start"] or "(start)", x["end"] or "(end)", str(x["leader"])]
        if row[1:4] != want:
            fail("range %d row %s, want %s" % (x["id"], row, want))
    hot = d.tables.get("hot", [])
    if not hot or hot[0][0] != str(hot_range):
        fail("hot ranges %s, want range %d first" % (hot, hot_range))
    for chart in ("chart-req", "chart-gc"):
        if not any(p.count(",") >= 2 for p in d.polylines.get(chart, [])):
            fail("chart %s not drawn: %s" % (chart, d.polylines.get(chart)))
    if (d.texts.get("req-now") or "0 / 0").startswith("0 /"):
        fail("requests/s under writes: %r" % d.texts.get("req-now"))
    if not d.attrs.get("html", {}).get("data-first-table-ms"):
        fail("no data-first-table-ms")
    print("page: nodes %s up, %d ranges with spans and leaders, hot range %d, charts drawn "
          "(%s requests/s), first table after %s ms" %
          ([r[0] for r in nodes], len(rows), hot_range, d.texts["req-now"],
           d.attrs["html"]["data-first-table-ms"]))


def check_views(chromium, tmp, hot_range):
    """The view in the URL: a page by id, and the top ranges by size."""
    t0 = time.time()  # sizes are measured off the loop, within about 10 s
    while api(1, "/api/v1/ranges?sort=size&limit=1")["ranges"][0]["id"] != hot_range:
        if time.time() - t0 > 30 * SLOW:
            fail("range %d never the largest" % hot_range)
        time.sleep(0.2)
    d = Dom()
    d.feed(browse(chromium, url(1, "/#after=8&limit=4"), tmp)[0])
    ids = [r[0] for r in d.tables.get("ranges", [])]
    if ids != ["9", "10", "11", "12"] or "disabled" in d.attrs["next"] or \
            "disabled" in d.attrs["first"]:
        fail("#after=8&limit=4: rows %s, next %s, first %s" %
             (ids, d.attrs.get("next"), d.attrs.get("first")))
    d = Dom()
    d.feed(browse(chromium, url(1, "/#sort=size&limit=3"), tmp)[0])
    rows = d.tables.get("ranges", [])
    if len(rows) != 3 or rows[0][0] != str(hot_range) or "disabled" not in d.attrs["next"]:
        fail("#sort=size&limit=3: rows %s, next %s" % (rows, d.attrs.get("next")))
    print("views: #after=8&limit=4 shows ranges 9-12 with Next, #sort=size&limit=3 the "
          "largest (range %d) first" % hot_range)


def check_detail(d, rid, leader):
    if d.texts.get("d-id") != str(rid) or "hidden" in d.attrs.get("detail-sec", {}):
        fail("range %d's detail not shown: %s %s" % (rid, d.texts.get("d-id"),
                                                    d.attrs.get("detail-sec")))
    prog = d.tables.get("progress", [])
    if sorted(r[1] for r in prog) != ["1", "2", "3"] or \
            [r[2] for r in prog if r[1] == str(leader)] != ["leader"]:
        fail("range %d's replication on its leader %d: %s" % (rid, leader, prog))
    if d.tables.get("log") or "admin token" not in d.texts.get("d-log-note", ""):
        fail("the log without the token: %s %r" % (d.tables.get("log"), d.texts.get("d-log-note")))
    print("detail: range %d on its leader, %d replication rows, the log asks for the token"
          % (rid, len(prog)))


def main():
    shot = None
    if len(sys.argv) > 3 and sys.argv[2] == "--screenshot":
        shot = os.path.abspath(sys.argv[3])
    chromium = find_chromium()
    tmp = tempfile.mkdtemp(prefix="rk-console-")
    tok = os.path.join(tmp, "token")
    with open(tok, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(tok, 0o600)
    c = cluster.Cluster(BIN, tmp, extra_flags=["--admin-token-file", tok])
    ok = False
    try:
        c.start_all()
        c.wait_all_led(timeout=30 * SLOW)
        spans = c.spans()
        # Writes into one range (the hot one) and a few keys elsewhere.
        hot_range = sorted(spans)[len(spans) // 2]
        start = spans[hot_range][0]
        resp_set(1, [(start + b"k%04d" % k, b"v" * 32) for k in range(HOT_RANGE_KEYS)])
        resp_set(2, [(spans[r][0] + b"one", b"x") for r in sorted(spans)[:4]])
        check_headers(1)
        w = Writer(1, start)
        w.start()
        try:
            dom, log = browse(chromium, url(1, "/"), tmp)
        finally:
            w.stop.set()
            w.join()
        d = Dom()
        d.feed(dom)
        check_page(d, log, c, hot_range)
        check_views(chromium, tmp, hot_range)
        leader = c.leaders(1)[hot_range]
        dom, log = browse(chromium, url(leader, "/#range=%d" % hot_range), tmp)
        d = Dom()
        d.feed(dom)
        check_detail(d, hot_range, c.ids[leader])
        if shot:
            w = Writer(1, start)
            w.start()
            browse(chromium, url(leader, "/#range=%d" % hot_range), tmp, screenshot=shot)
            w.stop.set()
            w.join()
            print("screenshot: " + shot)
        ok = True
    finally:
        ok = c.finish(ok, "console_test")
    if not ok:
        sys.exit(1)
    print("console_test: PASS")


if __name__ == "__main__":
    main()
