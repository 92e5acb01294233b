// TensorRT Workbench graph canvas: draws a laid-out graph (positions computed in Python) on a 2D canvas, for graphs
// of tens of thousands of nodes. Hand-written (no library): the research notes measured cytoscape.js, dagre and
// plotly's SVG at 2-5k nodes and none pans at 30 fps at 50k; this draws only what is in view, with level of detail.
//
// mountWorkbenchGraph(root, data) builds the search bar, one canvas per view (ONNX, engine), a minimap per view and
// a details pane inside `root`. Each view holds every node (name, op, category, ...) and a top "scene": either every
// node laid out, or, for large graphs, its name-scope groups (hierarchy first). Opening a group lays out only that
// group's nodes, here in the browser (layered, one barycenter sweep), as Model Explorer does per layer.
// The same file runs in the offline HTML export (a <script>) and in the anywidget (an ES module, see graph_canvas.py).
(function (global) {
  "use strict";
  const FONT_PX = 12, LINE_PX = 15, GAP_PX = 24, ROW_GAP_PX = 26, MIN_LABEL_PX = 10, HIGHLIGHT = "#ffbf00";
  const MAX_LABELS = 1500;      // labels drawn in one frame; past that, boxes only (they would not be legible)
  const EDGE_LOD_SCALE = 0.25;  // zoomed out below this: edges drawn straight, one path, thin

  function pastel(hex, amount) {
    const c = [1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16));
    return "rgb(" + c.map(v => Math.round(v + (255 - v) * amount)).join(",") + ")";
  }

  // --- data ------------------------------------------------------------------------------------------------------
  function prepareView(v) {
    const n = v.names.length;
    v.n = n;
    // Built when first needed (details, opening a group, search), not before the first frame: at 50,000 nodes
    // they cost a third of the time to it.
    lazy(v, "inputs", () => adjacency(v).inputs);
    lazy(v, "outputs", () => adjacency(v).outputs);
    lazy(v, "lowerNames", () => v.names.map(s => s.toLowerCase()));
    v.groupOf = new Int32Array(n).fill(-1);
    (v.groups || []).forEach((g, k) => {
      if (typeof g.ops === "number") g.ops = v.groupOps[g.ops];  // repeated op summaries: sent once, by index
      g.members.forEach(m => { v.groupOf[m] = k; });
    });
    v.top = makeScene(v, v.scene, v.title);
    return v;
  }

  function lazy(object, name, make) {
    Object.defineProperty(object, name, {configurable: true, get() {
      const value = make();
      Object.defineProperty(object, name, {value, configurable: true});
      return value;
    }});
  }
  function adjacency(v) {  // per node: its input and output edges
    if (!v.adjacency) {
      const inputs = Array.from({length: v.n}, () => []), outputs = Array.from({length: v.n}, () => []);
      for (let e = 0; e < v.edges.s.length; e++) { outputs[v.edges.s[e]].push(e); inputs[v.edges.t[e]].push(e); }
      v.adjacency = {inputs, outputs};
    }
    return v.adjacency;
  }

  // A scene: items (a node or a group) at x, y (centre; y grows downwards) with width w, and edges between items.
  function makeScene(v, s, title) {
    const k = s.x.length, scene = {title, k, x: Float64Array.from(s.x), y: Float64Array.from(s.y),
      w: Float64Array.from(s.w), ref: Int32Array.from(s.ref), es: Int32Array.from(s.es), et: Int32Array.from(s.et),
      h: v.height, group: s.group === undefined ? -1 : s.group};
    scene.label = Array.from(scene.ref, r => r >= 0 ? v.labelTable[v.label[r]] : groupLabel(v, -r - 1));
    scene.color = Array.from(scene.ref, r => r >= 0 ? v.color[r] : v.groupColor);
    // rows: items sorted by y, for culling and hit-testing by binary search
    scene.order = Array.from({length: k}, (_, i) => i).sort((a, b) => scene.y[a] - scene.y[b]);
    scene.sortedY = Float64Array.from(scene.order, i => scene.y[i]);
    scene.itemOf = new Map();
    for (let i = 0; i < k; i++) scene.itemOf.set(scene.ref[i], i);
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity, maxW = 0;
    for (let i = 0; i < k; i++) {
      x0 = Math.min(x0, scene.x[i] - scene.w[i] / 2); x1 = Math.max(x1, scene.x[i] + scene.w[i] / 2);
      y0 = Math.min(y0, scene.y[i]); y1 = Math.max(y1, scene.y[i]); maxW = Math.max(maxW, scene.w[i]);
    }
    scene.bounds = k ? [x0, x1, y0 - scene.h, y1 + scene.h] : [-1, 1, -1, 1];
    scene.maxW = maxW;
    routeEdges(scene);
    return scene;
  }

  function groupLabel(v, g) {
    const grp = v.groups[g];
    return clip(grp.name) + "\n" + grp.count + " nodes";
  }
  function clip(s) { return s.length > 30 ? s.slice(0, 29) + "…" : s; }

  // An edge skipping rows runs down a lane beside the rows in between (as the plotly view), so it never passes under
  // a box. Rows' extents come from one pass over the items; the lane of an edge scans the rows it skips.
  function routeEdges(scene) {
    const rowOf = new Map(), rows = [];
    for (const i of scene.order) {
      const y = scene.y[i];
      if (!rowOf.has(y)) { rowOf.set(y, rows.length); rows.push([Infinity, -Infinity]); }
      const r = rows[rowOf.get(y)];
      r[0] = Math.min(r[0], scene.x[i] - scene.w[i] / 2); r[1] = Math.max(r[1], scene.x[i] + scene.w[i] / 2);
    }
    const m = scene.es.length, lane = new Float64Array(m).fill(NaN);
    for (let e = 0; e < m; e++) {
      const a = rowOf.get(scene.y[scene.es[e]]), b = rowOf.get(scene.y[scene.et[e]]);
      if (b - a <= 1 || b - a > 400) continue;  // adjacent rows (or a very long skip): a straight line
      let left = Infinity, right = -Infinity;
      for (let r = a + 1; r < b; r++) { left = Math.min(left, rows[r][0]); right = Math.max(right, rows[r][1]); }
      const x0 = scene.x[scene.es[e]], x1 = scene.x[scene.et[e]];
      lane[e] = Math.abs(x0 - left) + Math.abs(x1 - left) <= Math.abs(x0 - right) + Math.abs(x1 - right)
        ? left - 12 : right + 12;
    }
    scene.lane = lane;
  }

  // Opening a group: its nodes laid out here (longest-path layers, one barycenter sweep, boxes packed per row);
  // only this group is laid out. Its links to other groups are in each node's details (inputs, outputs).
  function groupScene(v, g) {
    const members = v.groups[g].members, local = new Map();
    members.forEach((m, i) => local.set(m, i));
    const k = members.length, indeg = new Int32Array(k), succ = Array.from({length: k}, () => []), es = [], et = [];
    members.forEach((m, i) => v.outputs[m].forEach(e => {
      const j = local.get(v.edges.t[e]);
      if (j !== undefined && j !== i) { succ[i].push(j); indeg[j]++; es.push(i); et.push(j); }
    }));
    const layer = new Int32Array(k), queue = [];
    for (let i = 0; i < k; i++) if (!indeg[i]) queue.push(i);
    let seen = 0;
    for (let q = 0; q < queue.length; q++) {
      const i = queue[q]; seen++;
      for (const j of succ[i]) { layer[j] = Math.max(layer[j], layer[i] + 1); if (!--indeg[j]) queue.push(j); }
    }
    if (seen < k) {  // a cycle inside the group: the nodes left go one per row below the others, in file order
      let next = Math.max(0, ...Array.from(queue, i => layer[i])) + 1;
      for (let i = 0; i < k; i++) if (indeg[i] > 0) layer[i] = next++;
    }
    const rows = [];
    for (let i = 0; i < k; i++) (rows[layer[i]] = rows[layer[i]] || []).push(i);
    const x = new Float64Array(k), pack = row => {
      let total = row.reduce((s, i) => s + v.width[members[i]], 0) + GAP_PX * (row.length - 1), left = -total / 2;
      for (const i of row) { x[i] = left + v.width[members[i]] / 2; left += v.width[members[i]] + GAP_PX; }
    };
    const pred = Array.from({length: k}, () => []);
    for (let e = 0; e < es.length; e++) pred[et[e]].push(es[e]);
    rows.forEach(row => row && pack(row));
    rows.forEach(row => {
      if (!row || row.length < 2) return;
      const bary = new Map(row.map(i => [i, pred[i].length ? pred[i].reduce((s, p) => s + x[p], 0) / pred[i].length : x[i]]));
      row.sort((a, b) => bary.get(a) - bary.get(b)); pack(row);
    });
    const step = v.height + ROW_GAP_PX;
    return makeScene(v, {x: Array.from(x), y: Array.from(layer, l => l * step), w: members.map(m => v.width[m]),
                         ref: members, es, et, group: g}, v.title + " › " + v.groups[g].name);
  }

  // --- one view: canvas, minimap, interaction --------------------------------------------------------------------
  class GraphCanvas {
    constructor(container, view, app, index) {
      this.v = prepareView(view); this.app = app; this.index = index;
      this.highlighted = new Set(); this.frames = [];
      container.innerHTML = "";
      this.bar = el("div", {className: "wb-crumbs"}); container.appendChild(this.bar);
      const holder = el("div", {style: "position:relative;flex:1;min-height:0"}); container.appendChild(holder);
      this.canvas = el("canvas", {className: "wb-main", tabIndex: 0,
                                  style: "position:absolute;left:0;top:0;width:100%;height:100%;cursor:grab"});
      this.mini = el("canvas", {className: "wb-minimap", style: "position:absolute;right:6px;top:6px;width:150px;" +
                                "height:40%;background:rgba(255,255,255,0.92);border:1px solid #ccc"});
      this.tip = el("div", {className: "wb-tip", style: "position:absolute;display:none;pointer-events:none;" +
                            "background:#fff;border:1px solid #999;padding:3px 6px;font:12px sans-serif;max-width:420px;" +
                            "overflow-wrap:anywhere;z-index:2"});
      holder.append(this.canvas, this.mini, this.tip);
      this.holder = holder;
      this.bind();
      this.show(this.v.top);
      new ResizeObserver(() => this.resize()).observe(holder);
    }

    show(scene, keepView) {
      this.scene = scene; this.miniImage = null;
      this.bar.innerHTML = "";
      const crumbs = [this.v.title];
      if (scene !== this.v.top) {
        const back = el("button", {textContent: "◀ all groups"});
        back.addEventListener("click", () => this.show(this.v.top));
        this.bar.appendChild(back); crumbs.push(this.v.groups[scene.group].name);
      }
      this.bar.appendChild(el("span", {textContent: " " + crumbs.join(" › ") + " · " + scene.k + " shown of " +
                                       this.v.n + " nodes" + (this.v.groups && this.v.groups.length && scene === this.v.top ?
                                       " (" + this.v.groups.length + " groups: double-click one to open it)" : "")}));
      this.resize();
      if (!keepView) this.home();
    }

    resize() {
      const r = this.holder.getBoundingClientRect(), dpr = global.devicePixelRatio || 1;
      this.cssW = Math.max(1, r.width); this.cssH = Math.max(1, r.height); this.dpr = dpr;
      this.canvas.width = Math.round(this.cssW * dpr); this.canvas.height = Math.round(this.cssH * dpr);
      const m = this.mini.getBoundingClientRect();
      this.miniW = Math.max(1, m.width); this.miniH = Math.max(1, m.height);
      this.mini.width = Math.round(this.miniW * dpr); this.mini.height = Math.round(this.miniH * dpr);
      this.miniImage = null;
      if (this.scale === undefined) this.home(); else this.draw();
    }

    // the default view: the top of the scene at 1 px per layout unit (labels at FONT_PX), as the plotly view
    home() {
      const s = this.scene, top = s.bounds[2];
      let x0 = Infinity, x1 = -Infinity;
      const lo = lowerBound(s.sortedY, top), hi = lowerBound(s.sortedY, top + this.cssH);
      for (let j = lo; j < hi; j++) { const i = s.order[j]; x0 = Math.min(x0, s.x[i] - s.w[i] / 2); x1 = Math.max(x1, s.x[i] + s.w[i] / 2); }
      const cx = isFinite(x0) ? (x0 + x1) / 2 : 0;
      this.scale = 1; this.tx = this.cssW / 2 - cx; this.ty = 16 - top;
      this.draw();
    }
    toScreen(x, y) { return [x * this.scale + this.tx, y * this.scale + this.ty]; }
    toWorld(px, py) { return [(px - this.tx) / this.scale, (py - this.ty) / this.scale]; }
    centreOn(x, y, scale) {
      if (scale) this.scale = scale;
      this.tx = this.cssW / 2 - x * this.scale; this.ty = this.cssH / 2 - y * this.scale; this.draw();
    }
    panBy(dx, dy) { this.tx += dx; this.ty += dy; this.draw(); }
    zoomBy(f, px, py) {
      const s = Math.min(4, Math.max(1e-3, this.scale * f)), [wx, wy] = this.toWorld(px, py);
      this.scale = s; this.tx = px - wx * s; this.ty = py - wy * s; this.draw();
    }
    draw() {
      if (this.pending) return;
      this.pending = true;
      requestAnimationFrame(() => { this.pending = false; this.paint(); });
    }

    visibleRange() {  // items whose rows are in view: [lo, hi) in scene.order
      const s = this.scene, [, wy0] = this.toWorld(0, 0), [, wy1] = this.toWorld(0, this.cssH);
      return [lowerBound(s.sortedY, wy0 - s.h), lowerBound(s.sortedY, wy1 + s.h)];
    }

    paint() {
      const t0 = performance.now(), s = this.scene, c = this.canvas.getContext("2d"), k = this.scale;
      c.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
      c.fillStyle = "#fff"; c.fillRect(0, 0, this.cssW, this.cssH);
      const [lo, hi] = this.visibleRange(), [wx0] = this.toWorld(0, 0), [wx1] = this.toWorld(this.cssW, 0);
      const shown = [];
      for (let j = lo; j < hi; j++) {
        const i = s.order[j];
        if (s.x[i] + s.w[i] / 2 >= wx0 && s.x[i] - s.w[i] / 2 <= wx1) shown.push(i);
      }
      const h = s.h * k, half = s.h / 2;
      // edges: those touching an item in view (an edge between two rows off screen is not drawn)
      c.strokeStyle = "#8a8a8a"; c.lineWidth = k < EDGE_LOD_SCALE ? 0.5 : 1; c.beginPath();
      const simple = k < EDGE_LOD_SCALE, drawn = new Set(), edgesOf = this.sceneEdges();
      for (const i of shown) for (const e of edgesOf[i]) {
        if (drawn.has(e)) continue;
        drawn.add(e);
        const a = s.es[e], b = s.et[e];
        const [x0, y0] = this.toScreen(s.x[a], s.y[a] + half), [x1, y1] = this.toScreen(s.x[b], s.y[b] - half);
        c.moveTo(x0, y0);
        if (!simple && !isNaN(s.lane[e])) {
          const lx = s.lane[e] * k + this.tx, ya = y0 + ROW_GAP_PX / 2 * k, yb = y1 - ROW_GAP_PX / 2 * k;
          c.lineTo(x0, ya); c.lineTo(lx, ya); c.lineTo(lx, yb); c.lineTo(x1, yb);
        }
        c.lineTo(x1, y1);
      }
      c.stroke();
      // boxes, one path per colour
      const byColor = new Map();
      for (const i of shown) { const col = s.color[i]; if (!byColor.has(col)) byColor.set(col, []); byColor.get(col).push(i); }
      const tiny = h < 4;
      for (const [col, items] of byColor) {
        const hex = this.v.palette[col];
        c.beginPath();
        for (const i of items) { const [x, y] = this.toScreen(s.x[i] - s.w[i] / 2, s.y[i] - half); c.rect(x, y, s.w[i] * k, h); }
        c.fillStyle = tiny ? hex : pastel(hex, 0.72); c.fill();
        if (!tiny) { c.strokeStyle = hex; c.lineWidth = 1.2; c.stroke(); }
      }
      // highlight
      if (this.highlighted.size) {
        c.strokeStyle = HIGHLIGHT; c.lineWidth = 3.5; c.beginPath();
        for (const i of shown) if (this.highlighted.has(s.ref[i])) {
          const [x, y] = this.toScreen(s.x[i] - s.w[i] / 2 - 3, s.y[i] - half - 3); c.rect(x, y, s.w[i] * k + 6, h + 6);
        }
        c.stroke();
      }
      // labels: only where legible (text at least MIN_LABEL_PX) and not too many
      this.labels = [];
      const font = FONT_PX * k;
      if (font >= MIN_LABEL_PX && shown.length <= MAX_LABELS) {
        c.fillStyle = "#111"; c.textAlign = "center"; c.textBaseline = "middle";
        c.font = font.toFixed(1) + "px Arial, sans-serif";
        for (const i of shown) {
          const lines = s.label[i].split("\n"), [x, y] = this.toScreen(s.x[i], s.y[i]);
          lines.forEach((line, l) => {
            const ly = y + (l - (lines.length - 1) / 2) * LINE_PX * k, wpx = this.textWidth(c, line) * k;
            c.fillText(line, x, ly);
            this.labels.push({item: i, text: line, font, left: x - wpx / 2, right: x + wpx / 2,
                              top: ly - font / 2, bottom: ly + font / 2, box: s.w[i] * k});
          });
        }
      }
      this.paintMinimap();
      if (this.firstPaintAt === undefined) this.firstPaintAt = Date.now();  // wall clock of the first frame, for benchmarks
      this.frames.push(performance.now() - t0);
      if (this.frames.length > 240) this.frames.shift();
    }

    textWidth(c, line) {  // at FONT_PX, measured once per distinct text (labels repeat: Conv, Relu, 4 nodes...)
      const widths = this.widths || (this.widths = new Map());
      let w = widths.get(line);
      if (w === undefined) {
        const font = c.font;
        c.font = FONT_PX + "px Arial, sans-serif"; w = c.measureText(line).width; c.font = font;
        widths.set(line, w);
      }
      return w;
    }

    sceneEdges() {  // per item: its edges in this scene (built once per scene)
      const s = this.scene;
      if (!s.edgesOf) {
        s.edgesOf = Array.from({length: s.k}, () => []);
        for (let e = 0; e < s.es.length; e++) { s.edgesOf[s.es[e]].push(e); s.edgesOf[s.et[e]].push(e); }
      }
      return s.edgesOf;
    }

    miniTransform() {
      const b = this.scene.bounds, sx = this.miniW / (b[1] - b[0] + 40), sy = this.miniH / (b[3] - b[2] + 40);
      const k = Math.min(sx, sy), ox = (this.miniW - (b[1] - b[0]) * k) / 2 - b[0] * k,
            oy = (this.miniH - (b[3] - b[2]) * k) / 2 - b[2] * k;
      return {k, ox, oy};
    }
    minimapImage() {  // the whole scene as dots, drawn once per scene
      const s = this.scene, t = this.miniTransform(), off = document.createElement("canvas");
      off.width = this.mini.width; off.height = this.mini.height;
      const o = off.getContext("2d");
      o.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
      const byColor = new Map();  // one path per colour: a fill style change per item is slow at 10,000s
      for (let i = 0; i < s.k; i++) {
        if (!byColor.has(s.color[i])) byColor.set(s.color[i], new Path2D());
        byColor.get(s.color[i]).rect(s.x[i] * t.k + t.ox - 1, s.y[i] * t.k + t.oy - 1, Math.max(2, s.w[i] * t.k), 2);
      }
      for (const [col, path] of byColor) { o.fillStyle = this.v.palette[col]; o.fill(path); }
      return off;
    }
    paintMinimap() {
      const m = this.mini.getContext("2d"), t = this.miniTransform();
      m.setTransform(1, 0, 0, 1, 0, 0); m.clearRect(0, 0, this.mini.width, this.mini.height);
      if (this.miniImage) m.drawImage(this.miniImage, 0, 0);
      else if (!this.miniPending) {  // after the first frame of a scene, not in it: the graph shows first
        this.miniPending = true;
        setTimeout(() => { this.miniPending = false; this.miniImage = this.minimapImage(); this.paintMinimap(); }, 0);
      }
      m.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
      const [ax, ay] = this.toWorld(0, 0), [bx, by] = this.toWorld(this.cssW, this.cssH);
      m.strokeStyle = "#d62728"; m.lineWidth = 1.5; m.fillStyle = "rgba(214,39,40,0.08)";
      const rx = ax * t.k + t.ox, ry = ay * t.k + t.oy, rw = Math.max(3, (bx - ax) * t.k), rh = Math.max(3, (by - ay) * t.k);
      m.fillRect(rx, ry, rw, rh); m.strokeRect(rx, ry, rw, rh);
      this.viewport = {x0: ax, x1: bx, y0: ay, y1: by};
    }

    itemAt(px, py) {  // hit-testing: the item whose box holds the point (rows by binary search)
      const s = this.scene, [wx, wy] = this.toWorld(px, py);
      const lo = lowerBound(s.sortedY, wy - s.h / 2), hi = lowerBound(s.sortedY, wy + s.h / 2 + 1e-9);
      for (let j = lo; j < hi; j++) {
        const i = s.order[j];
        if (Math.abs(s.x[i] - wx) <= s.w[i] / 2 && Math.abs(s.y[i] - wy) <= s.h / 2) return i;
      }
      return -1;
    }

    bind() {
      const cv = this.canvas;
      let drag = null, moved = false;
      cv.addEventListener("pointerdown", e => { drag = [e.clientX, e.clientY]; moved = false; cv.setPointerCapture(e.pointerId); });
      cv.addEventListener("pointermove", e => {
        if (drag) {
          const dx = e.clientX - drag[0], dy = e.clientY - drag[1];
          if (Math.abs(dx) + Math.abs(dy) > 2) moved = true;
          drag = [e.clientX, e.clientY]; this.panBy(dx, dy); return;
        }
        this.hover(e);
      });
      cv.addEventListener("pointerup", e => {
        const wasDrag = moved; drag = null;
        if (wasDrag) return;
        const r = cv.getBoundingClientRect(), i = this.itemAt(e.clientX - r.left, e.clientY - r.top);
        if (i >= 0) this.app.select(this.index, this.scene.ref[i]);
      });
      cv.addEventListener("dblclick", e => {
        const r = cv.getBoundingClientRect(), i = this.itemAt(e.clientX - r.left, e.clientY - r.top);
        if (i >= 0 && this.scene.ref[i] < 0) this.openGroup(-this.scene.ref[i] - 1);
        else if (i < 0) this.fit();
      });
      cv.addEventListener("mouseleave", () => { this.tip.style.display = "none"; });
      // As Model Explorer: scrolling pans; Ctrl+scroll or a pinch (a wheel event with ctrlKey) zooms.
      cv.addEventListener("wheel", e => {
        e.preventDefault();
        const r = cv.getBoundingClientRect();
        if (e.ctrlKey || e.metaKey) this.zoomBy(Math.exp(-e.deltaY * 0.002), e.clientX - r.left, e.clientY - r.top);
        else this.panBy(-(e.shiftKey && !e.deltaX ? e.deltaY : e.deltaX), -(e.shiftKey && !e.deltaX ? 0 : e.deltaY));
      }, {passive: false});
      this.mini.addEventListener("pointerdown", e => {
        const r = this.mini.getBoundingClientRect(), t = this.miniTransform();
        this.centreOn((e.clientX - r.left - t.ox) / t.k, (e.clientY - r.top - t.oy) / t.k);
      });
    }
    hover(e) {
      const r = this.canvas.getBoundingClientRect(), px = e.clientX - r.left, py = e.clientY - r.top;
      const i = this.itemAt(px, py);
      if (i < 0) { this.tip.style.display = "none"; return; }
      this.tip.textContent = this.app.summary(this.index, this.scene.ref[i]);
      Object.assign(this.tip.style, {display: "block", left: Math.min(px + 12, this.cssW - 200) + "px", top: (py + 12) + "px"});
    }
    fit() {
      const b = this.scene.bounds, k = Math.min(this.cssW / (b[1] - b[0] + 40), this.cssH / (b[3] - b[2] + 40), 1);
      this.centreOn((b[0] + b[1]) / 2, (b[2] + b[3]) / 2, k);
    }
    openGroup(g, keepView) { this.show(groupScene(this.v, g), keepView); }
    // reveal a node: open its group when the top scene shows it collapsed, then centre on it
    reveal(node, readable) {
      let i = this.scene.itemOf.get(node);
      if (i === undefined) {
        const g = this.v.groupOf[node];
        const inTop = this.v.top.itemOf.get(node) ?? (g >= 0 ? this.v.top.itemOf.get(-g - 1) : undefined);
        if (g >= 0 && this.v.top.itemOf.get(node) === undefined && readable) { this.openGroup(g, true); }
        else if (this.scene !== this.v.top) this.show(this.v.top, true);
        i = this.scene.itemOf.get(node) ?? inTop;
        if (i === undefined) return;
      }
      this.centreOn(this.scene.x[i], this.scene.y[i], readable ? 1 : undefined);
    }
    revealAll(nodes) {  // the highlighted nodes of another pane's selection, in this pane's current scene
      const s = this.scene, items = [];
      for (const n of nodes) {
        let i = s.itemOf.get(n);
        if (i === undefined && this.v.groupOf[n] >= 0) i = s.itemOf.get(-this.v.groupOf[n] - 1);
        if (i === undefined && s !== this.v.top) { this.show(this.v.top, true); return this.revealAll(nodes); }
        if (i !== undefined) items.push(i);
      }
      if (!items.length) return;
      const ys = items.map(i => s.y[i]), xs = items.map(i => s.x[i]);
      const spread = Math.max(...ys) - Math.min(...ys) + 140, k = Math.min(this.scale, this.cssH / spread);
      this.centreOn(xs.reduce((a, b) => a + b) / xs.length, (Math.max(...ys) + Math.min(...ys)) / 2, k);
    }
    setHighlight(refs) {
      this.highlighted = new Set();
      for (const r of refs) {
        this.highlighted.add(r);
        if (r >= 0 && this.v.groupOf[r] >= 0) this.highlighted.add(-this.v.groupOf[r] - 1);  // its collapsed group
      }
      this.draw();
    }
  }

  function lowerBound(a, v) { let lo = 0, hi = a.length; while (lo < hi) { const m = (lo + hi) >> 1; if (a[m] < v) lo = m + 1; else hi = m; } return lo; }
  function el(tag, props) { return Object.assign(document.createElement(tag), props || {}); }
  function esc(s) { return String(s).replace(/[&<>"]/g, ch => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[ch])); }
  function short(s, n) { s = String(s); return s.length > n ? s.slice(0, n) + "… (" + s.length + " characters)" : s; }

  // --- the app: panes, search, details, fusion links -------------------------------------------------------------
  class GraphApp {
    constructor(root, data) {
      this.data = data; this.root = root;
      root.innerHTML = "";
      root.classList.add("wb-graph");
      const bar = el("div", {style: "display:flex;gap:6px;align-items:center;font:12px sans-serif;margin:4px 0"});
      this.query = el("input", {placeholder: "find a node by name or op", size: 40, className: "wb-query"});
      const find = el("button", {textContent: "Find", className: "wb-find"});
      this.found = el("span", {className: "wb-found"});
      bar.append(this.query, find, this.found, el("span", {style: "color:#666", textContent:
        "drag or scroll to pan · Ctrl+scroll or pinch to zoom · double-click a group to open it · click the minimap to jump"}));
      find.addEventListener("click", () => this.find(this.query.value));
      this.query.addEventListener("keydown", e => { if (e.key === "Enter") this.find(this.query.value); });
      const row = el("div", {style: "display:flex;gap:8px;height:" + (data.height || 760) + "px"});
      this.details = el("div", {className: "wb-details", style: "width:300px;font:12px/1.35 sans-serif;border-left:1px solid #ddd;" +
                                "padding-left:8px;overflow:auto;overflow-wrap:anywhere", innerHTML: "<i>click a node for its details</i>"});
      root.append(bar, row);
      this.views = data.views.map((v, k) => {
        const pane = el("div", {className: "wb-pane", style: "flex:1;min-width:0;display:flex;flex-direction:column;font:12px sans-serif"});
        row.appendChild(pane);
        return new GraphCanvas(pane, v, this, k);
      });
      row.appendChild(this.details);
      if (data.notes && data.notes.length) root.appendChild(el("div", {style: "color:#a15c00;font:12px sans-serif", textContent: data.notes.join(" · ")}));
    }
    summary(k, ref) {
      const v = this.views[k].v;
      if (ref < 0) { const g = v.groups[-ref - 1]; return short(g.name, 200) + " — group of " + g.count + " nodes: " + short(g.ops, 200); }
      return short(v.names[ref], 200) + " — " + v.ops[v.op[ref]] + " · " + v.categories[v.category[ref]];
    }
    detailsHtml(k, ref) {
      const v = this.views[k].v;
      if (ref < 0) {
        const g = v.groups[-ref - 1];
        return "<b>" + esc(short(g.name, 300)) + "</b><br><i>group</i> of " + g.count + " nodes<br><b>ops</b>: " +
               esc(g.ops) + (g.work ? "<br><b>work</b>: " + esc(g.work) : "") +
               "<br><button class='wb-open'>Open this group</button>";
      }
      const tensor = e => esc(short(v.tensors[v.edges.tensor[e]], 200)) + " " + esc(v.shapes[v.edges.shape[e]]);
      const ins = v.inputs[ref], outs = v.outputs[ref];
      const list = (es, n) => es.slice(0, n).map(tensor).join("<br>") + (es.length > n ? "<br>… " + (es.length - n) + " more" : "");
      let html = "<b>" + esc(short(v.names[ref], 300)) + "</b><br><i>" + esc(v.ops[v.op[ref]]) + "</i> · " +
                 esc(v.categories[v.category[ref]]);
      if (v.precision && v.precisions[v.precision[ref]]) html += "<br>precision: " + esc(v.precisions[v.precision[ref]]);
      if (v.extra && v.extra[ref]) html += "<br>" + esc(v.extra[ref]);
      html += "<br><b>inputs</b> (" + ins.length + "):<br>" + (list(ins, 12) || "—") + "<br><b>outputs</b> (" +
              outs.length + "):<br>" + (list(outs, 12) || "—");
      if (v.groupOf[ref] >= 0) html += "<br><b>group</b>: " + esc(short(v.groups[v.groupOf[ref]].name, 200));
      return html;
    }
    linked(k, ref) {
      const maps = this.data.maps;
      if (!maps || this.views.length < 2) return [];
      const v = this.views[k].v, nodes = ref >= 0 ? [ref] : v.groups[-ref - 1].members;
      const table = k === 0 ? maps.onnx_to_engine : maps.engine_to_onnx, out = new Set();
      for (const n of nodes) for (const m of (table[n] || [])) out.add(m);
      return Array.from(out);
    }
    select(k, ref, extra) {
      const view = this.views[k];
      if (this.onSelect) this.onSelect(k, ref);  // the Jupyter widget tells the kernel
      view.setHighlight([ref]);
      this.selected = {view: k, ref};
      this.details.innerHTML = this.detailsHtml(k, ref) + (extra || "");
      const open = this.details.querySelector(".wb-open");
      if (open) open.addEventListener("click", () => view.openGroup(-ref - 1));
      const other = this.views[1 - k];
      if (other) {
        const linked = this.linked(k, ref);
        other.setHighlight(linked);
        if (linked.length) other.revealAll(linked);
        const names = linked.slice(0, 20).map(i => esc(short(other.v.names[i], 120))).join(", ");
        this.details.innerHTML += "<br><b>" + (k === 0 ? "engine layers" : "absorbed ONNX nodes") + "</b>: " +
                                  (names || "none") + (linked.length > 20 ? " … " + linked.length + " in all" : "");
      }
    }
    // search across every node of every pane (groups included): exact name first, then name or op containing it
    find(q) {
      q = String(q).trim().toLowerCase();
      if (!q) return -1;
      for (let k = 0; k < this.views.length; k++) {
        const v = this.views[k].v;
        let hit = v.lowerNames.indexOf(q), group = -1;
        if (hit < 0 && v.groups) group = v.groups.findIndex(g => g.name.toLowerCase() === q);
        if (hit < 0 && group < 0) hit = v.lowerNames.findIndex((s, i) => s.includes(q) || v.ops[v.op[i]].toLowerCase().includes(q));
        if (hit < 0 && group < 0 && v.groups) group = v.groups.findIndex(g => g.name.toLowerCase().includes(q));
        if (hit >= 0 || group >= 0) {
          const ref = hit >= 0 ? hit : -group - 1;
          if (hit >= 0) this.views[k].reveal(hit, true); else { this.views[k].show(this.views[k].v.top, true);
            const i = this.views[k].scene.itemOf.get(ref); this.views[k].centreOn(this.views[k].scene.x[i], this.views[k].scene.y[i], 1); }
          this.select(k, ref);
          this.found.textContent = "found in " + v.title;
          return ref;
        }
      }
      this.found.textContent = "no node matches";
      return -1;
    }
  }

  function mountWorkbenchGraph(root, data) {
    const app = new GraphApp(root, data);
    (global.workbenchGraphs = global.workbenchGraphs || []).push(app);
    return app;
  }
  global.mountWorkbenchGraph = mountWorkbenchGraph;
})(typeof window !== "undefined" ? window : globalThis);
