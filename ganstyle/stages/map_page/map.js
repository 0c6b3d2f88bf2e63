// ganstyle image map: every held-out image as a thumbnail at a 2-D layout of a feature space.
//
// Data: data.js sets window.GANSTYLE_MAP_DATA (written by `python -m ganstyle map`); every
// atlas-NNN.js calls window.GANSTYLE_MAP_ATLAS(i, dataUri).  Atlases come as data URIs inside
// scripts because browsers refuse neighbouring image files as WebGL textures on file:// pages.
// Rendering: WebGL point sprites, one draw call per atlas; Canvas 2D where WebGL is missing
// (or with ?renderer=canvas).  Every name and label comes from users' folders: it is only ever
// set as text (textContent), never parsed as HTML.
(function () {
  "use strict";

  const api = (window.ganstyleMap = { ready: false, renderer: "", drawn: 0, n: 0, error: "" });
  const $ = (id) => document.getElementById(id);
  const status = $("status");

  function fail(message) {
    api.error = message;
    status.textContent = message;
    status.className = "error";
    document.documentElement.setAttribute("data-error", "true");
  }

  const D = window.GANSTYLE_MAP_DATA;
  if (!D || D.version !== 1) {
    fail("data.js is missing or from another version: re-run `python -m ganstyle map`.");
    return;
  }

  // ------------------------------------------------------------------ data

  function decode(base64, Type) {
    const text = atob(base64);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return new Type(bytes.buffer);
  }

  // IEEE half-precision numbers (what numpy's float16 writes) as Float32Array
  function halfFloats(halves) {
    const out = new Float32Array(halves.length);
    for (let i = 0; i < halves.length; i++) {
      const h = halves[i];
      const sign = h & 0x8000 ? -1 : 1;
      const exponent = (h >> 10) & 0x1f;
      const fraction = h & 0x3ff;
      if (exponent === 0) out[i] = sign * fraction * 2 ** -24;
      else if (exponent === 31) out[i] = fraction ? NaN : sign * Infinity;
      else out[i] = sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
    }
    return out;
  }

  const n = D.n;
  const K = D.critics.length;
  const k = D.k;
  const culture = decode(D.culture, Uint16Array);
  const xy = decode(D.xy, Float32Array);
  const neighbours = decode(D.neighbours, D.neighbourType === "uint16" ? Uint16Array : Int32Array);
  const neighbourDistance = halfFloats(decode(D.neighbourDistance, Uint16Array));
  const scores = decode(D.scores, Float32Array);
  const cultures = D.cultures;
  const rgb = cultures.map((c) => [1, 3, 5].map((p) => parseInt(c.colour.slice(p, p + 2), 16)));
  const visible = cultures.map(() => true);
  const indexById = new Map(D.ids.map((id, i) => [id, i]));
  api.n = n;

  // ------------------------------------------------------------------ view: world [0, 1]^2 -> CSS pixels

  const canvas = $("images");
  const marks = $("marks");
  const marksContext = marks.getContext("2d");
  const thumbWorld = Math.min(0.06, 0.85 / Math.sqrt(n)); // a thumbnail's side in world units
  const view = { cx: 0.5, cy: 0.5, scale: 1, width: 1, height: 1, dpr: 1 };
  let selected = -1;
  let hovered = -1;

  function fitView() {
    view.cx = 0.5;
    view.cy = 0.5;
    view.scale = (0.92 * Math.min(view.width, view.height)) / (1 + thumbWorld);
  }

  function pointSize() {
    return thumbWorld * view.scale; // CSS pixels
  }

  function toScreen(i) {
    return { x: (xy[2 * i] - view.cx) * view.scale + view.width / 2, y: (xy[2 * i + 1] - view.cy) * view.scale + view.height / 2 };
  }

  // uniform grid over the world for hover and click: the image whose centre is nearest the pointer,
  // among those whose thumbnail covers it
  const gridSide = Math.max(1, Math.min(512, Math.ceil(1 / thumbWorld)));
  const gridStart = new Int32Array(gridSide * gridSide + 1);
  const gridItems = new Int32Array(n);
  (function buildGrid() {
    const cell = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const gx = Math.min(gridSide - 1, Math.max(0, Math.floor(xy[2 * i] * gridSide)));
      const gy = Math.min(gridSide - 1, Math.max(0, Math.floor(xy[2 * i + 1] * gridSide)));
      cell[i] = gy * gridSide + gx;
      gridStart[cell[i] + 1]++;
    }
    for (let c = 0; c < gridSide * gridSide; c++) gridStart[c + 1] += gridStart[c];
    const fill = gridStart.slice(0, gridSide * gridSide);
    for (let i = 0; i < n; i++) gridItems[fill[cell[i]]++] = i;
  })();

  function imageAt(sx, sy) {
    const wx = (sx - view.width / 2) / view.scale + view.cx;
    const wy = (sy - view.height / 2) / view.scale + view.cy;
    const half = renderer ? renderer.drawnSize() / 2 / view.scale : thumbWorld / 2;
    const x0 = Math.max(0, Math.floor((wx - half) * gridSide));
    const x1 = Math.min(gridSide - 1, Math.floor((wx + half) * gridSide));
    const y0 = Math.max(0, Math.floor((wy - half) * gridSide));
    const y1 = Math.min(gridSide - 1, Math.floor((wy + half) * gridSide));
    let best = -1;
    let bestDistance = Infinity;
    for (let gy = y0; gy <= y1; gy++) {
      for (let gx = x0; gx <= x1; gx++) {
        const c = gy * gridSide + gx;
        for (let p = gridStart[c]; p < gridStart[c + 1]; p++) {
          const i = gridItems[p];
          if (!visible[culture[i]]) continue;
          const dx = xy[2 * i] - wx;
          const dy = xy[2 * i + 1] - wy;
          if (Math.abs(dx) > half || Math.abs(dy) > half) continue;
          const d = dx * dx + dy * dy;
          if (d < bestDistance) {
            bestDistance = d;
            best = i;
          }
        }
      }
    }
    return best;
  }

  // ------------------------------------------------------------------ atlases

  const thumb = D.thumb;
  const atlasImages = [];

  function atlasCell(i) {
    const a = Math.floor(i / D.atlas.perAtlas);
    const local = i - a * D.atlas.perAtlas;
    return { atlas: a, x: (local % D.atlas.columns) * thumb, y: Math.floor(local / D.atlas.columns) * thumb };
  }

  function drawThumbnail(target, i) {
    const cell = atlasCell(i);
    const context = target.getContext("2d");
    context.imageSmoothingEnabled = false;
    context.clearRect(0, 0, target.width, target.height);
    if (atlasImages[cell.atlas]) context.drawImage(atlasImages[cell.atlas], cell.x, cell.y, thumb, thumb, 0, 0, target.width, target.height);
  }

  // ------------------------------------------------------------------ WebGL renderer

  const VERTEX_SHADER = `
    attribute vec2 a_position;
    attribute vec2 a_cell;
    attribute vec3 a_colour;
    uniform vec2 u_centre;
    uniform float u_scale;
    uniform vec2 u_viewport;
    uniform float u_size;
    varying vec2 v_cell;
    varying vec3 v_colour;
    void main() {
      vec2 p = (a_position - u_centre) * u_scale;
      gl_Position = vec4(2.0 * p.x / u_viewport.x, -2.0 * p.y / u_viewport.y, 0.0, 1.0);
      gl_PointSize = u_size;
      v_cell = a_cell;
      v_colour = a_colour;
    }`;
  const FRAGMENT_SHADER = `
    #ifdef GL_FRAGMENT_PRECISION_HIGH
    precision highp float;
    #else
    precision mediump float;
    #endif
    uniform sampler2D u_atlas;
    uniform vec2 u_cell_size;
    uniform vec2 u_texel;
    uniform float u_size;
    varying vec2 v_cell;
    varying vec3 v_colour;
    void main() {
      vec2 p = gl_PointCoord;
      float frame = max(1.0 / u_size, 0.08);
      if (u_size < 5.0 || p.x < frame || p.y < frame || p.x > 1.0 - frame || p.y > 1.0 - frame) {
        gl_FragColor = vec4(v_colour, 1.0);
        return;
      }
      vec2 q = (p - frame) / (1.0 - 2.0 * frame);
      vec2 uv = v_cell + clamp(q * u_cell_size, 0.5 * u_texel, u_cell_size - 0.5 * u_texel);
      vec3 texel = texture2D(u_atlas, uv).rgb;
      gl_FragColor = vec4(texel * mix(vec3(1.0), v_colour, 0.3), 1.0);
    }`;

  function webglRenderer() {
    const options = { antialias: false, alpha: false, preserveDrawingBuffer: true };
    const gl = canvas.getContext("webgl", options) || canvas.getContext("experimental-webgl", options);
    if (!gl) return null;
    const maxTexture = gl.getParameter(gl.MAX_TEXTURE_SIZE);
    if (maxTexture < D.atlas.columns * thumb) return null;
    const maxPoint = gl.getParameter(gl.ALIASED_POINT_SIZE_RANGE)[1];

    function shader(type, source) {
      const s = gl.createShader(type);
      gl.shaderSource(s, source);
      gl.compileShader(s);
      if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error("shader: " + gl.getShaderInfoLog(s));
      return s;
    }
    const program = gl.createProgram();
    gl.attachShader(program, shader(gl.VERTEX_SHADER, VERTEX_SHADER));
    gl.attachShader(program, shader(gl.FRAGMENT_SHADER, FRAGMENT_SHADER));
    gl.linkProgram(program);
    if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error("program: " + gl.getProgramInfoLog(program));
    gl.useProgram(program);
    const at = (name) => gl.getAttribLocation(program, name);
    const un = (name) => gl.getUniformLocation(program, name);
    const loc = {
      position: at("a_position"), cell: at("a_cell"), colour: at("a_colour"),
      centre: un("u_centre"), scale: un("u_scale"), viewport: un("u_viewport"), size: un("u_size"),
      atlas: un("u_atlas"), cellSize: un("u_cell_size"), texel: un("u_texel"),
    };
    gl.uniform1i(loc.atlas, 0);
    gl.disable(gl.DEPTH_TEST);
    gl.clearColor(0.98, 0.98, 0.98, 1);
    const format = D.channels === 1 ? gl.LUMINANCE : gl.RGB;
    const atlases = []; // {texture, buffer, count, width, height}
    const STRIDE = 20; // x, y, u, v float32; r, g, b, pad uint8

    function fillBuffer(a) {
      const atlas = atlases[a];
      const start = a * D.atlas.perAtlas;
      const end = Math.min(n, start + D.atlas.perAtlas);
      const bytes = new ArrayBuffer((end - start) * STRIDE);
      const floats = new Float32Array(bytes);
      const colours = new Uint8Array(bytes);
      let m = 0;
      for (let i = start; i < end; i++) {
        if (!visible[culture[i]]) continue;
        const cell = atlasCell(i);
        const f = (m * STRIDE) / 4;
        floats[f] = xy[2 * i];
        floats[f + 1] = xy[2 * i + 1];
        floats[f + 2] = cell.x / atlas.width;
        floats[f + 3] = cell.y / atlas.height;
        const c = rgb[culture[i]];
        colours[m * STRIDE + 16] = c[0];
        colours[m * STRIDE + 17] = c[1];
        colours[m * STRIDE + 18] = c[2];
        m++;
      }
      gl.bindBuffer(gl.ARRAY_BUFFER, atlas.buffer);
      gl.bufferData(gl.ARRAY_BUFFER, bytes.slice(0, m * STRIDE), gl.STATIC_DRAW);
      atlas.count = m;
    }

    return {
      kind: "webgl",
      drawnSize() {
        return Math.max(1, Math.min(maxPoint, pointSize() * view.dpr)) / view.dpr;
      },
      addAtlas(a, image) {
        const texture = gl.createTexture();
        gl.bindTexture(gl.TEXTURE_2D, texture);
        gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
        gl.texImage2D(gl.TEXTURE_2D, 0, format, format, gl.UNSIGNED_BYTE, image);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
        atlases[a] = { texture, buffer: gl.createBuffer(), count: 0, width: image.width, height: image.height };
        fillBuffer(a);
      },
      visibilityChanged() {
        atlases.forEach((_, a) => fillBuffer(a));
      },
      finish() {
        gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4)); // waits for the frame
      },
      draw() {
        gl.viewport(0, 0, canvas.width, canvas.height);
        gl.clear(gl.COLOR_BUFFER_BIT);
        const size = this.drawnSize() * view.dpr;
        gl.uniform2f(loc.centre, view.cx, view.cy);
        gl.uniform1f(loc.scale, view.scale * view.dpr);
        gl.uniform2f(loc.viewport, canvas.width, canvas.height);
        gl.uniform1f(loc.size, size);
        let drawn = 0;
        for (const atlas of atlases) {
          if (!atlas || atlas.count === 0) continue;
          gl.bindTexture(gl.TEXTURE_2D, atlas.texture);
          gl.uniform2f(loc.cellSize, thumb / atlas.width, thumb / atlas.height);
          gl.uniform2f(loc.texel, 1 / atlas.width, 1 / atlas.height);
          gl.bindBuffer(gl.ARRAY_BUFFER, atlas.buffer);
          gl.enableVertexAttribArray(loc.position);
          gl.vertexAttribPointer(loc.position, 2, gl.FLOAT, false, STRIDE, 0);
          gl.enableVertexAttribArray(loc.cell);
          gl.vertexAttribPointer(loc.cell, 2, gl.FLOAT, false, STRIDE, 8);
          gl.enableVertexAttribArray(loc.colour);
          gl.vertexAttribPointer(loc.colour, 3, gl.UNSIGNED_BYTE, true, STRIDE, 16);
          gl.drawArrays(gl.POINTS, 0, atlas.count);
          drawn += atlas.count;
        }
        return drawn;
      },
    };
  }

  // ------------------------------------------------------------------ Canvas 2D renderer (no WebGL)

  function canvasRenderer() {
    const context = canvas.getContext("2d", { alpha: false });
    if (!context) return null;
    const byCulture = cultures.map(() => []);
    for (let i = 0; i < n; i++) byCulture[culture[i]].push(i);
    return {
      kind: "canvas",
      drawnSize() {
        return Math.max(1, pointSize());
      },
      addAtlas() {},
      visibilityChanged() {},
      finish() {},
      draw() {
        context.setTransform(view.dpr, 0, 0, view.dpr, 0, 0);
        context.fillStyle = "#fafafa";
        context.fillRect(0, 0, view.width, view.height);
        context.imageSmoothingEnabled = false;
        const size = this.drawnSize();
        const frame = Math.max(1, 0.08 * size);
        let drawn = 0;
        byCulture.forEach((members, c) => {
          if (!visible[c]) return;
          context.fillStyle = cultures[c].colour;
          for (const i of members) {
            const p = toScreen(i);
            const x = p.x - size / 2;
            const y = p.y - size / 2;
            if (x > view.width || y > view.height || x + size < 0 || y + size < 0) continue;
            context.fillRect(x, y, size, size);
            drawn++;
            if (size >= 5) {
              const cell = atlasCell(i);
              const image = atlasImages[cell.atlas];
              if (image) context.drawImage(image, cell.x, cell.y, thumb, thumb, x + frame, y + frame, size - 2 * frame, size - 2 * frame);
            }
          }
        });
        return drawn;
      },
    };
  }

  // ------------------------------------------------------------------ drawing

  let renderer = null;
  let pending = false;

  function resize() {
    view.dpr = window.devicePixelRatio || 1;
    const box = canvas.getBoundingClientRect();
    view.width = Math.max(1, box.width);
    view.height = Math.max(1, box.height);
    for (const c of [canvas, marks]) {
      c.width = Math.round(view.width * view.dpr);
      c.height = Math.round(view.height * view.dpr);
    }
  }

  function drawMarks() {
    const context = marksContext;
    context.setTransform(view.dpr, 0, 0, view.dpr, 0, 0);
    context.clearRect(0, 0, view.width, view.height);
    const size = Math.max(6, renderer.drawnSize());
    const ring = (i, colour, width) => {
      const p = toScreen(i);
      context.lineWidth = width;
      context.strokeStyle = colour;
      context.strokeRect(p.x - size / 2 - width, p.y - size / 2 - width, size + 2 * width, size + 2 * width);
    };
    // the hovered and the selected image on top of the others, framed in their culture's colour
    const lift = (i) => {
      const p = toScreen(i);
      const cell = atlasCell(i);
      context.imageSmoothingEnabled = false;
      context.fillStyle = cultures[culture[i]].colour;
      context.fillRect(p.x - size / 2, p.y - size / 2, size, size);
      const frame = Math.max(1, 0.08 * size);
      if (atlasImages[cell.atlas]) context.drawImage(atlasImages[cell.atlas], cell.x, cell.y, thumb, thumb, p.x - size / 2 + frame, p.y - size / 2 + frame, size - 2 * frame, size - 2 * frame);
    };
    if (selected >= 0) for (let m = 0; m < k; m++) ring(neighbours[selected * k + m], "#333", 1.5);
    if (hovered >= 0 && hovered !== selected) {
      lift(hovered);
      ring(hovered, "#000", 1);
    }
    if (selected >= 0) {
      lift(selected);
      ring(selected, "#fff", 4);
      ring(selected, "#000", 2);
    }
  }

  function draw() {
    pending = false;
    api.drawn = renderer.draw();
    drawMarks();
  }

  function requestDraw() {
    if (!pending) {
      pending = true;
      requestAnimationFrame(draw);
    }
  }

  // ------------------------------------------------------------------ legend

  const legendButtons = [];

  function setVisible(c, show) {
    visible[c] = show;
    legendButtons[c].classList.toggle("hidden", !show);
    legendButtons[c].setAttribute("aria-pressed", String(show));
  }

  function visibilityChanged() {
    renderer.visibilityChanged();
    if (hovered >= 0 && !visible[culture[hovered]]) hovered = -1;
    if (selected >= 0 && !visible[culture[selected]]) closePanel();
    requestDraw();
  }

  function buildLegend() {
    const list = $("cultures");
    cultures.forEach((c, index) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.setAttribute("aria-pressed", "true");
      button.dataset.culture = c.id;
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = c.colour;
      const label = document.createElement("span");
      label.textContent = c.label;
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = String(c.count);
      button.append(swatch, label, count);
      button.addEventListener("click", () => {
        setVisible(index, !visible[index]);
        visibilityChanged();
      });
      item.append(button);
      list.append(item);
      legendButtons.push(button);
    });
    $("show-all").addEventListener("click", () => {
      cultures.forEach((_, c) => setVisible(c, true));
      visibilityChanged();
    });
    $("show-none").addEventListener("click", () => {
      cultures.forEach((_, c) => setVisible(c, false));
      visibilityChanged();
    });
  }

  // ------------------------------------------------------------------ panel

  function criticLabel(q) {
    const c = D.critics[q];
    return c >= 0 ? cultures[c].label : D.criticIds[q];
  }

  function formatScore(value) {
    return Number.isFinite(value) ? value.toFixed(2) : "–";
  }

  // rank of image i among the images of its culture under critic q (1 = highest score; equal scores by id)
  function rankUnder(i, q) {
    const own = scores[i * K + q];
    if (!Number.isFinite(own)) return 0;
    let rank = 1;
    for (let j = 0; j < n; j++) {
      if (j === i || culture[j] !== culture[i]) continue;
      const s = scores[j * K + q];
      if (s > own || (s === own && D.ids[j] < D.ids[i])) rank++;
    }
    return rank;
  }

  function closePanel() {
    selected = -1;
    $("panel").hidden = true;
    requestDraw();
  }

  function select(i) {
    selected = i;
    const c = cultures[culture[i]];
    $("panel").hidden = false;
    $("panel").dataset.index = String(i);
    drawThumbnail($("panel-image"), i);
    $("panel-image").style.borderColor = c.colour;
    $("panel-name").textContent = D.names[i] || D.ids[i];
    $("panel-culture").textContent = "";
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = c.colour;
    $("panel-culture").append(swatch, " " + c.label);
    $("panel-id").textContent = "id " + D.ids[i];

    const ownCritic = D.critics.indexOf(culture[i]);
    const rank = ownCritic >= 0 ? rankUnder(i, ownCritic) : 0;
    $("panel-rank").textContent = rank
      ? `Its culture's critic ranks it ${rank} of ${c.count} (1 = most typical of ${c.label}). Scores: ${D.typicalityLabel} logits, mean over snapshots and seeds; the rank is among ${c.label}'s images under each critic.`
      : `Scores: ${D.typicalityLabel} logits, mean over snapshots and seeds.`;
    const body = $("panel-scores").tBodies[0];
    body.textContent = "";
    for (let q = 0; q < K; q++) {
      const row = document.createElement("tr");
      if (q === ownCritic) row.className = "own";
      for (const text of [criticLabel(q), formatScore(scores[i * K + q]), String(rankUnder(i, q) || "–")]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      body.append(row);
    }

    $("panel-neighbours-head").textContent = `${k} nearest images in the ${D.spaceLabel} (full feature space)`;
    const list = $("panel-neighbours");
    list.textContent = "";
    for (let m = 0; m < k; m++) {
      const j = neighbours[i * k + m];
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.index = String(j);
      const image = document.createElement("canvas");
      image.width = thumb;
      image.height = thumb;
      image.style.borderColor = cultures[culture[j]].colour;
      drawThumbnail(image, j);
      const text = document.createElement("span");
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = D.names[j] || D.ids[j];
      const detail = document.createElement("span");
      detail.className = "quiet";
      detail.textContent = ` ${cultures[culture[j]].label}, distance ${neighbourDistance[i * k + m].toFixed(2)}`;
      text.append(name, detail);
      button.append(image, text);
      button.addEventListener("click", () => {
        if (!visible[culture[j]]) {
          setVisible(culture[j], true);
          visibilityChanged();
        }
        centreOn(j);
        select(j);
      });
      item.append(button);
      list.append(item);
    }
    requestDraw();
  }

  function centreOn(i) {
    view.cx = xy[2 * i];
    view.cy = xy[2 * i + 1];
    requestDraw();
  }

  // ------------------------------------------------------------------ pointer

  function installInput() {
    const tooltip = $("tooltip");
    let drag = null;
    canvas.addEventListener("pointerdown", (event) => {
      drag = { x: event.clientX, y: event.clientY, cx: view.cx, cy: view.cy, moved: false };
      canvas.setPointerCapture(event.pointerId);
    });
    canvas.addEventListener("pointermove", (event) => {
      if (drag) {
        const dx = event.clientX - drag.x;
        const dy = event.clientY - drag.y;
        if (Math.abs(dx) + Math.abs(dy) > 4) drag.moved = true;
        if (drag.moved) {
          canvas.classList.add("dragging");
          view.cx = drag.cx - dx / view.scale;
          view.cy = drag.cy - dy / view.scale;
          tooltip.hidden = true;
          requestDraw();
          return;
        }
      }
      const box = canvas.getBoundingClientRect();
      const i = imageAt(event.clientX - box.left, event.clientY - box.top);
      if (i !== hovered) {
        hovered = i;
        requestDraw();
      }
      canvas.classList.toggle("over", i >= 0);
      if (i >= 0) {
        tooltip.textContent = `${D.names[i] || D.ids[i]} (${cultures[culture[i]].label})`;
        tooltip.style.left = `${event.clientX - box.left + 14}px`;
        tooltip.style.top = `${event.clientY - box.top + 14}px`;
        tooltip.hidden = false;
      } else {
        tooltip.hidden = true;
      }
    });
    canvas.addEventListener("pointerup", (event) => {
      const wasDrag = drag && drag.moved;
      drag = null;
      canvas.classList.remove("dragging");
      if (wasDrag) return;
      const box = canvas.getBoundingClientRect();
      const i = imageAt(event.clientX - box.left, event.clientY - box.top);
      if (i >= 0) select(i);
      else closePanel();
    });
    canvas.addEventListener("pointerleave", () => {
      tooltip.hidden = true;
      if (hovered >= 0) {
        hovered = -1;
        requestDraw();
      }
    });
    canvas.addEventListener(
      "wheel",
      (event) => {
        event.preventDefault();
        const box = canvas.getBoundingClientRect();
        const sx = event.clientX - box.left;
        const sy = event.clientY - box.top;
        const wx = (sx - view.width / 2) / view.scale + view.cx;
        const wy = (sy - view.height / 2) / view.scale + view.cy;
        const factor = Math.exp(-event.deltaY * (event.deltaMode === 1 ? 0.05 : 0.002));
        const fit = (0.92 * Math.min(view.width, view.height)) / (1 + thumbWorld);
        view.scale = Math.min(fit * 400, Math.max(fit * 0.5, view.scale * factor));
        view.cx = wx - (sx - view.width / 2) / view.scale;
        view.cy = wy - (sy - view.height / 2) / view.scale;
        requestDraw();
      },
      { passive: false },
    );
    $("reset").addEventListener("click", () => {
      fitView();
      requestDraw();
    });
    $("close").addEventListener("click", closePanel);
    window.addEventListener("keydown", (event) => {
      if (event.key === "Escape") closePanel();
    });
    window.addEventListener("resize", () => {
      resize();
      requestDraw();
    });
  }

  // ------------------------------------------------------------------ start

  function start() {
    const wanted = new URLSearchParams(window.location.search).get("renderer");
    resize();
    fitView();
    try {
      renderer = wanted === "canvas" ? null : webglRenderer();
    } catch (error) {
      console.warn("WebGL renderer unavailable, drawing with Canvas 2D:", error.message);
      renderer = null;
    }
    if (!renderer && wanted === "webgl") {
      fail("WebGL is not available in this browser (open the page without ?renderer=webgl to use Canvas 2D).");
      return;
    }
    renderer = renderer || canvasRenderer();
    api.renderer = renderer.kind;
    document.title = `Image map: ${D.spaceLabel}`;
    $("title").textContent = `${n} held-out images in the ${D.spaceLabel}`;
    $("subtitle").textContent =
      `${D.layout === "umap" ? "UMAP" : "t-SNE"} layout (seed ${D.seed}) of the ${D.spaceLabel} features; colour: culture; ` +
      `typicality from the ${D.typicalityLabel}. Drawn with ${renderer.kind === "webgl" ? "WebGL" : "Canvas 2D"}.`;
    buildLegend();
    installInput();

    let loaded = 0;
    const count = D.atlas.count;
    window.GANSTYLE_MAP_ATLAS = (a, uri) => {
      const image = new Image();
      image.onload = () => {
        atlasImages[a] = image;
        renderer.addAtlas(a, image);
        loaded++;
        status.textContent = `Loading images… ${loaded} of ${count} atlases`;
        if (loaded === count) finish();
      };
      image.onerror = () => fail(`atlas ${a} cannot be decoded: re-run \`python -m ganstyle map\`.`);
      image.src = uri;
    };
    D.atlas.files.forEach((file) => {
      const script = document.createElement("script");
      script.src = file;
      script.onerror = () => fail(`${file} is missing next to index.html: copy the whole map folder.`);
      document.body.append(script);
    });
  }

  function finish() {
    draw();
    status.textContent = `${api.drawn} images, ${renderer.kind === "webgl" ? "WebGL" : "Canvas 2D"}`;
    api.ready = true;
    document.documentElement.setAttribute("data-ready", "true");
  }

  // for tests and for people scripting the page from the console
  api.indexOf = (id) => (indexById.has(id) ? indexById.get(id) : -1);
  api.screenPosition = (i) => toScreen(i);
  api.select = (i) => select(i);
  api.centreOn = (i) => {
    centreOn(i);
    draw();
  };
  api.imageAt = (x, y) => imageAt(x, y);
  // one frame now, finished (for timing): returns the number of images drawn
  api.frame = () => {
    draw();
    renderer.finish();
    return api.drawn;
  };
  api.zoomBy = (factor) => {
    view.scale *= factor;
    requestDraw();
  };
  api.panBy = (dx, dy) => {
    view.cx += dx / view.scale;
    view.cy += dy / view.scale;
    requestDraw();
  };
  api.pointSize = () => (renderer ? renderer.drawnSize() : 0);

  start();
})();
