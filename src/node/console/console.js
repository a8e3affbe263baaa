/*
 * The rangekv web console (docs/console.md). Plain JavaScript reading the
 * JSON API of the node that served the page:
 *
 *   GET /api/v1/cluster/status          the nodes table (every 2 s)
 *   GET /metrics                        the charts (every 2 s)
 *   GET /api/v1/ranges?sort=writes&limit=5&node=SELF   this node's hot ranges, totals
 *   GET /api/v1/ranges?after=&limit=    the range table (the cluster's), a page at a time
 *   GET /api/v1/ranges?sort=&limit=     ... or the top ranges by a figure
 *   GET /api/v1/ranges/{id}, /log       one range's raft detail and log
 *
 * Never the whole range list: a node may hold 100,000 ranges. Everything
 * the API sends is put in the page as text (textContent), never as markup:
 * keys arrive escaped (docs/contract.md) and stay so. With an admin token
 * set on the node, the calls that need it (a range's log) answer 401; the
 * user pastes the token, which is kept in sessionStorage (this tab only)
 * and sent as "Authorization: Bearer".
 */
"use strict";

(function () {
	const TOKEN_KEY = "rangekv.admin_token";
	const FAST_MS = 2000;   /* nodes, metrics */
	const SLOW_MS = 5000;   /* ranges, hot ranges, detail */
	const CHART_POINTS = 90;

	const $ = (id) => document.getElementById(id);
	const view = {
		sort: "",      /* "" (by id, paged), "size", "writes", "reads" */
		node: "",      /* "" or a node id */
		unavailable: false, /* only the ranges that cannot serve */
		limit: 50,
		after: 0,      /* the page's after= (by id) */
		back: [],      /* the after= of the pages before */
		next: null,    /* the API's next, null on the last page */
		selected: null /* the range shown in detail */
	};
	let nodeRanges = null;
	let selfId = null; /* this node's id, from the status */

	class ApiError extends Error {
		constructor(status, msg) {
			super(msg);
			this.status = status;
		}
	}

	/* ---- helpers ---------------------------------------------------------- */

	function authHeaders() {
		const t = sessionStorage.getItem(TOKEN_KEY);
		return t ? { Authorization: "Bearer " + t } : {};
	}

	/* The API's answer (JSON, or text for /metrics); an ApiError with the
	 * API's message for any other status. */
	async function api(path) {
		const r = await fetch(path, { headers: authHeaders(), cache: "no-store" });
		const json = (r.headers.get("Content-Type") || "").startsWith("application/json");
		const body = json ? await r.json() : await r.text();
		if (!r.ok) {
			const msg = json && body && body.error ? body.error : "HTTP " + r.status;
			throw new ApiError(r.status, msg);
		}
		return body;
	}

	function el(tag, text, cls) {
		const e = document.createElement(tag);
		if (text !== undefined && text !== null)
			e.textContent = String(text);
		if (cls)
			e.className = cls;
		return e;
	}

	/* A table row; a cell is text, a Node, or {text, cls}. */
	function row(cells) {
		const tr = el("tr");
		for (const c of cells) {
			const td = el("td");
			if (c instanceof Node) {
				td.appendChild(c);
			} else if (c !== null && typeof c === "object") {
				td.textContent = c.text;
				td.className = c.cls || "";
			} else {
				td.textContent = c === null || c === undefined ? "-" : String(c);
			}
			tr.appendChild(td);
		}
		return tr;
	}

	function fill(table, rows) {
		table.tBodies[0].replaceChildren(...rows);
	}

	function numCell(v) {
		return { text: v === null || v === undefined ? "-" : String(v), cls: "num" };
	}

	function size(b) {
		if (b === null || b === undefined) /* a range held elsewhere */
			return null;
		const u = ["B", "KiB", "MiB", "GiB", "TiB"];
		let i = 0;
		while (b >= 1024 && i < u.length - 1) {
			b /= 1024;
			i++;
		}
		return (i === 0 ? b.toFixed(0) : b.toFixed(b < 10 ? 1 : 0)) + " " + u[i];
	}

	function rate(v) {
		if (v === null || v === undefined) /* a range held elsewhere */
			return null;
		if (v >= 1e6) return (v / 1e6).toFixed(1) + "M";
		if (v >= 1e3) return (v / 1e3).toFixed(1) + "k";
		return v.toFixed(v >= 100 || v === 0 ? 0 : 1);
	}

	function startKey(r) {
		return r.start === "" ? "(start)" : r.start;
	}

	function endKey(r) {
		return r.end === "" ? "(end)" : r.end;
	}

	function replicasText(r) {
		return r.replicas.map((x) => x.role === "learner" ? x.node_id + "L" : String(x.node_id)).join(",");
	}

	function leaderCell(r) {
		/* role null: a range this node holds no replica of, whose leader
		 * it may just not know. */
		if (r.leader === null && r.role === null)
			return numCell(null);
		return r.leader === null ? { text: "none", cls: "num leaderless" } : numCell(r.leader);
	}

	function idButton(id) {
		const b = el("button", id, "link");
		b.type = "button";
		b.dataset.range = id;
		b.title = "raft detail and log of range " + id;
		return b;
	}

	function showError(where, e) {
		const p = $("error");
		if (e === null) {
			if (p.dataset.where === where) {
				p.hidden = true;
				p.dataset.where = "";
			}
			return;
		}
		p.textContent = where + ": " + e.message;
		p.dataset.where = where;
		p.hidden = false;
	}

	/* Runs fn now and every ms (a turn is skipped while the last one is
	 * still out: a slow node is not asked again and again); its failures
	 * show in the banner. Returns the function that runs it at once (a
	 * user's action). */
	function every(ms, where, fn) {
		let out = 0;
		const run = async () => {
			out++;
			try {
				await fn();
				showError(where, null);
			} catch (e) {
				showError(where, e);
			} finally {
				out--;
			}
		};
		run();
		setInterval(() => {
			if (out === 0)
				run();
		}, ms);
		return run;
	}

	/* ---- nodes ------------------------------------------------------------ */

	async function loadNodes() {
		const st = await api("/api/v1/cluster/status");
		nodeRanges = st.ranges;
		selfId = st.node_id;
		$("who").textContent = "node " + st.node_id + " \u00b7 " + st.ranges + " ranges here";
		$("updated").textContent = "updated " + new Date().toLocaleTimeString();
		fill($("nodes"), st.nodes.map((n) => {
			const tr = row([numCell(n.id), { text: n.state, cls: n.state === "up" ? "up" : "down" },
				n.peer_addr, n.client_addr, n.http_addr, numCell(n.ranges),
				numCell(n.leaders), n.no_space === null ? "-" : n.no_space ? "NO SPACE" : "ok"]);
			tr.dataset.node = n.id;
			return tr;
		}));
		$("alarms").textContent = st.alarms.length ?
			"Alarms on node " + st.node_id + ": " + st.alarms.join(", ") : "";
		$("disk").textContent = st.disk && st.disk.free_bytes !== null ?
			"node " + st.node_id + ": " + size(st.disk.free_bytes) + " free on the data disk" : "";
		document.body.dataset.nodes = "ready";
	}

	/* ---- hot ranges and totals -------------------------------------------- */

	async function loadHot() {
		/* This node's own ranges: the list is the whole cluster's. */
		const h = await api("/api/v1/ranges?sort=writes&limit=5" +
			(selfId ? "&node=" + selfId : ""));
		const t = h.totals;
		$("totals").replaceChildren(
			el("span", t.ranges + " ranges, " + t.leaders + " led here, "),
			el("span", t.leaderless + " leaderless", t.leaderless > 0 ? "leaderless" : ""),
			el("span", ", "),
			el("span", t.unavailable + " unavailable", t.unavailable > 0 ? "leaderless" : ""),
			el("span", ", " + t.asleep + " asleep \u00b7 " + rate(t.writes_per_sec) +
				" writes/s applied, " + rate(t.reads_per_sec) + " reads/s served"));
		fill($("hot"), h.ranges.filter((r) => r.writes_per_sec > 0).map((r) => row([
			idButton(r.id), { text: startKey(r), cls: "key" }, { text: endKey(r), cls: "key" },
			leaderCell(r), numCell(size(r.size_bytes)), numCell(rate(r.writes_per_sec)),
			numCell(rate(r.reads_per_sec))])));
	}

	/* ---- the range table --------------------------------------------------- */

	function rangesPath() {
		let p = "/api/v1/ranges?limit=" + view.limit;
		if (view.sort)
			p += "&sort=" + view.sort;
		else if (view.after > 0)
			p += "&after=" + view.after;
		if (view.node)
			p += "&node=" + encodeURIComponent(view.node);
		if (view.unavailable)
			p += "&unavailable=1";
		return p;
	}

	let rangesAsked = 0;

	async function loadRanges() {
		/* Only the last call draws: an older answer (a refresh that was
		 * out when the user turned the page) is dropped. */
		const asked = ++rangesAsked;
		writeHash();
		const page = await api(rangesPath());
		if (asked !== rangesAsked)
			return;
		fill($("ranges"), page.ranges.map((r) => {
			const tr = row([idButton(r.id), { text: startKey(r), cls: "key" },
				{ text: endKey(r), cls: "key" }, leaderCell(r), numCell(r.term),
				numCell(r.applied_index), numCell(size(r.size_bytes)),
				numCell(rate(r.writes_per_sec)), numCell(rate(r.reads_per_sec)),
				{ text: r.asleep === null ? "-" : r.asleep ? "asleep" : "awake",
					cls: r.asleep ? "asleep" : "" },
				replicasText(r)]);
			tr.dataset.range = r.id;
			if (r.id === view.selected)
				tr.className = "selected";
			return tr;
		}));
		view.next = page.next;
		$("prev").disabled = view.sort !== "" || view.back.length === 0;
		$("first").disabled = view.sort !== "" || view.after === 0;
		$("next").disabled = view.sort !== "" || page.next === null;
		let info;
		if (view.sort) {
			info = "the top " + page.ranges.length + " by " + view.sort;
		} else if (page.ranges.length === 0) {
			info = "no ranges";
		} else {
			info = "ids " + page.ranges[0].id + "\u2013" + page.ranges[page.ranges.length - 1].id;
		}
		if (nodeRanges !== null) /* the table is the cluster's, from the index */
			info += " (" + nodeRanges + " ranges on this node)";
		$("page-info").textContent = info;
		for (const th of $("ranges").tHead.rows[0].cells)
			th.classList.toggle("sorted", th.dataset.sort === view.sort);
		if (!document.documentElement.dataset.firstTableMs)
			/* From the navigation's start (docs/benchmarks.md). */
			document.documentElement.dataset.firstTableMs = String(Math.round(performance.now()));
		document.body.dataset.ranges = "ready";
	}

	let reloadRanges = null;

	function setSort(s) {
		view.sort = s;
		view.after = 0;
		view.back = [];
		$("sort").value = s;
		reloadRanges();
	}

	/* ---- one range ------------------------------------------------------------ */

	function fact(dl, name, value, cls) {
		dl.appendChild(el("dt", name));
		dl.appendChild(el("dd", value === null || value === undefined ? "-" : value, cls));
	}

	async function loadDetail() {
		const id = view.selected;
		if (id === null)
			return;
		const r = await api("/api/v1/ranges/" + id);
		if (id !== view.selected)
			return;
		$("d-id").textContent = id;
		const dl = $("d-facts");
		dl.replaceChildren();
		fact(dl, "span", "[" + r.start + ", " + (r.end === "" ? "(end)" : r.end) + ")", "key");
		fact(dl, "leader", r.leader === null ? "none known" : "node " + r.leader,
			r.leader === null ? "leaderless" : "");
		fact(dl, "role here", r.role);
		fact(dl, "term", r.term);
		fact(dl, "commit / applied", r.commit_index + " / " + r.applied_index);
		fact(dl, "log", "first " + r.first_index + ", last " + r.raft.last_index + ", durable " +
			r.raft.durable_last_index + ", " + size(r.log_bytes));
		fact(dl, "size", size(r.size_bytes));
		fact(dl, "load", rate(r.writes_per_sec) + " writes/s, " + rate(r.reads_per_sec) + " reads/s");
		fact(dl, "asleep", r.asleep ? "yes, for " + (r.raft.asleep_ms / 1000).toFixed(1) + " s" : "no");
		fact(dl, "generation / conf", r.generation + " / " + r.conf_version);
		fact(dl, "replicas", r.replicas.map((x) => "node " + x.node_id + " (" + x.role + ")").join(", "));
		const prog = r.raft.progress;
		$("d-progress-note").textContent = prog === null ?
			"(known on the leader" + (r.leader === null ? ")" : ": node " + r.leader + ")") : "";
		fill($("progress"), (prog || []).map((p) => row([numCell(p.replica_id), numCell(p.node_id),
			p.state, numCell(p.match), numCell(p.next), numCell(p.inflight), p.active ? "yes" : "no",
			numCell(p.last_contact_ms === null ? "-" : p.last_contact_ms + " ms")])));
		$("detail-sec").hidden = false;
		try {
			const lg = await api("/api/v1/ranges/" + id + "/log?limit=20");
			if (id !== view.selected)
				return;
			$("d-log-note").textContent = "(entries " + lg.first_index + "\u2013" + lg.last_index +
				" held; the last " + lg.entries.length + ")";
			fill($("log"), lg.entries.slice().reverse().map((e) => row([numCell(e.index),
				numCell(e.term), e.type, numCell(size(e.size)), { text: e.command, cls: "cmd" }])));
		} catch (e) {
			fill($("log"), []);
			if (e.status === 401) {
				$("d-log-note").textContent = "(the log shows keys: it needs the node's admin token)";
				$("token-form").hidden = false;
			} else {
				throw e;
			}
		}
		document.body.dataset.detail = String(id);
	}

	let reloadDetail = null;

	function select(id) {
		view.selected = id;
		writeHash();
		for (const tr of $("ranges").tBodies[0].rows)
			tr.classList.toggle("selected", Number(tr.dataset.range) === id);
		reloadDetail();
		$("detail-sec").scrollIntoView({ behavior: "smooth", block: "nearest" });
	}

	/* ---- charts from /metrics ---------------------------------------------- */

	/* name{labels} -> value of Prometheus text. */
	function parseMetrics(text) {
		const m = new Map();
		for (const line of text.split("\n")) {
			if (line === "" || line[0] === "#")
				continue;
			const sp = line.lastIndexOf(" ");
			m.set(line.slice(0, sp), Number(line.slice(sp + 1)));
		}
		return m;
	}

	const GC = "rangekv_group_commit_seconds";
	const series = { req: [], served: [], mean: [], p99: [] };
	let lastM = null;

	/* The bucket bound below which 99% of the commits since prev fell. */
	function p99(m, prev, count) {
		const want = 0.99 * count;
		for (const [k, v] of m) {
			if (!k.startsWith(GC + "_bucket{"))
				continue;
			if (v - (prev.get(k) || 0) >= want) {
				const le = k.slice(k.indexOf('le="') + 4, k.lastIndexOf('"'));
				return le === "+Inf" ? null : Number(le) * 1000;
			}
		}
		return null;
	}

	function push(a, v) {
		a.push(v);
		if (a.length > CHART_POINTS)
			a.shift();
	}

	function svgEl(tag, attrs, text) {
		const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
		for (const k in attrs)
			e.setAttribute(k, attrs[k]);
		if (text !== undefined)
			e.textContent = text;
		return e;
	}

	/* Draws the series (arrays of numbers or null, the last CHART_POINTS
	 * samples) on svg, scaled to their largest value, newest at the right. */
	function draw(svg, lines) {
		const W = 320, H = 90, top = 12, left = 2;
		let max = 0;
		for (const s of lines)
			for (const v of s)
				if (v !== null && v > max)
					max = v;
		max = max > 0 ? max * 1.1 : 1;
		const kids = [svgEl("line", { x1: 0, y1: top, x2: W, y2: top, class: "grid" }),
			svgEl("line", { x1: 0, y1: H - 1, x2: W, y2: H - 1, class: "grid" }),
			svgEl("text", { x: 4, y: 10, class: "axis" }, max >= 10 ? max.toFixed(0) : max.toPrecision(2))];
		lines.forEach((s, i) => {
			const pts = [];
			s.forEach((v, k) => {
				if (v === null)
					return;
				/* Spread over the width until the window is full. */
				const x = left + (W - left) * k / Math.max(s.length - 1, 1);
				const y = H - 1 - (H - 1 - top) * v / max;
				pts.push(x.toFixed(1) + "," + y.toFixed(1));
			});
			kids.push(svgEl("polyline", { points: pts.join(" "), class: "s" + i }));
		});
		svg.replaceChildren(...kids);
	}

	async function loadMetrics() {
		const m = parseMetrics(await api("/metrics"));
		const now = performance.now();
		if (lastM !== null) {
			const dt = (now - lastM.t) / 1000;
			const d = (k) => (m.get(k) || 0) - (lastM.m.get(k) || 0);
			const req = Math.max(0, d("rangekv_client_commands_total")) / dt;
			const n = d(GC + "_count");
			const mean = n > 0 ? d(GC + "_sum") / n * 1000 : null;
			const high = n > 0 ? p99(m, lastM.m, n) : null;
			/* The ranges' own 10-second averages: writes applied by
			 * every replica here, reads served by the leaders here. */
			const served = (m.get("rangekv_range_writes_per_second") || 0) +
				(m.get("rangekv_range_reads_per_second") || 0);
			push(series.req, req);
			push(series.served, served);
			push(series.mean, mean);
			push(series.p99, high);
			$("req-now").textContent = rate(req) + " / " + rate(served);
			$("gc-now").textContent = mean === null ? "(no commits)" :
				mean.toFixed(2) + " / " + (high === null ? "-" : "\u2264" + high.toFixed(1));
			draw($("chart-req"), [series.req, series.served]);
			draw($("chart-gc"), [series.mean, series.p99]);
		}
		lastM = { m: m, t: now };
	}

	/* ---- the admin token ------------------------------------------------------ */

	function setupToken() {
		const form = $("token-form");
		$("token-show").addEventListener("click", () => {
			form.hidden = !form.hidden;
		});
		form.addEventListener("submit", (ev) => {
			ev.preventDefault();
			const t = $("token").value.trim();
			if (t)
				sessionStorage.setItem(TOKEN_KEY, t);
			$("token").value = "";
			form.hidden = true;
			reloadDetail();
		});
		$("token-forget").addEventListener("click", () => {
			sessionStorage.removeItem(TOKEN_KEY);
			reloadDetail();
		});
	}

	/* ---- the view in the URL ------------------------------------------------------ */

	/* The view is kept in the URL's fragment, so that a link or a reload
	 * shows the same: #sort=writes, #after=500&limit=100&node=2,
	 * #unavailable=1, #range=7 (combined with &). Values that are not
	 * valid are ignored. */
	function readHash() {
		const q = new URLSearchParams(location.hash.slice(1));
		const whole = (k) => /^[0-9]+$/.test(q.get(k) || "") ? Number(q.get(k)) : null;
		if (["size", "writes", "reads"].includes(q.get("sort")))
			view.sort = q.get("sort");
		if (whole("limit") !== null && whole("limit") >= 1 && whole("limit") <= 1000)
			view.limit = whole("limit");
		if (whole("after") !== null && !view.sort)
			view.after = whole("after");
		if (whole("node") !== null && whole("node") > 0)
			view.node = String(whole("node"));
		view.unavailable = q.get("unavailable") === "1";
		if (whole("range") !== null && whole("range") > 0)
			view.selected = whole("range");
		$("sort").value = view.sort;
		if (![...$("limit").options].some((o) => Number(o.value) === view.limit))
			$("limit").add(new Option(String(view.limit)));
		$("limit").value = String(view.limit);
		$("node").value = view.node;
		$("unavailable").checked = view.unavailable;
	}

	function writeHash() {
		const q = new URLSearchParams();
		if (view.sort)
			q.set("sort", view.sort);
		else if (view.after > 0)
			q.set("after", view.after);
		if (view.limit !== 50)
			q.set("limit", view.limit);
		if (view.node)
			q.set("node", view.node);
		if (view.unavailable)
			q.set("unavailable", "1");
		if (view.selected !== null)
			q.set("range", view.selected);
		const h = q.toString();
		history.replaceState(null, "", h ? "#" + h : location.pathname + location.search);
	}

	/* ---- start ------------------------------------------------------------------ */

	function start() {
		readHash();
		setupToken();
		$("sort").addEventListener("change", () => setSort($("sort").value));
		for (const th of $("ranges").tHead.rows[0].cells)
			if (th.classList.contains("sortable"))
				th.addEventListener("click", () => setSort(th.dataset.sort));
		$("limit").addEventListener("change", () => {
			view.limit = Number($("limit").value);
			reloadRanges();
		});
		$("node").addEventListener("change", () => {
			const v = $("node").value.trim();
			view.node = /^[1-9][0-9]*$/.test(v) ? v : "";
			$("node").value = view.node;
			view.after = 0;
			view.back = [];
			reloadRanges();
		});
		$("unavailable").addEventListener("change", () => {
			view.unavailable = $("unavailable").checked;
			view.after = 0;
			view.back = [];
			reloadRanges();
		});
		$("next").addEventListener("click", () => {
			if (view.next === null)
				return;
			view.back.push(view.after);
			view.after = view.next;
			reloadRanges();
		});
		$("prev").addEventListener("click", () => {
			if (view.back.length === 0)
				return;
			view.after = view.back.pop();
			reloadRanges();
		});
		$("first").addEventListener("click", () => {
			view.after = 0;
			view.back = [];
			reloadRanges();
		});
		document.addEventListener("click", (ev) => {
			const b = ev.target.closest("button[data-range]");
			if (b)
				select(Number(b.dataset.range));
		});
		$("d-close").addEventListener("click", () => {
			view.selected = null;
			$("detail-sec").hidden = true;
			writeHash();
		});
		/* The first page of ranges comes first: it is what people wait for. */
		reloadRanges = every(SLOW_MS, "ranges", loadRanges);
		every(FAST_MS, "nodes", loadNodes);
		every(SLOW_MS, "hot ranges", loadHot);
		every(FAST_MS, "metrics", loadMetrics);
		reloadDetail = every(SLOW_MS, "range", loadDetail);
	}

	start();
})();
