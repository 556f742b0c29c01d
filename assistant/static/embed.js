/* chidao chat bubble: one <script> tag on any intranet page.
 *
 *   <script src="https://chidao.intranet/embed.js" data-chidao-title="Trợ lý văn bản" async></script>
 *
 * data-chidao-title     panel title (default "Trợ lý văn bản")
 * data-chidao-position  bottom-right (default) | bottom-left
 * data-chidao-color     accent colour (default #7f1d1d)
 * data-chidao-token     this portal's token, when the server asks for one
 * data-chidao-server    the chidao server (default: where this script came from)
 *
 * Plain JavaScript, no framework, nothing fetched but this server's /api. Everything lives in a Shadow
 * DOM (the page's CSS stays out, ours stays in); text from documents and answers is only ever set as
 * text (textContent), never as HTML. The conversation survives navigation within the portal
 * (sessionStorage) until it is cleared.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__chidaoBubble) return;
  window.__chidaoBubble = true;
  var data = function (name, fallback) { return script.getAttribute("data-chidao-" + name) || fallback; };
  var server = data("server", new URL(script.src, location.href).origin).replace(/\/+$/, "");
  var title = data("title", "Trợ lý văn bản");
  var left = data("position", "bottom-right") === "bottom-left";
  var color = data("color", "#7f1d1d");
  var token = data("token", "");
  var KEY = "chidao-bubble:" + server;

  var CSS = [
    "*{box-sizing:border-box;font-family:system-ui,'DejaVu Sans',sans-serif;line-height:1.45;letter-spacing:normal;",
    "text-transform:none;text-align:left}",
    ".launch svg{width:28px;height:28px;vertical-align:middle;fill:#fff}",
    ".launch{position:fixed;bottom:20px;" + (left ? "left" : "right") + ":20px;z-index:2147483000;width:56px;",
    "height:56px;border-radius:50%;border:0;background:var(--c);color:#fff;font-size:26px;cursor:pointer;",
    "box-shadow:0 4px 14px rgba(0,0,0,.3);line-height:56px;padding:0}",
    ".panel{position:fixed;bottom:88px;" + (left ? "left" : "right") + ":16px;z-index:2147483001;",
    "width:min(400px,calc(100vw - 16px));height:min(600px,calc(100vh - 110px));background:#fff;color:#111827;",
    "border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);display:flex;flex-direction:column;overflow:hidden;",
    "font-size:15px;line-height:1.45}",
    ".panel[hidden]{display:none}",
    "header{display:flex;align-items:center;gap:6px;background:var(--c);color:#fff;padding:10px 12px}",
    "header h2{flex:1;margin:0;font-size:16px;font-weight:600}",
    "header button{background:transparent;color:#fff;border:1px solid rgba(255,255,255,.5);border-radius:6px;",
    "padding:3px 8px;cursor:pointer;font-size:13px}",
    ".log{flex:1;overflow-y:auto;padding:10px 12px;display:flex;flex-direction:column;gap:10px}",
    ".msg{max-width:92%;padding:8px 10px;border-radius:10px;white-space:pre-wrap;word-wrap:break-word}",
    ".user{align-self:flex-end;background:#e5e7eb}",
    ".bot{align-self:flex-start;background:#f9fafb;border:1px solid #e5e7eb}",
    ".refused{background:#fffbeb;border-color:#f59e0b}",
    ".conflict{border-color:#dc2626;border-width:2px}",
    ".notice{display:block;font-size:13px;font-weight:600;margin-bottom:4px}",
    ".refused .notice{color:#92400e}.conflict .notice{color:#b91c1c}",
    ".error{background:#fef2f2;border-color:#dc2626}",
    "a.cite{color:var(--c);font-weight:600;text-decoration:none;padding:0 1px}",
    "a.cite:hover{text-decoration:underline}",
    ".pop{position:fixed;z-index:2147483002;max-width:min(360px,calc(100vw - 24px));background:#111827;color:#fff;",
    "white-space:normal;",
    "padding:8px 10px;border-radius:8px;font-size:13px;box-shadow:0 4px 14px rgba(0,0,0,.35)}",
    ".pop b{display:block;margin-bottom:4px}",
    ".rate{display:flex;gap:6px;margin-top:6px}",
    ".rate button{border:1px solid #d1d5db;background:#fff;border-radius:6px;cursor:pointer;padding:1px 8px}",
    ".rate button[aria-pressed=true]{background:#dcfce7;border-color:#16a34a}",
    "form{display:flex;gap:6px;padding:8px;border-top:1px solid #e5e7eb}",
    "textarea{flex:1;resize:none;border:1px solid #d1d5db;border-radius:8px;padding:6px 8px;font-size:15px;",
    "min-height:38px;max-height:120px;color:#111827;background:#fff}",
    "form button{border:0;border-radius:8px;background:var(--c);color:#fff;padding:0 14px;cursor:pointer;",
    "font-size:15px}",
    "button:disabled{opacity:.6;cursor:wait}",
    ":focus-visible{outline:3px solid #2563eb;outline-offset:2px}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}"
  ].join("");

  var state = load();
  // A custom element name (no page rule for div or section reaches it), its page-side style reset inline
  // (an inline !important outranks the page's !important): the page's inherited fonts and colours stop here.
  var host = document.createElement("chidao-bubble");
  host.setAttribute("data-chidao", "bubble");
  host.setAttribute("style", "all:initial !important;position:static !important;display:block !important;" +
    "width:0 !important;height:0 !important;border:0 !important;padding:0 !important;margin:0 !important");
  var root = host.attachShadow({ mode: "open" });
  var style = document.createElement("style");
  style.textContent = CSS;
  root.appendChild(style);

  var launch = el("button", "launch");
  launch.appendChild(icon());
  launch.type = "button";
  launch.setAttribute("aria-label", "Mở " + title);
  launch.setAttribute("aria-expanded", "false");
  launch.setAttribute("aria-controls", "chidao-panel");
  var panel = el("div", "panel");
  panel.id = "chidao-panel";
  panel.hidden = true;
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", title);
  var header = el("header");
  var heading = el("h2", null, title);
  var clear = button("Xóa", "Xóa cuộc trò chuyện");
  var close = button("✕", "Đóng trợ lý");
  header.append(heading, clear, close);
  var log = el("div", "log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  log.setAttribute("aria-label", "Cuộc trò chuyện");
  var form = el("form");
  var label = el("label", "sr", "Câu hỏi");
  label.htmlFor = "chidao-q";
  var input = el("textarea");
  input.id = "chidao-q";
  input.rows = 1;
  input.maxLength = 2000;
  input.placeholder = "Hỏi về nhiệm vụ, thời hạn, đơn vị…";
  var send = el("button", null, "Gửi");
  send.type = "submit";
  send.setAttribute("aria-label", "Gửi câu hỏi");
  form.append(label, input, send);
  panel.append(header, log, form);
  var pop = el("div", "pop");
  pop.hidden = true;
  pop.setAttribute("role", "tooltip");
  pop.id = "chidao-pop";
  root.append(launch, panel, pop);
  host.style.setProperty("--c", color);
  (document.body || document.documentElement).appendChild(host);

  state.turns.forEach(function (turn) { show(turn); });
  if (state.open) toggle(true, false);

  launch.addEventListener("click", function () { toggle(panel.hidden, true); });
  close.addEventListener("click", function () { toggle(false, true); });
  clear.addEventListener("click", function () {
    state.turns = [];
    save();
    log.textContent = "";
    input.focus();
  });
  form.addEventListener("submit", function (event) { event.preventDefault(); ask(); });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); ask(); }
  });
  root.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    if (!pop.hidden) { hidePop(); return; }
    if (!panel.hidden) toggle(false, true);
  });
  log.addEventListener("scroll", hidePop);

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }

  function icon() {  // a speech bubble, drawn (no icon font, no emoji font needed)
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
    svg.appendChild(path);
    return svg;
  }

  function button(text, aria) {
    var node = el("button", null, text);
    node.type = "button";
    node.setAttribute("aria-label", aria);
    return node;
  }

  function load() {
    try {
      var saved = JSON.parse(sessionStorage.getItem(KEY) || "null");
      if (saved && Array.isArray(saved.turns)) return saved;
    } catch (e) { /* storage off or broken: start afresh */ }
    return { open: false, turns: [] };
  }

  function save() {
    try { sessionStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { /* full or off */ }
  }

  function toggle(open, focus) {
    panel.hidden = !open;
    launch.setAttribute("aria-expanded", String(open));
    launch.setAttribute("aria-label", (open ? "Đóng " : "Mở ") + title);
    state.open = open;
    save();
    hidePop();
    if (!focus) return;
    if (open) input.focus(); else launch.focus();
  }

  function history() {
    var out = [];
    state.turns.forEach(function (turn) {
      if (turn.answer) {
        out.push({ role: "user", content: turn.q });
        out.push({ role: "assistant", content: turn.answer.answer });
      }
    });
    return out.slice(-20);
  }

  function ask() {
    var question = input.value.trim();
    if (!question || send.disabled) return;
    var turn = { q: question, answer: null, error: null };
    var previous = history();
    state.turns.push(turn);
    save();
    input.value = "";
    var bubble = show(turn);
    send.disabled = true;
    var headers = { "Content-Type": "application/json", "Accept": "text/event-stream" };
    if (token) headers.Authorization = "Bearer " + token;
    fetch(server + "/api/ask/stream", {
      method: "POST", headers: headers, credentials: "include",
      body: JSON.stringify({ question: question, history: previous })
    }).then(function (response) {
      if (!response.ok || !response.body) {
        return response.text().then(function (text) {
          var detail = "";
          try { detail = JSON.parse(text).detail; } catch (e) { detail = ""; }
          throw new Error(typeof detail === "string" && detail ? detail : "máy chủ trả lời " + response.status);
        });
      }
      return readEvents(response.body.getReader(), function (name, payload) {
        if (name === "delta") { bubble.textContent = payload.text || ""; scroll(); }
        else if (name === "answer") { turn.answer = payload; }
        else if (name === "error") { turn.error = payload.detail || payload.error || "lỗi"; }
      });
    }).catch(function (error) {
      turn.error = (error && error.message) || "không kết nối được máy chủ";
    }).then(function () {
      if (!turn.answer && !turn.error) turn.error = "không nhận được câu trả lời";
      save();
      render(bubble, turn);
      send.disabled = false;
      input.focus();
    });
  }

  function readEvents(reader, onEvent) {
    var decoder = new TextDecoder();
    var buffer = "";
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) return;
        buffer += decoder.decode(chunk.value, { stream: true });
        var cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          var block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          var name = "message", lines = [];
          block.split("\n").forEach(function (line) {
            if (line.indexOf("event:") === 0) name = line.slice(6).trim();
            else if (line.indexOf("data:") === 0) lines.push(line.slice(5).replace(/^ /, ""));
          });
          if (lines.length) {
            var payload = {};
            try { payload = JSON.parse(lines.join("\n")); } catch (e) { payload = { text: lines.join("\n") }; }
            onEvent(name, payload);
          }
        }
        return pump();
      });
    }
    return pump();
  }

  function show(turn) {
    log.appendChild(el("div", "msg user", turn.q));
    var bubble = el("div", "msg bot", "…");
    log.appendChild(bubble);
    if (turn.answer || turn.error) render(bubble, turn);
    scroll();
    return bubble;
  }

  function scroll() { log.scrollTop = log.scrollHeight; }

  function render(bubble, turn) {
    bubble.textContent = "";
    bubble.className = "msg bot";
    if (!turn.answer) {
      bubble.classList.add("error");
      bubble.textContent = "Không trả lời được: " + (turn.error || "lỗi");
      return;
    }
    var answer = turn.answer;
    if (answer.refused) {
      bubble.classList.add("refused");
      bubble.appendChild(el("span", "notice", "Không tìm thấy câu trả lời trong các văn bản đã nạp"));
    } else if (answer.conflicts && answer.conflicts.length) {
      bubble.classList.add("conflict");
      bubble.appendChild(el("span", "notice", "Các văn bản ghi khác nhau — xem từng nguồn"));
    }
    var byN = {};
    (answer.citations || []).forEach(function (c) { byN[c.n] = c; });
    var text = String(answer.answer || "");
    var marker = /\[(\d+)\]/g, last = 0, m;
    while ((m = marker.exec(text))) {
      bubble.appendChild(document.createTextNode(text.slice(last, m.index)));
      var c = byN[Number(m[1])];
      bubble.appendChild(c ? citeLink(c) : document.createTextNode(m[0]));
      last = m.index + m[0].length;
    }
    bubble.appendChild(document.createTextNode(text.slice(last)));
    if (answer.note) bubble.appendChild(el("div", "notice", answer.note));
    bubble.appendChild(rating(turn));
    scroll();
  }

  function docUrl(c) {
    return server + "/doc/" + encodeURIComponent(c.doc_id) + "?start=" + Number(c.start) + "&end=" +
      Number(c.end) + "#passage";
  }

  function citeLink(c) {
    var link = el("a", "cite", "[" + c.n + "]");
    link.href = docUrl(c);
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    link.setAttribute("aria-label", "Nguồn " + c.n + ": " + (c.title || "") + ". Mở văn bản");
    link.setAttribute("aria-describedby", "chidao-pop");
    var open = function () { showPop(link, c); };
    link.addEventListener("mouseenter", open);
    link.addEventListener("focus", open);
    link.addEventListener("mouseleave", hidePop);
    link.addEventListener("blur", hidePop);
    return link;
  }

  function showPop(anchor, c) {
    pop.textContent = "";
    pop.appendChild(el("b", null, "[" + c.n + "] " + (c.title || "") + (c.date ? " · " + c.date : "")));
    pop.appendChild(document.createTextNode("«" + String(c.quote || "").slice(0, 400) + "»"));
    pop.hidden = false;
    var box = anchor.getBoundingClientRect();
    var width = Math.min(360, window.innerWidth - 24);
    pop.style.left = Math.max(8, Math.min(box.left, window.innerWidth - width - 8)) + "px";
    var below = box.bottom + 6;
    pop.style.top = (below + 120 < window.innerHeight ? below : Math.max(8, box.top - 130)) + "px";
  }

  function hidePop() { pop.hidden = true; }

  function rating(turn) {
    var row = el("div", "rate");
    var up = button("Hữu ích", "Câu trả lời hữu ích");
    var down = button("Chưa đúng", "Câu trả lời chưa đúng");
    [[up, "up"], [down, "down"]].forEach(function (pair) {
      pair[0].setAttribute("aria-pressed", String(turn.rating === pair[1]));
      pair[0].addEventListener("click", function () { rate(turn, pair[1], up, down); });
    });
    row.append(up, down);
    return row;
  }

  function rate(turn, value, up, down) {
    var headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    fetch(server + "/api/feedback", {
      method: "POST", headers: headers, credentials: "include",
      body: JSON.stringify({ question: turn.q, answer: turn.answer, rating: value })
    }).then(function (response) {
      if (!response.ok) return;
      turn.rating = value;
      save();
      up.setAttribute("aria-pressed", String(value === "up"));
      down.setAttribute("aria-pressed", String(value === "down"));
    }).catch(function () { /* feedback is best effort */ });
  }
})();
