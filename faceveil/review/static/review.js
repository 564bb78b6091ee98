// faceveil review: check the detected faces, fix them, write. Everything stays on this machine: the page
// talks only to the local faceveil server that printed its URL (the token in the URL goes with each request).
"use strict";
(function () {
  const token = new URLSearchParams(location.search).get("token") || "";
  const $ = (id) => document.getElementById(id);
  const state = { summary: null, items: [], current: -1, selected: -1, result: false };
  const LABEL = { anonymize: "anonymized", keep: "kept", ignore: "not a face" };

  function status(text, error) {
    $("status").textContent = text;
    $("status").className = error ? "error" : "";
  }

  async function api(path, body) {
    const options = { headers: { "X-Faceveil-Token": token } };
    if (body !== undefined) {
      options.method = "POST";
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    if (!response.ok) {
      let message = response.status + " " + response.statusText;
      try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
      throw new Error(message);
    }
    return response;
  }

  const item = () => state.items[state.current];
  const scale = () => $("picture").clientWidth / (item().data.width || 1);
  // a video's tracks show on their key frame; a box drawn on a video covers every frame, so it shows on all
  const visible = (face) => item().data.kind !== "video" || face.frame === undefined || face.frame === item().frame;

  async function start() {
    try {
      state.summary = await (await api("api/items")).json();
    } catch (e) {
      status("cannot reach the review server: " + e.message, true);
      return;
    }
    for (const name of state.summary.methods) {
      const option = document.createElement("option");
      option.value = option.textContent = name;
      $("method").appendChild(option);
    }
    $("method").value = state.summary.method;
    state.items = state.summary.items.map((it) => ({ info: it, data: null, faces: null, frame: 0 }));
    state.summary.items.forEach((it, i) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.textContent = it.name + (it.kind === "video" ? " (video)" : "");
      button.addEventListener("click", () => show(i));
      li.appendChild(button);
      $("items").appendChild(li);
    });
    await show(0);
  }

  async function show(index) {
    if (index < 0 || index >= state.items.length) return;
    state.current = index;
    state.selected = -1;
    setResult(false);
    [...$("items").querySelectorAll("button")].forEach((b, i) => b.setAttribute("aria-current", i === index ? "true" : "false"));
    const it = item();
    if (!it.data) {
      status("detecting faces in " + it.info.name + "…");
      try {
        it.data = await (await api("api/item/" + index)).json();
      } catch (e) {
        status(it.info.name + ": " + e.message, true);
        return;
      }
      it.faces = it.data.faces.map((f) => Object.assign({}, f, { orig: f.box.slice(), action: "anonymize" }));
      it.frame = it.data.frames[0] || 0;
    }
    $("frames").hidden = it.data.kind !== "video";
    $("frame").innerHTML = "";
    for (const f of it.data.frames) {
      if (f === null) continue;
      const option = document.createElement("option");
      option.value = f;
      option.textContent = "frame " + f + " (" + it.faces.filter((x) => x.frame === f).map((x) => "track " + x.track_id).join(", ") + ")";
      $("frame").appendChild(option);
    }
    $("frame").value = it.frame;
    loadPicture();
  }

  function loadPicture() {
    const it = item();
    const picture = $("picture");
    picture.onload = () => {
      render();
      status(it.info.name + ": " + it.faces.length + (it.data.kind === "video" ? " track(s)" : " face(s)") + " detected");
    };
    picture.alt = it.info.name;
    picture.src = "api/image/" + state.current + "?frame=" + it.frame + "&token=" + encodeURIComponent(token);
  }

  function render() {
    const it = item();
    const layer = $("boxes");
    layer.innerHTML = "";
    const s = scale();
    it.faces.forEach((face, i) => {
      if (!visible(face)) return;
      const [x0, y0, x1, y1] = face.box;
      const box = document.createElement("div");
      box.className = "box " + face.action + (i === state.selected ? " selected" : "");
      Object.assign(box.style, { left: x0 * s + "px", top: y0 * s + "px", width: (x1 - x0) * s + "px", height: (y1 - y0) * s + "px" });
      box.tabIndex = 0;
      box.dataset.index = i;
      box.setAttribute("role", "button");
      const what = face.track_id !== undefined ? "Track " + face.track_id : "Face " + (i + 1);
      box.setAttribute("aria-label", what + ": " + LABEL[face.action] + (face.detected ? ", detected" : ", added by hand"));
      const label = document.createElement("span");
      label.className = "label";
      label.textContent = what + " · " + LABEL[face.action] + (face.score !== undefined && face.detected ? " · " + face.score.toFixed(2) : "");
      box.appendChild(label);
      if (!face.frames) {
        const handle = document.createElement("span");
        handle.className = "handle";
        box.appendChild(handle);
      }
      box.addEventListener("focus", () => select(i, false));
      layer.appendChild(box);
    });
  }

  function select(i, focus) {
    state.selected = i;
    [...$("boxes").children].forEach((b) => b.classList.toggle("selected", Number(b.dataset.index) === i));
    if (focus) {
      const el = $("boxes").querySelector('[data-index="' + i + '"]');
      if (el) el.focus();
    }
  }

  function changed() {
    setResult(false);
    render();
    if (state.selected >= 0) select(state.selected, true);
  }

  function toggle(action) {
    const face = item() && item().faces[state.selected];
    if (!face) { status("select a face first (Tab or a click)", true); return; }
    face.action = face.action === action ? "anonymize" : action;
    status((face.track_id !== undefined ? "track " + face.track_id : "face " + (state.selected + 1)) + ": " + LABEL[face.action]);
    changed();
  }

  function addBox(box) {
    const it = item();
    it.faces.push({ box: box, orig: null, action: "anonymize", detected: false });
    state.selected = it.faces.length - 1;
    status("face " + it.faces.length + " added" + (it.data.kind === "video" ? " (every frame of the video)" : ""));
    changed();
  }

  function nudge(dx, dy, resize) {
    const it = item();
    const face = it && it.faces[state.selected];
    if (!face || face.frames) return;
    const step = Math.max(2, Math.round(it.data.width / 100));
    const b = face.box;
    if (resize) { b[2] = Math.max(b[0] + 4, b[2] + dx * step); b[3] = Math.max(b[1] + 4, b[3] + dy * step); }
    else { b[0] += dx * step; b[2] += dx * step; b[1] += dy * step; b[3] += dy * step; }
    changed();
  }

  // --- mouse: draw a new box on empty space, drag a box to move it, drag its corner to resize it
  let drag = null;
  $("stage").addEventListener("mousedown", (event) => {
    if (event.button !== 0 || !item() || !item().data || state.result) return;
    event.preventDefault();
    const rect = $("stage").getBoundingClientRect();
    const at = { x: event.clientX - rect.left, y: event.clientY - rect.top };
    const boxEl = event.target.closest(".box");
    if (boxEl) {
      const i = Number(boxEl.dataset.index);
      select(i, true);
      if (item().faces[i].frames) return;  // a video track is kept or hidden whole, not moved
      drag = { kind: event.target.classList.contains("handle") ? "resize" : "move", i: i, at: at, box: item().faces[i].box.slice() };
    } else {
      drag = { kind: "draw", at: at };
      Object.assign($("band").style, { left: at.x + "px", top: at.y + "px", width: "0px", height: "0px" });
      $("band").hidden = false;
    }
  });
  window.addEventListener("mousemove", (event) => {
    if (!drag) return;
    const rect = $("stage").getBoundingClientRect();
    const x = event.clientX - rect.left, y = event.clientY - rect.top;
    if (drag.kind === "draw") {
      Object.assign($("band").style, { left: Math.min(x, drag.at.x) + "px", top: Math.min(y, drag.at.y) + "px",
        width: Math.abs(x - drag.at.x) + "px", height: Math.abs(y - drag.at.y) + "px" });
      return;
    }
    const s = scale(), dx = (x - drag.at.x) / s, dy = (y - drag.at.y) / s;
    const face = item().faces[drag.i], b = drag.box;
    face.box = drag.kind === "move" ? [b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy]
      : [b[0], b[1], Math.max(b[0] + 4, b[2] + dx), Math.max(b[1] + 4, b[3] + dy)];
    render();
  });
  window.addEventListener("mouseup", (event) => {
    if (!drag) return;
    const d = drag;
    drag = null;
    if (d.kind !== "draw") { changed(); return; }
    $("band").hidden = true;
    const rect = $("stage").getBoundingClientRect();
    const x = event.clientX - rect.left, y = event.clientY - rect.top, s = scale();
    if (Math.abs(x - d.at.x) < 6 || Math.abs(y - d.at.y) < 6) return;  // a click, not a box
    addBox([Math.min(x, d.at.x) / s, Math.min(y, d.at.y) / s, Math.max(x, d.at.x) / s, Math.max(y, d.at.y) / s]);
  });

  // --- result preview and writing
  async function setResult(on) {
    if (!state.result && !on) return;
    state.result = on;
    $("result").setAttribute("aria-pressed", on ? "true" : "false");
    $("stage").classList.toggle("result", on);
    if (!on) { if (item() && item().data) loadPicture(); return; }
    if (item().data.kind === "video") { status("the result preview is for photos; Write shows a video's result", true); setResult(false); return; }
    status("anonymizing " + item().info.name + " with " + $("method").value + "…");
    try {
      const response = await api("api/preview/" + state.current, { method: $("method").value, faces: item().faces });
      $("picture").onload = () => status("result of " + item().info.name + " (not written yet)");
      $("picture").src = URL.createObjectURL(await response.blob());
    } catch (e) {
      status("preview failed: " + e.message, true);
      setResult(false);
    }
  }

  async function write() {
    const decisions = {};
    state.items.forEach((it, i) => { if (it.faces) decisions[i] = it.faces; });
    status("writing…");
    $("write").disabled = true;
    try {
      const response = await fetch("api/write", { method: "POST", headers: { "X-Faceveil-Token": token, "Content-Type": "application/json" },
        body: JSON.stringify({ method: $("method").value, decisions: decisions }) });
      const result = await response.json();
      if (!result.ok) {
        const failed = (result.files || []).filter((f) => !f.ok).map((f) => f.error);
        status("not written: " + (result.error || failed.join("; ")), true);
      } else {
        status("written: " + result.files.map((f) => f.output).join(", ") + "; decisions in " + result.boxes);
        document.body.dataset.written = "true";
      }
    } catch (e) {
      status("write failed: " + e.message, true);
    } finally {
      $("write").disabled = false;
    }
  }

  $("result").addEventListener("click", () => setResult(!state.result));
  $("write").addEventListener("click", write);
  $("method").addEventListener("change", () => setResult(false));
  $("frame").addEventListener("change", () => { item().frame = Number($("frame").value); state.selected = -1; loadPicture(); });
  window.addEventListener("resize", () => item() && item().data && render());

  document.addEventListener("keydown", (event) => {
    if (event.target.tagName === "SELECT" || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    const arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (arrows[key] && state.selected >= 0) { event.preventDefault(); nudge(arrows[key][0], arrows[key][1], event.shiftKey); return; }
    switch (key.toLowerCase()) {
      case "n": show(state.current + 1); break;
      case "p": show(state.current - 1); break;
      case "k": toggle("keep"); break;
      case "delete": case "backspace": event.preventDefault(); toggle("ignore"); break;
      case "a": {
        const it = item();
        if (!it || !it.data) break;
        const w = it.data.width / 8, h = it.data.height / 8, cx = it.data.width / 2, cy = it.data.height / 2;
        addBox([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]);
        break;
      }
      case "r": setResult(!state.result); break;
      case "w": write(); break;
      default: return;
    }
  });

  start();
})();
