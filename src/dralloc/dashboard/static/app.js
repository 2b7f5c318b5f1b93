// dralloc dashboard: renders /api/fleet (kept fresh by the /api/events stream), explains a
// pending pod on click (/api/explain) and draws /api/history. Plain DOM, no framework, no
// build step. Every value from the server goes through textContent, never innerHTML.
"use strict";

(function () {
  const token = new URLSearchParams(window.location.search).get("access_token");
  const state = { fleet: null, selectedPod: null, selectedDevice: null };

  function withToken(path) {
    if (!token) return path;
    return path + (path.includes("?") ? "&" : "?") + "access_token=" + encodeURIComponent(token);
  }

  async function getJSON(path) {
    const headers = token ? { Authorization: "Bearer " + token } : {};
    const response = await fetch(path, { headers: headers, cache: "no-store" });
    const body = await response.json();
    return { ok: response.ok, status: response.status, body: body };
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function pct(x) { return (100 * x).toFixed(1) + "%"; }
  function usd(x) { return "$" + Number(x).toFixed(2); }
  function gib(bytes) { return bytes ? (bytes / 2 ** 30).toFixed(0) + " GiB" : ""; }
  // The catalog's short name ("h100-80gb-sxm"), else the product name as published.
  function shortModel(gpu) { return gpu.catalogName || gpu.model || "device"; }

  // -- summary ------------------------------------------------------------------------
  function renderSummary(fleet) {
    const s = fleet.summary;
    const tiles = [
      ["gpus", "GPUs", String(s.gpus)],
      ["used-gpus", "GPUs allocated", s.usedGpus.toFixed(2)],
      ["utilization", "utilization", pct(s.utilization)],
      ["fragmentation", "stranded (free GPU capacity, MIG slices and shares counted, on nodes where the typical pending claim cannot be allocated)", pct(s.fragmentation)],
      ["pending", "pods pending", String(s.pendingPods)],
      ["cost", "cost per hour (used + idle)", usd(s.costPerHour)],
      ["idle-cost", "idle per hour", usd(s.idleCostPerHour)],
    ];
    const box = document.getElementById("summary");
    box.replaceChildren(...tiles.map(([key, label, value]) =>
      el("div", { class: "tile", "data-metric": key },
        el("span", { class: "value", text: value }), el("span", { class: "label", text: label }))));
    const source = document.getElementById("source");
    source.textContent = fleet.source + (fleet.generatedAt ? " · " + fleet.generatedAt : "") +
      (s.unpricedModels.length ? " · no price for " + s.unpricedModels.join(", ") : "");
    document.getElementById("notes").replaceChildren(
      ...(fleet.notes || []).map((note) => el("li", { class: "note", text: note })));
  }

  // -- fleet --------------------------------------------------------------------------
  function deviceTitle(device) {
    const lines = [device.device + (device.profile ? " (" + device.profile + ")" : "")];
    for (const c of device.claims) {
      lines.push("claim " + c.claim + (c.share !== null ? " (" + pct(c.share) + ")" : "") +
        (c.pods.length ? " → " + c.pods.join(", ") : ""));
    }
    for (const t of device.taints) lines.push("taint " + t.key + "=" + t.value + ":" + t.effect);
    if (!device.claims.length) lines.push("free");
    return lines.join("\n");
  }

  function segment(device, style, alt) {
    const classes = ["seg"];
    if (device.allocated) classes.push("used");
    if (alt) classes.push("alt");
    if (device.taints.length) classes.push("tainted");
    const seg = el("div", { class: classes.join(" "), title: deviceTitle(device),
      "data-device": device.device, style: style });
    seg.addEventListener("click", (event) => { event.stopPropagation(); showDevice(device); });
    return seg;
  }

  function gpuCell(node, gpu) {
    const tainted = gpu.taints.length > 0 || gpu.devices.some((d) => d.taints.length > 0);
    const cell = el("div", { class: "gpu" + (tainted ? " tainted" : ""), tabindex: "0",
      "data-gpu": gpu.id, "data-mode": gpu.mode, "data-used": gpu.used });
    const label = gpu.mode === "shared" ? (gpu.sharing || "shared") :
      gpu.mode.startsWith("mig") ? "MIG" : gib(gpu.memory);
    cell.append(el("div", { class: "title" },
      el("span", { class: "model", text: shortModel(gpu), title: gpu.model }), el("span", { text: label })));
    const bar = el("div", { class: "bar" });
    if (gpu.slices) {
      bar.style.gridTemplateColumns = "repeat(" + gpu.slices + ", 1fr)";
      let alt = false;
      const covered = new Set();
      for (const device of gpu.devices) {
        if (!device.slices) continue;
        const [first, count] = device.slices;
        for (let i = first; i < first + count; i++) covered.add(i);
        bar.append(segment(device, "grid-column: " + (first + 1) + " / span " + count, alt));
        alt = device.allocated ? !alt : alt;
      }
      // Dynamic MIG: a slice no instance holds is free to carve; static MIG: no instance there.
      for (let i = 0; i < gpu.slices; i++) {
        if (covered.has(i)) continue;
        const dynamic = gpu.mode === "mig-dynamic";
        bar.append(el("div", { class: dynamic ? "seg slot" : "seg empty",
          title: "memory slice " + i + (dynamic ? ": free" : ": no MIG instance"),
          style: "grid-column: " + (i + 1) + " / span 1" }));
      }
    } else if (gpu.mode === "shared") {
      const shares = [];
      for (const device of gpu.devices) {
        for (const claim of device.claims) shares.push([device, claim]);
      }
      const used = shares.reduce((sum, [, c]) => sum + (c.share === null ? 1 : c.share), 0);
      const columns = shares.map(([, c]) => ((c.share === null ? 1 : c.share) * 1000).toFixed(0) + "fr");
      if (used < 1) columns.push(((1 - used) * 1000).toFixed(0) + "fr");
      bar.style.gridTemplateColumns = columns.join(" ") || "1fr";
      shares.forEach(([device, claim], index) => {
        const one = Object.assign({}, device, { claims: [claim] });
        bar.append(segment(one, "", index % 2 === 1));
      });
      if (used < 1) {
        const free = Object.assign({}, gpu.devices[0] || { device: gpu.id, taints: [] },
          { claims: [], allocated: false, profile: null });
        bar.append(segment(free, "", false));
      }
    } else {
      bar.style.gridTemplateColumns = "1fr";
      const device = gpu.devices[0] || { device: gpu.id, claims: [], taints: [], allocated: false };
      bar.append(segment(device, "", false));
    }
    cell.append(bar);
    cell.title = gpu.id + " · " + gpu.model + " · " + pct(gpu.used) + " allocated";
    cell.addEventListener("click", () => showGpu(node, gpu));
    cell.addEventListener("keydown", (event) => { if (event.key === "Enter") showGpu(node, gpu); });
    return cell;
  }

  function renderFleet(fleet) {
    const rows = fleet.nodes.map((node) => {
      const name = el("div", { class: "node-name", text: node.name });
      for (const t of node.taints) {
        name.append(el("span", { class: "badge", title: t.key + "=" + t.value + ":" + t.effect,
          text: "taint " + t.key.split("/").pop() }));
      }
      if (node.unschedulable) name.append(el("span", { class: "badge", text: "cordoned" }));
      const devices = el("div", { class: "devices" });
      for (const gpu of node.gpus) devices.append(gpuCell(node, gpu));
      for (const other of node.otherDevices) {
        const box = el("div", { class: "other" + (other.allocated ? " used" : ""),
          title: deviceTitle(other), "data-device": other.device, text: other.device });
        box.addEventListener("click", () => showDevice(other));
        devices.append(box);
      }
      if (!node.gpus.length && !node.otherDevices.length) {
        devices.append(el("span", { class: "muted", text: "no accelerators" }));
      }
      return el("div", { class: "node", "data-node": node.name }, name, devices);
    });
    document.getElementById("fleet").replaceChildren(...rows);
  }

  function claimTable(devices) {
    const table = el("table", {}, el("tr", {}, el("th", { text: "device" }),
      el("th", { text: "claim" }), el("th", { text: "share" }), el("th", { text: "pods" })));
    for (const device of devices) {
      const claims = device.claims.length ? device.claims : [null];
      for (const claim of claims) {
        table.append(el("tr", {},
          el("td", { text: device.device + (device.profile ? " (" + device.profile + ")" : "") }),
          el("td", { text: claim ? claim.claim : "free" }),
          el("td", { text: claim && claim.share !== null ? pct(claim.share) : "" }),
          el("td", { text: claim ? claim.pods.join(", ") : "" })));
      }
    }
    return el("div", { class: "scroll" }, table);
  }

  function showDevice(device) {
    const box = document.getElementById("device-detail");
    box.hidden = false;
    box.replaceChildren(el("h3", { text: "device " + device.device }), claimTable([device]));
  }

  function showGpu(node, gpu) {
    const box = document.getElementById("device-detail");
    box.hidden = false;
    const taints = [...gpu.taints, ...gpu.devices.flatMap((d) => d.taints)];
    box.replaceChildren(
      el("h3", { text: node.name + " · " + gpu.id }),
      el("p", { text: gpu.model + " · " + gpu.mode + (gpu.sharing ? " (" + gpu.sharing + ")" : "") +
        " · " + pct(gpu.used) + " allocated" +
        (gpu.pricePerHour !== null ? " · " + usd(gpu.pricePerHour) + "/h" : "") }),
      ...(taints.length ? [el("p", { class: "taints", text: "taints: " + taints.map((t) => t.key + "=" + t.value + ":" + t.effect).join(", ") })] : []),
      gpu.devices.length ? claimTable(gpu.devices) : el("p", { class: "muted", text: "nothing allocated" }));
  }

  // -- pending pods and why -------------------------------------------------------------
  function renderPending(fleet) {
    const list = document.getElementById("pending");
    if (!fleet.pending.length) {
      list.replaceChildren(el("li", { class: "muted", text: "no pod is pending" }));
      return;
    }
    list.replaceChildren(...fleet.pending.map((p) => {
      const item = el("li", { "data-pod": p.pod, tabindex: "0",
        class: p.pod === state.selectedPod ? "selected" : null },
        el("span", { class: "pod", text: p.pod }),
        el("span", { class: "why", text: p.message || "waiting" }));
      item.addEventListener("click", () => explain(p.pod));
      item.addEventListener("keydown", (event) => { if (event.key === "Enter") explain(p.pod); });
      return item;
    }));
  }

  async function explain(pod) {
    state.selectedPod = pod;
    for (const item of document.querySelectorAll("#pending li")) {
      item.classList.toggle("selected", item.dataset.pod === pod);
    }
    const box = document.getElementById("explanation");
    box.hidden = false;
    box.dataset.pod = pod;
    box.dataset.state = "loading";
    box.replaceChildren(el("h3", { text: "why " + pod + " waits" }), el("p", { class: "muted", text: "explaining…" }));
    let answer;
    try {
      answer = await getJSON("/api/explain?pod=" + encodeURIComponent(pod));
    } catch (error) {
      box.dataset.state = "error";
      box.replaceChildren(el("h3", { text: "why " + pod + " waits" }), el("p", { text: "could not ask: " + error }));
      return;
    }
    if (state.selectedPod !== pod) return;
    box.dataset.state = answer.ok ? "done" : "error";
    box.replaceChildren(...explanationParts(pod, answer));
  }

  function explanationParts(pod, answer) {
    const parts = [el("h3", { text: "why " + pod + " waits" })];
    const r = answer.body;
    if (!answer.ok) {
      parts.push(el("p", { text: r.error || "HTTP " + answer.status }));
      return parts;
    }
    if (r.runningOn) { parts.push(el("p", { text: "running on " + r.runningOn })); return parts; }
    if (r.gated) parts.push(el("p", { class: "summary", text: "never tried: " + r.gated }));
    if (r.gang) parts.push(el("p", { text: "gang " + r.gang.podGroup + ": " + r.gang.message }));
    if (r.summary) parts.push(el("p", { class: "summary", text: r.summary }));
    if (r.scheduledTo) parts.push(el("p", { text: "it fits now: the scheduler would pick " + r.scheduledTo }));
    else if (r.message) {
      // The scheduler's message starts with the summary already shown: only the rest is new.
      const rest = r.summary && r.message.startsWith(r.summary) ? r.message.slice(r.summary.length).trim() : r.message;
      if (rest) parts.push(el("p", { class: "message", text: rest }));
    }
    if (r.nodes && r.nodes.length) {
      const table = el("table", {}, el("tr", {}, el("th", { text: "node" }), el("th", { text: "verdict" }),
        el("th", { text: "why not" })));
      for (const n of r.nodes) {
        table.append(el("tr", { "data-node": n.node }, el("td", { text: n.node }),
          el("td", { text: n.fits ? "fits" : "no" }),
          el("td", { text: n.rejections.map((x) => (x.plugin ? x.plugin + ": " : "") + x.reasons.join(", ")).join("; ") })));
      }
      parts.push(el("div", { class: "scroll" }, table));
    }
    for (const c of r.claims || []) {
      const head = "claim " + (c.claim || "(not created)") + " — pod claim " + c.podClaim + ", " + c.source +
        (c.allocated ? ": allocated" : "");
      parts.push(el("p", { class: "claim", text: head }));
      const lines = el("ul", {});
      for (const n of c.nodes || []) {
        if (n.fits) continue;
        lines.append(el("li", { text: n.node + ": " + n.message + (n.requests || []).map((q) => " · " + q.summary).join("") }));
      }
      if (lines.childElementCount) parts.push(lines);
    }
    return parts;
  }

  // -- queues -------------------------------------------------------------------------
  function renderQueues(fleet) {
    const section = document.getElementById("queues-section");
    section.hidden = !fleet.queues.length;
    const blocks = fleet.queues.map((q) => {
      const table = el("table", {}, el("tr", {}, el("th", { text: "flavor" }), el("th", { text: "resource" }),
        el("th", { text: "used / nominal" }), el("th", { text: "" })));
      for (const f of q.flavors) {
        for (const r of f.resources) {
          const share = r.nominalValue > 0 ? r.usedValue / r.nominalValue : (r.usedValue > 0 ? 1 : 0);
          const fill = el("span", { class: share > 1 ? "over" : null });
          fill.style.width = Math.min(100, 100 * share).toFixed(1) + "%";
          table.append(el("tr", { "data-flavor": f.flavor, "data-resource": r.name },
            el("td", { text: f.flavor }), el("td", { text: r.name }),
            el("td", { text: r.used + " / " + r.nominal + (r.borrowed !== "0" ? " (borrowed " + r.borrowed + ")" : "") }),
            el("td", {}, el("span", { class: "meter" }, fill))));
        }
      }
      return el("div", { class: "quota", "data-queue": q.name },
        el("h3", { text: "ClusterQueue " + q.name + (q.cohort ? " (cohort " + q.cohort + ")" : "") }),
        el("p", { class: "muted", text: q.admittedWorkloads + " admitted, " + q.pendingWorkloads + " pending" }),
        el("div", { class: "scroll" }, table));
    });
    document.getElementById("queues").replaceChildren(...blocks);
  }

  // -- history ------------------------------------------------------------------------
  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    return node;
  }

  function renderHistory(samples, fleet) {
    const box = document.getElementById("history");
    const width = 600, height = 180, left = 34, right = 8, top = 8, bottom = 22;
    const chart = svg("svg", { class: "chart", viewBox: "0 0 " + width + " " + height, role: "img",
      "aria-label": "utilization and fragmentation over time" });
    for (const level of [0, 0.5, 1]) {
      const y = top + (1 - level) * (height - top - bottom);
      chart.append(svg("line", { class: "axis", x1: left, x2: width - right, y1: y, y2: y }));
      const label = svg("text", { x: 2, y: y + 3 });
      label.textContent = (level * 100) + "%";
      chart.append(label);
    }
    if (samples.length) {
      const t0 = samples[0].time, t1 = samples[samples.length - 1].time;
      const span = Math.max(t1 - t0, 1);
      const x = (t) => left + (samples.length === 1 ? 0 : (t - t0) / span) * (width - left - right);
      const y = (v) => top + (1 - Math.max(0, Math.min(1, v))) * (height - top - bottom);
      for (const [key, cls] of [["utilization", "util"], ["fragmentation", "frag"]]) {
        const points = samples.map((s) => x(s.time).toFixed(1) + "," + y(s[key]).toFixed(1));
        if (points.length === 1) points.push((width - right) + "," + y(samples[0][key]).toFixed(1));
        chart.append(svg("polyline", { class: cls, points: points.join(" ") }));
      }
      const span_label = svg("text", { x: left, y: height - 6 });
      span_label.textContent = samples.length === 1 ? "1 sample" : samples.length + " samples over " + Math.round(t1 - t0) + " s";
      chart.append(span_label);
    }
    const s = fleet.summary;
    box.replaceChildren(chart, el("p", { class: "legend" },
      el("span", { class: "swatch used" }), "utilization",
      el("span", { class: "swatch tainted" }), "fragmentation",
      el("span", { class: "muted", text: "now: " + usd(s.usedCostPerHour) + "/h of work, " + usd(s.idleCostPerHour) + "/h idle" })));
  }

  async function refreshHistory() {
    try {
      const answer = await getJSON("/api/history");
      if (answer.ok && state.fleet) renderHistory(answer.body.samples, state.fleet);
    } catch (error) {
      // The stream reports the connection's state; a missed history refresh waits for the next.
    }
  }

  // -- wiring -------------------------------------------------------------------------
  // A big fleet's rows are redrawn only when they changed (most events change a few numbers).
  const drawn = { nodes: null, pending: null, queues: null };
  function changed(key, value) {
    const text = JSON.stringify(value);
    if (drawn[key] === text) return false;
    drawn[key] = text;
    return true;
  }

  function render(fleet) {
    state.fleet = fleet;
    document.body.dataset.version = fleet.version;
    renderSummary(fleet);
    if (changed("nodes", fleet.nodes)) renderFleet(fleet);
    if (changed("pending", fleet.pending)) renderPending(fleet);
    if (changed("queues", fleet.queues)) renderQueues(fleet);
    refreshHistory();
  }

  function setStatus(kind, text) {
    const status = document.getElementById("status");
    status.dataset.state = kind;
    status.textContent = text;
  }

  async function start() {
    try {
      const first = await getJSON("/api/fleet");
      if (first.ok) render(first.body);
    } catch (error) {
      setStatus("lost", "cannot reach the dashboard server");
    }
    if (!window.EventSource) return;
    const events = new EventSource(withToken("/api/events"));
    events.addEventListener("fleet", (event) => {
      setStatus("live", "live");
      render(JSON.parse(event.data));
    });
    events.addEventListener("open", () => setStatus("live", "live"));
    events.addEventListener("error", () => setStatus("lost", "reconnecting…"));
  }

  start();
})();
