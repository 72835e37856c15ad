// opML explorer pages: each renders from the JSON API and re-renders on every server-sent `update`.
// Plain JS, no framework, nothing fetched from elsewhere.
"use strict";

const $main = document.getElementById("main");
let chainOffset = 0; // chain time − wall time (Anvil's clock may be moved)

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
function short(address) {
  return address ? `${address.slice(0, 6)}…${address.slice(-4)}` : "—";
}
function addr(address) {
  return address ? `<span class="mono" title="${esc(address)}">${esc(short(address))}</span>` : `<span class="muted">—</span>`;
}
function eth(weiText) {
  const wei = BigInt(weiText || "0");
  const sign = wei < 0n ? "-" : "";
  const abs = wei < 0n ? -wei : wei;
  const whole = abs / 10n ** 18n;
  const frac = (abs % 10n ** 18n).toString().padStart(18, "0").slice(0, 4).replace(/0+$/, "");
  return `${sign}${whole}${frac ? "." + frac : ""} ETH`;
}
function chainNow() {
  return Date.now() / 1000 + chainOffset;
}
function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(r)}` : `${two(m)}:${two(r)}`;
}
function syncChain(chain) {
  const dot = document.getElementById("dot"), label = document.getElementById("chain");
  if (!chain) return;
  if (chain.chain_now) chainOffset = chain.chain_now - Date.now() / 1000;
  dot.className = "dot " + (chain.connected ? "up" : "down");
  label.textContent = chain.connected
    ? `chain ${chain.chain_id} · ${chain.rpc_url}${chain.reindexed ? ` · re-indexed ×${chain.reindexed}` : ""}`
    : `disconnected from ${chain.rpc_url} — retrying`;
}
async function getJSON(url) {
  const reply = await fetch(url, { cache: "no-store" });
  const body = await reply.json();
  if (!reply.ok) throw new Error(body.error || reply.statusText);
  return body;
}
function inputCell(request, large) {
  const input = request.input;
  if (input.kind === "image") {
    return `<img class="digit ${large ? "large" : "small"}" alt="input of request ${request.id}" ` +
      `src="/api/requests/${request.id}/input.png?v=${request.block}" width="${input.width}" height="${input.height}">`;
  }
  if (input.kind === "text") return `<span>“${esc(input.text)}”</span>`;
  return `<span class="hex">${esc(input.hex)}</span> <span class="muted">(${input.bytes} B)</span>`;
}
function remaining(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 3600) return duration(s);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return d > 0 ? `${d} d ${h} h ${m} min` : `${h} h ${m} min ${s % 60} s`;
}
function countdown(until) {
  return `<span class="countdown mono" data-until="${until}"></span>`;
}
function tick() {
  for (const el of document.querySelectorAll("[data-until]")) {
    const left = Number(el.dataset.until) - chainNow();
    el.textContent = left > 0 ? remaining(left) : "over";
    el.classList.toggle("error", left <= 0);
  }
  for (const el of document.querySelectorAll(".clock[data-left]")) {
    const running = el.dataset.since !== "";
    const left = Number(el.dataset.left) - (running ? chainNow() - Number(el.dataset.since) : 0);
    el.textContent = duration(left);
    el.classList.toggle("out", left <= 0);
  }
}

// -- the home page ------------------------------------------------------------------------------------------------
async function renderHome() {
  const [reqs, games, money] = await Promise.all([getJSON("/api/requests"), getJSON("/api/games"), getJSON("/api/money")]);
  syncChain(reqs.chain);
  const requestRows = reqs.requests.map((r) => `
    <tr data-request="${r.id}">
      <td><a href="/requests/${r.id}">#${r.id}</a></td>
      <td><span class="badge ${r.status}">${r.status}</span></td>
      <td>${r.model}${r.model_name ? ` <span class="muted">${esc(r.model_name)}</span>` : ""}</td>
      <td>${inputCell(r, false)}</td>
      <td>${addr(r.requester)}</td>
      <td class="num">${eth(r.fee_wei)}</td>
      <td>${addr(r.submitter)}</td>
      <td>${r.countdown ? `<span class="muted">${esc(r.countdown.what)}</span> ${countdown(r.countdown.until)}` : ""}</td>
      <td>${r.games.map((g) => `<a href="/games/${g}">game #${g}</a>`).join(" ")}</td>
    </tr>`).join("");
  const gameRows = games.games.map((g) => `
    <tr data-game="${g.id}">
      <td><a href="/games/${g.id}">#${g.id}</a></td>
      <td><a href="/requests/${g.request}">#${g.request}</a></td>
      <td>${g.running ? `<span class="badge challenged">${esc(g.phase)}</span>` : `<span class="badge finalized">${esc(g.phase || "over")}</span>`}</td>
      <td>${addr(g.submitter)}</td><td>${addr(g.challenger)}</td>
      <td class="num">${g.moves}</td><td class="num">${g.depth}</td>
      <td>${g.winner ? addr(g.winner) + (g.submitter_won ? " (submitter)" : " (challenger)") : ""}</td>
    </tr>`).join("");
  const moneyRows = money.accounts.map((a) => `
    <tr><td>${addr(a.address)}</td><td class="num pos">${eth(a.earned_wei)}</td><td class="num neg">${eth(a.lost_wei)}</td>
      <td class="num">${eth(a.burned_wei)}</td><td class="num">${eth(a.fees_paid_wei)}</td>
      <td class="num ${BigInt(a.net_wei) < 0n ? "neg" : "pos"}">${eth(a.net_wei)}</td></tr>`).join("");
  $main.innerHTML = `
    <h1>Requests</h1>
    <div class="sub">Inference requests to the Coordinator, newest first; the input as the model sees it.</div>
    ${reqs.requests.length ? `<table id="requests"><thead><tr><th>#</th><th>status</th><th>model</th><th>input</th>
      <th>requester</th><th class="num">fee</th><th>submitter</th><th>deadline</th><th>games</th></tr></thead>
      <tbody>${requestRows}</tbody></table>` : `<div class="card empty">no request yet</div>`}
    <h2>Dispute games</h2>
    ${games.games.length ? `<table id="games"><thead><tr><th>#</th><th>request</th><th>phase</th><th>submitter</th>
      <th>challenger</th><th class="num">moves</th><th class="num">levels</th><th>winner</th></tr></thead>
      <tbody>${gameRows}</tbody></table>` : `<div class="card empty">no dispute yet</div>`}
    <h2>Money</h2>
    ${money.accounts.length ? `<table id="money"><thead><tr><th>address</th><th class="num">earned</th><th class="num">lost</th>
      <th class="num">burned</th><th class="num">fees paid</th><th class="num">net</th></tr></thead><tbody>${moneyRows}</tbody></table>
      <div class="sub" style="margin-top:8px">burned in total: ${eth(money.burned_total_wei)}</div>` : `<div class="card empty">no money moved yet</div>`}`;
}

// -- one request ----------------------------------------------------------------------------------------------------
async function renderRequest(id) {
  const r = await getJSON(`/api/requests/${id}`);
  syncChain(r.chain);
  document.getElementById("api").href = `/api/requests/${id}`;
  const subs = r.submissions.map((s) => `
    <tr><td>#${s.id}</td><td>${addr(s.submitter)}</td><td><span class="badge ${s.status === "slashed" ? "challenged" : s.status === "finalized" ? "finalized" : "submitted"}">${s.status}</span></td>
      <td>${s.predicted_class !== null ? `class <b>${s.predicted_class}</b> ` : ""}<span class="hex">${esc(s.output.hex || s.output.text || "")}</span></td>
      <td class="mono">${esc(s.output_commitment.slice(0, 18))}…</td></tr>`).join("");
  $main.innerHTML = `
    <h1>Request #${r.id} <span class="badge ${r.status}">${r.status}</span></h1>
    <div class="sub">model ${r.model}${r.model_name ? ` (${esc(r.model_name)})` : ""} · block ${r.block}</div>
    <div class="grid two">
      <div class="card">${inputCell(r, true)}</div>
      <div class="card kv">
        <div>requester</div><div class="mono">${esc(r.requester)}</div>
        <div>fee</div><div>${eth(r.fee_wei)}</div>
        <div>submitter</div><div class="mono">${esc(r.submitter || "—")}</div>
        <div>${r.countdown ? esc(r.countdown.what) : "deadline"}</div><div>${r.countdown ? countdown(r.countdown.until) : "—"}</div>
        <div>callback</div><div class="mono">${esc(r.callback)}${r.callback_ok === null ? "" : r.callback_ok ? " ✓ delivered" : " ✗ failed"}</div>
        <div>input commitment</div><div class="mono">${esc(r.input_commitment.slice(0, 26))}…</div>
        <div>games</div><div>${r.games.map((g) => `<a href="/games/${g}">game #${g}</a>`).join(" ") || "—"}</div>
      </div>
    </div>
    <h2>Submissions</h2>
    ${subs ? `<table><thead><tr><th>#</th><th>submitter</th><th>status</th><th>output</th><th>output commitment</th></tr></thead><tbody>${subs}</tbody></table>` : `<div class="card empty">no result submitted yet</div>`}`;
}

// -- one game ---------------------------------------------------------------------------------------------------------
function clock(left, running, since) {
  return `<div class="clock ${running ? "running" : ""}" data-left="${left}" data-since="${running ? since : ""}"></div>`;
}
function party(g, role) {
  const who = g[role], c = g.clocks;
  const bond = role === "submitter" ? g.bonds.submitter_wei : g.bonds.challenger_wei;
  const won = g.winner && g.winner.toLowerCase() === who.toLowerCase();
  const running = g.running && c.on_clock === role;
  return `<div class="card party ${g.winner ? (won ? "winner" : "loser") : ""}" id="${role}">
    <div class="role">${role}${g.winner ? (won ? ' · <span class="badge won">winner</span>' : ' · <span class="badge lost">lost</span>') : ""}${running ? ' · <span class="badge open">to move</span>' : ""}</div>
    <div class="who">${esc(who)}</div>
    <div>bond <b>${eth(bond)}</b></div>
    ${clock(role === "submitter" ? c.submitter_left : c.challenger_left, running, c.last_move_at)}
  </div>`;
}
async function renderGame(id) {
  const g = await getJSON(`/api/games/${id}`);
  syncChain(g.chain);
  document.getElementById("api").href = `/api/games/${id}`;
  const opened = g.levels.find((l) => l.op);
  const p = g.payouts;
  const payouts = !p ? `<div class="empty">not settled yet</div>` : p.moot ? `<div>${esc(p.note)}</div>` : `
    <div class="kv" id="payouts">
      <div>winner</div><div class="mono">${esc(p.winner)}</div>
      <div>winner gains</div><div class="pos">+${eth(p.winner_gain_wei)}</div>
      <div>loser</div><div class="mono">${esc(p.loser)}</div>
      <div>loser loses</div><div class="neg">−${eth(p.bond_lost_wei)}</div>
      <div>burned</div><div>${eth(p.burned_wei)}</div>
    </div>`;
  $main.innerHTML = `
    <h1>Game #${g.id} <span class="badge ${g.running ? "challenged" : "finalized"}" id="phase">${esc(g.phase || "")}</span></h1>
    <div class="sub">${g.request_input && g.request_input.kind === "image" ? `<img class="digit tiny" alt="input" src="/api/requests/${g.request}/input.png"> ` : ""}dispute over <a href="/requests/${g.request}">request #${g.request}</a> · ${g.moves} moves ·
      ${g.num_levels} levels, ${g.checkpoint_count} checkpoints per round</div>
    ${g.verdict ? `<div class="card verdict won" id="verdict" style="margin-bottom:14px">${esc(g.verdict)}</div>` : ""}
    <div class="grid two">${party(g, "submitter")}${party(g, "challenger")}</div>
    <h2>Bisection</h2>
    <div class="card picture" id="picture">${g.picture}
      <div class="sub" style="margin:6px 0 0">Each row zooms into the row above it: grey ticks are the checkpoints the
        submitter posted, the coloured bar the interval the challenger still disputes.</div></div>
    <div class="grid three" style="margin-top:14px">
      <div class="card kv"><div>opened node</div><div id="opened-op">${opened ? `node ${opened.parent}: <b>${esc(opened.op)}</b>` : "—"}</div>
        <div>levels open</div><div>${g.levels.map((l) => esc(l.title)).join(" → ") || "—"}</div></div>
      <div class="card kv"><div>decisive step</div><div class="mono" id="instruction">${g.step ? esc(g.step.instruction || "…") : "—"}</div>
        <div>verdict</div><div id="step-verdict">${g.step ? (g.step.claim_right ? "claimed post-state right" : "claimed post-state wrong") : "—"}</div></div>
      <div class="card"><div class="muted" style="margin-bottom:6px">payouts</div>${payouts}</div>
    </div>`;
}

// -- wiring ---------------------------------------------------------------------------------------------------------
function pageRenderer() {
  const page = document.body.dataset.page;
  const id = location.pathname.split("/").filter(Boolean)[1];
  if (page === "game") return () => renderGame(id);
  if (page === "request") return () => renderRequest(id);
  return renderHome;
}
let rendering = null, again = false;
async function refresh() {
  if (rendering) { again = true; return; }
  rendering = pageRenderer()().then(tick).catch((err) => {
    $main.innerHTML = `<div class="card error" id="error">${esc(err.message)}</div>`;
  });
  await rendering;
  rendering = null;
  document.body.dataset.rendered = String(Number(document.body.dataset.rendered || 0) + 1);
  if (again) { again = false; refresh(); }
}
function listen() {
  const source = new EventSource("/api/events");
  source.addEventListener("update", refresh);
  source.onerror = () => {
    const dot = document.getElementById("dot");
    if (dot) dot.className = "dot down";
  };
}
refresh();
listen();
setInterval(tick, 500);
