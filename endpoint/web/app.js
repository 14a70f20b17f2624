// ccp web page: market, trader's desk, operator's console. Plain JavaScript, no build step.
// Money is shown as the API's exact decimal strings: JSON numbers are kept as their source text
// (JSON.parse's reviver context) and sums are done in BigInt-scaled decimals.
"use strict";

const API = "/api/v1";
const $ = (sel) => document.querySelector(sel);
const state = {
  contracts: [], refs: {}, best: {}, pair: null, expiry: null, selected: null,
  session: null, address: null, ws: null, wsReady: false, admin: sessionStorage.getItem("ccpAdmin") || "",
  chainId: 1, book: null,
};

// ---- exact decimals ----------------------------------------------------------------------
function parseJSON(text) {   // decimals stay their literal text; safe integers (ids, times) stay numbers
  return JSON.parse(text, (key, value, ctx) =>
    (typeof value === "number" && ctx && typeof ctx.source === "string" &&
     (/[.eE]/.test(ctx.source) || !Number.isSafeInteger(value))) ? ctx.source : value);
}
function dec(s) {               // "12.345" -> {n: 12345n, k: 3}
  s = String(s ?? "0").trim();
  if (/e/i.test(s)) s = Number(s).toFixed(12);   // exponent forms only from tiny computed values
  const neg = s.startsWith("-"); if (neg || s.startsWith("+")) s = s.slice(1);
  const [i, f = ""] = s.split(".");
  const n = BigInt((i || "0") + f) * (neg ? -1n : 1n);
  return { n, k: f.length };
}
function fmtDec({ n, k }) {
  const neg = n < 0n; let s = (neg ? -n : n).toString().padStart(k + 1, "0");
  if (k > 0) { s = s.slice(0, -k) + "." + s.slice(-k); s = s.replace(/\.?0+$/, ""); }
  return (neg ? "-" : "") + s;
}
function addDec(a, b) {
  const x = dec(a), y = dec(b), k = Math.max(x.k, y.k);
  return fmtDec({ n: x.n * 10n ** BigInt(k - x.k) + y.n * 10n ** BigInt(k - y.k), k });
}
const show = (v) => (v === null || v === undefined || v === "") ? "–" : String(v);

// ---- HTTP ------------------------------------------------------------------------------------
async function call(path, body, opts = {}) {
  const headers = { "Content-Type": "application/json" };
  if (opts.admin) headers["Authorization"] = "Bearer " + state.admin;
  const res = await fetch(path.startsWith("/") ? path : `${API}/${path}`, {
    method: opts.method || "POST", headers, credentials: "same-origin",
    body: (opts.method || "POST") === "GET" ? undefined : JSON.stringify(body ?? null),
  });
  const text = await res.text();
  let data = {};
  try { data = parseJSON(text); } catch { data = { result: "ERROR", details: text.slice(0, 200) }; }
  if (!res.ok || (data.result && data.result !== "OK")) {
    const err = new Error(`${data.result || res.status}: ${data.details || ""}`);
    err.code = data.result; throw err;
  }
  return "payload" in data ? data.payload : data;
}
const market = (name, body) => call(`clientapi/${name}`, body);

// ---- views -----------------------------------------------------------------------------------
document.querySelectorAll("button.tab").forEach((b) => b.addEventListener("click", () => {
  document.querySelectorAll("button.tab").forEach((x) => x.setAttribute("aria-pressed", String(x === b)));
  document.querySelectorAll(".view").forEach((v) => { v.hidden = v.id !== `view-${b.dataset.view}`; });
  if (b.dataset.view === "ops" && state.admin) loadOps();
}));

// ---- SVG charts ------------------------------------------------------------------------------
function svgChart(el, series, { xLabel = "", yLabel = "", step = false } = {}) {
  const W = 480, H = 180, P = 34;
  const pts = series.flatMap((s) => s.points);
  if (!pts.length) { el.innerHTML = `<svg viewBox="0 0 ${W} ${H}"><text x="${W / 2}" y="${H / 2}" text-anchor="middle" fill="#5a6472">no data</text></svg>`; return; }
  const xs = pts.map((p) => Number(p[0])), ys = pts.map((p) => Number(p[1]));
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(0, ...ys), Math.max(...ys)];
  if (x0 === x1) { x0 -= 1; x1 += 1; } if (y0 === y1) { y1 += 1; }
  const sx = (x) => P + (Number(x) - x0) / (x1 - x0) * (W - 2 * P);
  const sy = (y) => H - P + (-(Number(y) - y0) / (y1 - y0)) * (H - 2 * P);
  const path = (s) => s.points.map((p, i) => {
    const cmd = i ? "L" : "M";
    if (step && i) return `H${sx(p[0]).toFixed(1)}V${sy(p[1]).toFixed(1)}`;
    return `${cmd}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`;
  }).join("");
  const lines = series.map((s) => `<path d="${path(s)}" fill="none" stroke="${s.color}" stroke-width="2"><title>${s.name}</title></path>`).join("");
  const dots = series.map((s) => s.points.map((p) => `<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="2" fill="${s.color}"><title>${s.name} ${p[2] ?? p[0]}: ${p[3] ?? p[1]}</title></circle>`).join("")).join("");
  const axis = `<line x1="${P}" y1="${H - P}" x2="${W - P}" y2="${H - P}" stroke="#999"/><line x1="${P}" y1="${P}" x2="${P}" y2="${H - P}" stroke="#999"/>`;
  const labels = `<text x="${P}" y="${H - 8}" font-size="10" fill="#5a6472">${x0}</text><text x="${W - P}" y="${H - 8}" font-size="10" text-anchor="end" fill="#5a6472">${x1}</text>` +
    `<text x="4" y="${P}" font-size="10" fill="#5a6472">${y1}</text><text x="${W / 2}" y="${H - 8}" font-size="10" text-anchor="middle" fill="#5a6472">${xLabel}</text>` +
    `<text x="4" y="${P - 12}" font-size="10" fill="#5a6472">${yLabel}</text>`;
  el.innerHTML = `<svg viewBox="0 0 ${W} ${H}" data-points="${pts.length}">${axis}${lines}${dots}${labels}</svg>`;
}

// ---- market ----------------------------------------------------------------------------------
function expiryKey(c) { return String(c.economics.expiry); }
function pairOf(c) { return c.economics.currencyPair; }

async function loadContracts() {
  state.contracts = await market("contractList");
  const pairs = [...new Set(state.contracts.map(pairOf))].sort();
  fillSelect($("#pair"), pairs, state.pair);
  state.pair = $("#pair").value || pairs[0];
  fillExpiries();
}
function fillSelect(sel, values, keep) {
  const cur = keep ?? sel.value;
  sel.innerHTML = values.map((v) => `<option>${v}</option>`).join("");
  if (values.includes(cur)) sel.value = cur;
}
function fillExpiries() {
  const ex = [...new Set(state.contracts.filter((c) => pairOf(c) === state.pair).map(expiryKey))].sort();
  fillSelect($("#expiry"), ex, state.expiry);
  state.expiry = $("#expiry").value || ex[0];
}
$("#pair").addEventListener("change", () => { state.pair = $("#pair").value; state.expiry = null; fillExpiries(); refreshMarket(); });
$("#expiry").addEventListener("change", () => { state.expiry = $("#expiry").value; refreshMarket(); });

async function loadRefs() {
  if (!state.pair) return;
  const refs = await market("referencePrices", { currencyPair: state.pair, expiry: 0 });
  state.refs = Object.fromEntries(refs.map((r) => [String(r.contractId), r]));
}
async function loadBest() {
  let rows = [];
  try { rows = await market("bestBidAskPrecise"); } catch { rows = []; }
  const list = Array.isArray(rows) ? rows : Object.entries(rows).map(([k, v]) => ({ contractId: k, ...v }));
  state.best = Object.fromEntries(list.map((r) => [String(r.contractId), r]));
}
function bidAsk(cid) {
  const r = state.best[String(cid)] || {};
  const pick = (...ks) => { for (const k of ks) if (r[k] !== undefined && r[k] !== null) return typeof r[k] === "object" ? (r[k].price ?? r[k].px) : r[k]; };
  return [pick("bestBid", "bid", "bidPrice", "bestBidPrice"), pick("bestAsk", "ask", "askPrice", "bestAskPrice")];
}
function refCell(cid) {
  const r = state.refs[String(cid)];
  if (!r) return "–";
  return `${show(r.referencePrice)} <span class="band">[${show(r.lowRange)}, ${show(r.highRange)}]</span>`;
}
function lastOf(cid) { const r = state.refs[String(cid)]; return r ? show(r.lastPrice) : "–"; }
function contractName(c) {
  const e = c.economics; return `${c.payoff} ${e.strike !== undefined && e.strike !== null ? e.strike : ""} ${e.expiry}`.replace(/\s+/g, " ").trim();
}

function renderChain() {
  const cs = state.contracts.filter((c) => pairOf(c) === state.pair && expiryKey(c) === state.expiry);
  const strikes = {};
  const others = [];
  for (const c of cs) {
    if (c.payoff === "Call" || c.payoff === "Put") {
      const k = String(c.economics.strike); (strikes[k] ||= {})[c.payoff] = c;
    } else others.push(c);
  }
  const cells = (c) => {
    if (!c) return "<td></td><td></td><td></td><td></td>";
    const [b, a] = bidAsk(c.contractId);
    return `<td class="bid">${show(b)}</td><td class="ask">${show(a)}</td><td>${lastOf(c.contractId)}</td><td>${refCell(c.contractId)}</td>`;
  };
  const body = Object.keys(strikes).sort((a, b) => Number(a) - Number(b)).map((k) => {
    const s = strikes[k];
    return `<tr><td hidden></td>${cells(s.Call).replace("<td", `<td data-cid="${s.Call?.contractId ?? ""}"`)}<td class="strike">${k}</td>${cells(s.Put).replace("<td", `<td data-cid="${s.Put?.contractId ?? ""}"`)}</tr>`;
  }).join("");
  $("#chain tbody").innerHTML = body;
  $("#chain tbody").querySelectorAll("td[data-cid]").forEach((td) => {
    if (td.dataset.cid) { td.parentElement.classList.add("clickable"); td.addEventListener("click", () => selectContract(Number(td.dataset.cid))); }
  });
  $("#others tbody").innerHTML = others.sort((a, b) => a.contractId - b.contractId).map((c) => {
    const [b, a] = bidAsk(c.contractId);
    return `<tr class="clickable" data-cid="${c.contractId}"><td>${contractName(c)}</td><td class="bid">${show(b)}</td><td class="ask">${show(a)}</td><td>${lastOf(c.contractId)}</td><td>${refCell(c.contractId)}</td></tr>`;
  }).join("");
  $("#others tbody").querySelectorAll("tr").forEach((tr) => tr.addEventListener("click", () => selectContract(Number(tr.dataset.cid))));
  fillLegContracts();
}

async function selectContract(cid) {
  const c = state.contracts.find((x) => x.contractId === cid);
  if (!c) return;
  if (state.selected !== null && state.selected !== cid) wsSend("UNSUBSCRIBE_ORDER_BOOK", { contractId: state.selected });
  state.selected = cid;
  $("#contract-title").textContent = `Contract ${cid}: ${contractName(c)} (${pairOf(c)})`;
  state.book = null;
  wsSend("SUBSCRIBE_ORDER_BOOK", { contractId: cid });
  try {
    const books = await market("orderbook", { contractId: cid });
    const book = Array.isArray(books) ? books.find((b) => Number(b.contractId) === cid) : books;
    if (state.selected === cid && !state.book) state.book = book || null;   // a WS snapshot wins
  } catch { /* the WS snapshot fills it */ }
  renderDepth();
  await renderHistory();
}

function levels(side) { return (side || []).map((l) => [String(l.price), String(l.size ?? l.qty ?? l.quantity)]); }
function renderDepth() {
  const b = state.book || {};
  const bids = levels(b.bids).sort((x, y) => Number(y[0]) - Number(x[0]));
  const asks = levels(b.asks).sort((x, y) => Number(x[0]) - Number(y[0]));
  const cum = (lv) => { let t = "0"; return lv.map(([p, s]) => { t = addDec(t, s); return [p, t, p, t]; }); };
  svgChart($("#depth"), [{ name: "bids", color: "#1a7f37", points: cum(bids) }, { name: "asks", color: "#c2352b", points: cum(asks) }],
    { xLabel: "price", yLabel: "cumulative size", step: true });
}
async function renderHistory() {
  if (state.selected === null) return;
  const pts = await call(`/api/v1/market/priceHistory?contractId=${state.selected}`, null, { method: "GET" });
  svgChart($("#history"), [{ name: "price", color: "#0b5fff", points: pts.map((p, i) => [i, p.price, p.batchId, p.price]) }],
    { xLabel: "auction", yLabel: "price" });
}

async function renderTimeline() {
  const rows = await call("/api/v1/market/auctions?limit=30", null, { method: "GET" });
  $("#timeline tbody").innerHTML = rows.map((r) => `<tr data-batch="${r.batchId}"><td>${r.batchId}</td>` +
    `<td>${new Date(Number(r.batchId)).toISOString().replace("T", " ").slice(0, 19)}</td><td>${r.orders}</td><td>${r.volume}</td>` +
    `<td>${r.contractsTraded}</td><td>${Number(r.timings.solve ?? 0).toFixed(3)} s</td>` +
    `<td class="${r.checkOk === false ? "bad" : "good"}">${r.checkOk === null ? "–" : r.checkOk ? "ok" : "FAILED"} ${Number(r.timings.check ?? 0).toFixed(3)} s</td>` +
    `<td>${r.status}${r.solveStatus ? " / " + r.solveStatus : ""}</td><td>${r.halted.join(", ") || "–"}</td></tr>`).join("");
}

async function refreshSpot() {
  try {
    const s = await market("spotPrices");
    $("#spot").textContent = Object.entries(s).map(([k, v]) => `${k} ${v}`).join(" · ");
  } catch { /* no spot yet */ }
  try {
    const n = await market("nextAuction");
    state.nextAuction = Number(typeof n === "object" ? (n.nextAuction ?? n.payload) : n);
  } catch { /* unknown */ }
}
setInterval(() => {
  if (!state.nextAuction) return;
  const s = Math.max(0, Math.round((state.nextAuction - Date.now()) / 1000));
  $("#next-auction").textContent = `next auction in ${s} s`;
}, 1000);

async function refreshMarket() {
  await Promise.all([loadRefs(), loadBest()]);
  renderChain();
  await renderTimeline();
  if (state.selected !== null) { renderDepth(); await renderHistory(); }
}

// ---- WebSocket -------------------------------------------------------------------------------
function wsSend(action, payload) {
  if (state.ws && state.wsReady) state.ws.send(JSON.stringify({ action, payload }));
}
function connectWs() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/wss`);
  ws.binaryType = "arraybuffer";
  state.ws = ws;
  ws.onopen = () => {
    state.wsReady = true; $("#ws-state").textContent = "live"; $("#ws-state").classList.add("live");
    if (state.session) wsSend("VALIDATE_AUTH_TOKEN", { authToken: state.session.authToken });
    if (state.selected !== null) wsSend("SUBSCRIBE_ORDER_BOOK", { contractId: state.selected });
  };
  ws.onclose = () => {
    state.wsReady = false; $("#ws-state").textContent = "offline"; $("#ws-state").classList.remove("live");
    setTimeout(connectWs, 2000);
  };
  ws.onmessage = (ev) => {
    const text = typeof ev.data === "string" ? ev.data : new TextDecoder().decode(ev.data);
    let m; try { m = parseJSON(text); } catch { return; }
    onMessage(m.responseType || m.action || m.type, m.payload, m);
  };
}
let refreshTimer = null;
function onMessage(kind, p) {
  if (kind === "AUCTION_FINISHED") {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => { refreshMarket(); refreshSpot(); if (state.session) refreshDesk(); if (state.admin && !$("#ops").hidden) loadOps(); }, 200);
  } else if (kind === "ORDERBOOK" && p && Number(p.contractId) === state.selected) {
    state.book = { bids: p.bids || [], asks: p.asks || [] }; renderDepth();
  } else if (kind === "ORDERBOOK_DELTA" && p && Number(p.contractId) === state.selected && state.book) {
    for (const side of ["bids", "asks"]) for (const l of p[side] || []) {
      const lv = state.book[side].filter((x) => String(x.price) !== String(l.price));
      if (dec(l.size).n !== 0n) lv.push(l);
      state.book[side] = lv;
    }
    renderDepth();
  } else if (kind === "SPOT_PRICES" && p) {
    $("#spot").textContent = Object.entries(p).map(([k, v]) => `${k} ${v}`).join(" · ");
  } else if (kind === "EXEC_REPORT" && p) {
    addFill(p); refreshDesk();
  } else if (kind === "FUNDLOCK_UPDATED") {
    refreshDesk();
  }
}

// ---- trader's desk ---------------------------------------------------------------------------
function toVRS(sig) {   // 0x r(32) s(32) v(1) -> "V.R.S" (the venue's wire form)
  const h = sig.replace(/^0x/, "");
  return `${h.slice(128, 130)}.${h.slice(0, 64)}.${h.slice(64, 128)}`;
}
const DOMAIN_TYPES = [{ name: "name", type: "string" }, { name: "version", type: "string" }];
const DOMAIN = { name: "Ithaca", version: "0.1" };   // the dialect without chainId (api.md §2)

async function login() {
  const eth = window.ethereum;
  if (!eth) { $("#login-state").textContent = "No wallet found: install an EIP-1193 wallet."; return; }
  try {
    const [address] = await eth.request({ method: "eth_requestAccounts" });
    const auth = await fetch(`${API}/auth/requestAuth`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ ethAddress: address }) }).then((r) => r.text()).then(parseJSON);
    if (auth.result !== "OK") throw new Error(`${auth.result}: ${auth.details}`);
    const nonce = auth.nonce ?? auth.payload.nonce;
    const typed = { types: { EIP712Domain: DOMAIN_TYPES, AuthMessage: [{ name: "content", type: "string" }] }, primaryType: "AuthMessage", domain: DOMAIN, message: { content: nonce } };
    const sig = await eth.request({ method: "eth_signTypedData_v4", params: [address, JSON.stringify(typed)] });
    const session = await market("../auth/validateAuth", { nonce, signature: toVRS(sig) });
    state.session = session; state.address = address.toLowerCase();
    $("#login-state").textContent = `Logged in as ${address} (client ${session.clientId}).`;
    $("#login").hidden = true; $("#logout").hidden = false; $("#desk").hidden = false;
    wsSend("VALIDATE_AUTH_TOKEN", { authToken: session.authToken });
    if (!$("#legs").children.length) addLeg();
    await refreshDesk();
  } catch (e) { $("#login-state").textContent = `Login failed: ${e.message}`; }
}
$("#login").addEventListener("click", login);
$("#logout").addEventListener("click", async () => {
  try { await call("auth/logout", null); } catch { /* already gone */ }
  state.session = null; $("#desk").hidden = true; $("#login").hidden = false; $("#logout").hidden = true;
  $("#login-state").textContent = "Not logged in.";
});

function fillLegContracts() {
  const opts = state.contracts.filter((c) => c.tradeable !== false).map((c) => `<option value="${c.contractId}">${c.contractId} · ${pairOf(c)} ${contractName(c)}</option>`).join("");
  document.querySelectorAll("#legs select.leg-contract").forEach((s) => { const v = s.value; s.innerHTML = opts; if (v) s.value = v; });
}
function addLeg() {
  const i = $("#legs").children.length;
  const div = document.createElement("div"); div.className = "leg";
  div.innerHTML = `<label>Leg ${i + 1} contract <select class="leg-contract"></select></label>` +
    `<label>Side <select class="leg-side"><option>BUY</option><option>SELL</option></select></label>` +
    `<label>Quantity <input class="leg-qty" inputmode="decimal" value="1"></label>`;
  $("#legs").appendChild(div); fillLegContracts();
  if (state.selected !== null) div.querySelector(".leg-contract").value = String(state.selected);
}
$("#add-leg").addEventListener("click", addLeg);

function orderBody() {
  const legs = [...document.querySelectorAll("#legs .leg")].map((d) => ({
    contractId: Number(d.querySelector(".leg-contract").value), side: d.querySelector(".leg-side").value,
    quantity: d.querySelector(".leg-qty").value.trim(),
  })).sort((a, b) => a.contractId - b.contractId);
  return {
    clientOrderId: Date.now() * 1000 + Math.floor(Math.random() * 1000), orderType: "LIMIT",
    timeInForce: $("#tif").value, clientEthAddress: state.address, totalNetPrice: $("#net-price").value.trim(), legs,
  };
}
async function preview() {
  const body = orderBody();
  try {
    const lock = await market("estimateOrderLock", body);
    $("#lock-out").textContent = `Collateral locked: ${show(lock.underlierAmount)} underlying, ${show(lock.numeraireAmount)} numeraire (${lock.currencyPair ?? ""})`;
    const pay = await market("estimateOrderPayoff", body);
    const pts = Object.entries(pay).sort((a, b) => Number(a[0]) - Number(b[0])).map(([s, v]) => [s, v, s, v]);
    svgChart($("#payoff"), [{ name: "payoff", color: "#0b5fff", points: pts }], { xLabel: "settlement price", yLabel: "payoff" });
    $("#order-msg").textContent = "";
  } catch (e) { $("#order-msg").textContent = `Preview failed: ${e.message}`; }
}
$("#preview").addEventListener("click", preview);

async function place() {
  const body = orderBody();
  const legTypes = body.legs.map((_, i) => ({ name: `leg${i}`, type: "Leg" }));
  const typed = {
    types: {
      EIP712Domain: DOMAIN_TYPES,
      ConditionalOrder: [{ name: "orderType", type: "string" }, { name: "orderId", type: "uint64" }, { name: "price", type: "string" },
        { name: "timeInForce", type: "string" }, { name: "address", type: "string" }, ...legTypes],
      Leg: [{ name: "contractId", type: "uint32" }, { name: "side", type: "string" }, { name: "quantity", type: "string" }],
    },
    primaryType: "ConditionalOrder", domain: DOMAIN,
    message: Object.assign({ orderType: body.orderType, orderId: String(body.clientOrderId), price: body.totalNetPrice, timeInForce: body.timeInForce, address: body.clientEthAddress },
      Object.fromEntries(body.legs.map((l, i) => [`leg${i}`, l]))),
  };
  try {
    const sig = await window.ethereum.request({ method: "eth_signTypedData_v4", params: [state.address, JSON.stringify(typed)] });
    body.signature = toVRS(sig);
    await market("newOrder", body);
    $("#order-msg").textContent = `Order ${body.clientOrderId} accepted.`;
    await refreshDesk();
  } catch (e) { $("#order-msg").textContent = `Order rejected: ${e.message}`; }
}
$("#place").addEventListener("click", place);

async function refreshDesk() {
  if (!state.session) return;
  try {
    const [orders, positions, funds] = await Promise.all([market("clientOpenOrders"), market("clientCurrentPositions"), market("clientFundLockState")]);
    $("#open-orders tbody").innerHTML = orders.map((o) => `<tr><td>${o.clientOrderId}</td><td>${(o.legs || o.details || []).map((l) => `${l.side} ${l.quantity ?? l.originalQty} #${l.contractId}`).join(", ")}</td>` +
      `<td>${show(o.totalNetPrice ?? o.netPrice)}</td><td>${o.orderStatus ?? o.status}</td><td><button type="button" class="cancel" data-id="${o.clientOrderId}">Cancel</button></td></tr>`).join("");
    document.querySelectorAll("button.cancel").forEach((b) => b.addEventListener("click", async () => {
      try { await market("orderCancel", { clientOrderId: b.dataset.id }); $("#order-msg").textContent = `Order ${b.dataset.id} cancelled.`; } catch (e) { $("#order-msg").textContent = `Cancel failed: ${e.message}`; }
      refreshDesk();
    }));
    $("#positions tbody").innerHTML = positions.map((p) => `<tr><td>${p.contractId}</td><td>${show(p.positionsQty)}</td><td>${show(p.positionsAvgPrice)}</td></tr>`).join("");
    const fl = Array.isArray(funds) ? funds : Object.values(funds);
    $("#funds tbody").innerHTML = fl.map((f) => `<tr><td>${f.currency}</td><td>${show(f.fundLockValue)}</td><td>${show(f.orderValue)}</td><td>${show(f.settleValue)}</td></tr>`).join("");
  } catch (e) { $("#order-msg").textContent = `Refresh failed: ${e.message}`; }
}
function addFill(p) {
  const rows = (p.details || []).map((d) => `<tr><td>${p.clientOrderId}</td><td>${p.orderStatus}</td><td>${d.contractId}</td><td>${d.side ?? ""}</td><td>${show(d.thisFillQty)}</td><td>${show(d.avgPrice)}</td></tr>`).join("");
  $("#fills tbody").insertAdjacentHTML("afterbegin", rows || `<tr><td>${p.clientOrderId}</td><td>${p.orderStatus}</td><td colspan="4"></td></tr>`);
}

// ---- operator's console ----------------------------------------------------------------------
$("#admin-token").value = state.admin;
$("#admin-go").addEventListener("click", () => { state.admin = $("#admin-token").value; sessionStorage.setItem("ccpAdmin", state.admin); loadOps(); });
async function admin(path) { return call(`/api/v1/admin/${path}`, null, { method: "GET", admin: true }); }
async function loadOps() {
  try {
    const batches = await admin("batches");
    $("#admin-msg").textContent = ""; $("#ops").hidden = false;
    const list = Array.isArray(batches) ? batches : (batches.batches || []);
    $("#ops-batches tbody").innerHTML = list.map((b) => `<tr><td>${b.batchId}</td><td>${b.status}</td><td>${show(b.solveStatus)}</td>` +
      `<td class="${b.checkOk === false ? "bad" : "good"}">${b.checkOk === false ? "FAILED: " + (b.violations || []).slice(0, 3).join("; ") : b.checkOk ? "ok" : "–"}</td>` +
      `<td>${Object.entries(b.timings || {}).map(([k, v]) => `${k} ${Number(v).toFixed(3)}`).join(", ")}</td><td>${show(b.orders ?? b.orderCount)}</td><td>${show(b.volume)}</td></tr>`).join("");
  } catch (e) { $("#admin-msg").textContent = `Console refused: ${e.message}`; $("#ops").hidden = true; return; }
  const section = async (el, path) => { try { $(el).textContent = JSON.stringify(await admin(path), null, 2); } catch (e) { $(el).textContent = e.message; } };
  await Promise.all([section("#ops-settlement", "settlement"), section("#ops-sources", "spotSources"), section("#ops-expiry", "expiries"), section("#ops-alerts", "alerts")]);
}

// ---- start -----------------------------------------------------------------------------------
(async function start() {
  connectWs();
  try {
    try { const info = await market("systemInfo"); state.chainId = Number(info.chainId ?? 1); } catch { /* optional */ }
    await loadContracts();
    await refreshMarket();
    await refreshSpot();
    const first = state.contracts.find((c) => pairOf(c) === state.pair && expiryKey(c) === state.expiry);
    if (first) await selectContract(first.contractId);
  } catch (e) {
    console.error("start:", e.message);
  } finally {
    document.body.dataset.ready = "1";
  }
})();
