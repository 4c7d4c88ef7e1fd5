// The dashboard (/ and /lcars): one card per device, kept current by /stream.
import {
  ago,
  el,
  formatTime,
  formatValue,
  getJson,
  linkTheme,
  openStream,
} from "./common.js";
import { openSettings, sendWithToken } from "./settings.js";

/** Summary figures: the first key a device reports wins (protocols name things differently). */
const METRICS = [
  { id: "pv_power", label: "PV power", group: "solar", keys: ["pv_input_power", "pv_power", "pv_total_power", "panel_power"], sum: /^pv\d_input_power$/ },
  { id: "pv_voltage", label: "PV voltage", group: "solar", keys: ["pv_input_voltage", "pv1_input_voltage", "panel_voltage"] },
  { id: "battery_voltage", label: "Voltage", group: "battery", keys: ["battery_voltage", "battery_bank_voltage", "main_or_channel_1_battery_voltage"] },
  { id: "battery_current", label: "Current", group: "battery", keys: ["battery_current", "current", "main_or_channel_1_battery_current"], net: ["battery_charging_current", "battery_discharge_current"] },
  { id: "battery_power", label: "Power", group: "battery", keys: ["battery_power", "instantaneous_power"] },
  { id: "soc", label: "State of charge", group: "battery", keys: ["battery_capacity", "soc", "percent_remain", "state_of_charge"], gauge: true },
  { id: "load_power", label: "Output power", group: "load", keys: ["ac_output_active_power", "output_power"] },
  { id: "load_percent", label: "Load", group: "load", keys: ["ac_output_load", "output_load_percent", "ac_output_load_percent"], gauge: true },
  { id: "grid_voltage", label: "Voltage", group: "grid", keys: ["ac_input_voltage", "grid_voltage"] },
  { id: "grid_frequency", label: "Frequency", group: "grid", keys: ["ac_input_frequency", "grid_frequency"] },
  { id: "mode", label: "Mode", group: "status", keys: ["device_mode", "working_mode", "charge_status", "state_of_operation", "balancing_action"] },
];
const GROUPS = { solar: "Solar", battery: "Battery", load: "Load", grid: "Grid", status: "Status" };
const CELL = /^(?:voltage_cell(\d+)|cell_?(\d+)_voltage)$/;
const ALARM = /fault|warning|alarm|error|over_?(?:voltage|current|temperature|charge|discharge)|under_?(?:voltage|temperature)|short_circuit|anomaly|mismatch/i;

const devices = new Map(); // name -> {online, protocol, family, updated, values}
const cards = new Map(); // name -> {root, body, header parts}
const openTables = new Set();
let streamUp = false;
let connectedBefore = false;

function pick(values, keys) {
  for (const key of keys) {
    const entry = values[key];
    if (entry && entry.value !== null && entry.value !== undefined) return { key, ...entry };
  }
  return null;
}

function metric(values, spec) {
  const found = pick(values, spec.keys);
  if (found) return found;
  if (spec.sum) {
    const parts = Object.entries(values).filter(([key, v]) => spec.sum.test(key) && typeof v.value === "number");
    if (parts.length) {
      return { key: parts.map(([key]) => key).join("+"), value: parts.reduce((sum, [, v]) => sum + v.value, 0), unit: parts[0][1].unit };
    }
  }
  if (spec.net) {
    const [charge, discharge] = spec.net.map((key) => values[key]);
    if (charge && discharge && typeof charge.value === "number" && typeof discharge.value === "number") {
      return { key: spec.net.join("-"), value: charge.value - discharge.value, unit: charge.unit || "A" };
    }
  }
  return null;
}

function cells(values) {
  const list = [];
  for (const [key, entry] of Object.entries(values)) {
    const match = CELL.exec(key);
    if (match && typeof entry.value === "number" && entry.value > 0) {
      list.push({ index: Number(match[1] || match[2]), key, value: entry.value });
    }
  }
  return list.sort((a, b) => a.index - b.index);
}

function temperatures(values) {
  return Object.entries(values)
    .filter(([key, v]) => v.unit === "°C" && typeof v.value === "number" && v.value > -40 && !/delta|^(?:min|max)_/.test(key))
    .map(([key, v]) => ({ key, name: v.name, value: v.value }));
}

function alarms(values) {
  return Object.entries(values)
    .filter(([key, v]) => v.value === true && (ALARM.test(key) || ALARM.test(v.name || "")))
    .map(([key, v]) => ({ key, name: v.name || key }));
}

/** Decimals for a summary figure: about four significant digits, none for big numbers. */
function digits(value) {
  if (Number.isInteger(value)) return 0;
  const size = Math.abs(value);
  return size >= 1000 ? 0 : size >= 100 ? 1 : size >= 10 ? 2 : 3;
}

// -- rendering ------------------------------------------------------------------------------

function tile(spec, found) {
  const value = found ? (typeof found.value === "number" ? String(Number(found.value.toFixed(digits(found.value)))) : formatValue(found.value)) : "—";
  const node = el(
    "div",
    { class: `tile${spec.gauge ? " gauge" : ""}`, "data-metric": spec.id, title: found ? found.key : "" },
    el("span", { class: "label", text: spec.label }),
    el("span", { class: "reading" }, el("span", { class: "value", text: value }), el("span", { class: "unit", text: found?.unit || "" })),
  );
  if (spec.gauge && found && typeof found.value === "number") {
    const bar = el("span", { class: "meter" }, el("span", { class: "fill" }));
    bar.firstChild.style.width = `${Math.max(0, Math.min(100, found.value))}%`;
    node.append(bar);
  }
  return node;
}

function cellPanel(list, values) {
  const voltages = list.map((c) => c.value);
  const low = Math.min(...voltages);
  const high = Math.max(...voltages);
  const delta = values.delta_cell_voltage?.value ?? high - low;
  const average = values.average_cell_voltage?.value ?? voltages.reduce((a, b) => a + b, 0) / voltages.length;
  // Scale the bars to the spread around the pack: small imbalances must be visible.
  const floor = low - Math.max(0.01, (high - low) * 0.5);
  const ceiling = high + 0.002;
  const bars = el("div", { class: "cells", role: "img", "aria-label": `${list.length} cell voltages` });
  for (const cell of list) {
    const bar = el(
      "div",
      {
        class: `cell${cell.value === low ? " low" : ""}${cell.value === high ? " high" : ""}`,
        "data-cell": cell.index,
        title: `Cell ${cell.index}: ${cell.value.toFixed(3)} V`,
      },
      el("span", { class: "cell-bar" }),
      el("span", { class: "cell-volt", text: cell.value.toFixed(3) }),
      el("span", { class: "cell-no", text: String(cell.index) }),
    );
    bar.firstChild.style.height = `${Math.round(((cell.value - floor) / (ceiling - floor)) * 100)}%`;
    bars.append(bar);
  }
  const stats = el(
    "dl",
    { class: "cell-stats" },
    el("dt", { text: "Min" }), el("dd", { "data-stat": "min", text: `${low.toFixed(3)} V` }),
    el("dt", { text: "Max" }), el("dd", { "data-stat": "max", text: `${high.toFixed(3)} V` }),
    el("dt", { text: "Delta" }), el("dd", { "data-stat": "delta", text: `${Math.round(delta * 1000)} mV` }),
    el("dt", { text: "Average" }), el("dd", { "data-stat": "average", text: `${average.toFixed(3)} V` }),
  );
  const balancing = pick(values, ["balancing", "balance_state", "cell_balance_active"]);
  const balanceCurrent = values.balance_current?.value;
  const state = balancing
    ? balancing.value === true || balancing.value === "on"
      ? `balancing${typeof balanceCurrent === "number" ? ` (${balanceCurrent} A)` : ""}`
      : "not balancing"
    : null;
  return el(
    "section",
    { class: "group cells-group", "data-group": "cells" },
    el("h3", {}, el("span", { text: `Cells (${list.length})` }), state ? el("span", { class: `badge${state.startsWith("bal") ? " on" : ""}`, "data-balancing": state, text: state }) : null),
    bars,
    stats,
  );
}

function temperaturePanel(list) {
  return el(
    "section",
    { class: "group", "data-group": "temperatures" },
    el("h3", { text: "Temperatures" }),
    el(
      "ul",
      { class: "temps" },
      ...list.map((t) => el("li", { "data-key": t.key }, el("span", { class: "label", text: t.name }), el("span", { class: "value", text: `${formatValue(t.value)} °C` }))),
    ),
  );
}

function alarmPanel(list) {
  return el(
    "section",
    { class: `group alarms${list.length ? " active" : ""}`, "data-group": "alarms" },
    el("h3", { text: "Warnings and faults" }),
    list.length
      ? el("ul", {}, ...list.map((a) => el("li", { "data-key": a.key, text: a.name })))
      : el("p", { class: "quiet", text: "None active" }),
  );
}

function fullTable(name, values) {
  const rows = Object.entries(values).sort(([, a], [, b]) => (a.command || "").localeCompare(b.command || "") || (a.name || "").localeCompare(b.name || ""));
  const details = el(
    "details",
    { class: "all", open: openTables.has(name) },
    el("summary", { text: `All values (${rows.length})` }),
    el(
      "div",
      { class: "table-wrap" },
      el(
        "table",
        {},
        el("thead", {}, el("tr", {}, el("th", { text: "Name" }), el("th", { text: "Value" }), el("th", { text: "Command" }))),
        el(
          "tbody",
          {},
          ...rows.map(([key, v]) =>
            el(
              "tr",
              { "data-key": key },
              el("td", { text: v.name || key, title: key }),
              el("td", { class: "num", text: `${formatValue(v.value)}${v.unit ? ` ${v.unit}` : ""}` }),
              el("td", { class: "cmd", text: v.command || "" }),
            ),
          ),
        ),
      ),
    ),
  );
  details.addEventListener("toggle", () => {
    if (details.open) openTables.add(name);
    else openTables.delete(name);
  });
  return details;
}

function renderBody(name) {
  const device = devices.get(name);
  const values = device.values || {};
  const body = el("div", { class: "device-body" });
  const byGroup = {};
  for (const spec of METRICS) {
    const found = metric(values, spec);
    if (found) (byGroup[spec.group] ||= []).push(tile(spec, found));
  }
  const summary = el("div", { class: "groups" });
  for (const [group, title] of Object.entries(GROUPS)) {
    if (!byGroup[group]) continue;
    summary.append(el("section", { class: `group ${group}`, "data-group": group }, el("h3", { text: title }), el("div", { class: "tiles" }, ...byGroup[group])));
  }
  const temps = temperatures(values);
  if (temps.length) summary.append(temperaturePanel(temps));
  body.append(summary);
  const cellList = cells(values);
  if (cellList.length) body.append(cellPanel(cellList, values));
  if (Object.keys(values).length) body.append(alarmPanel(alarms(values)));
  else body.append(el("p", { class: "quiet waiting", text: device.online === false ? "The device is not answering." : "Waiting for the first reading…" }));
  body.append(fullTable(name, values));
  return body;
}

function card(name) {
  let parts = cards.get(name);
  if (parts) return parts;
  const state = el("span", { class: "state", "data-online": "unknown", text: "waiting" });
  const updated = el("time", { class: "updated" });
  const protocol = el("span", { class: "protocol" });
  const refresh = el("button", { type: "button", class: "action refresh", text: "Refresh", title: "Poll this device now" });
  const settings = el("button", { type: "button", class: "action settings", text: "Settings", title: "Change this device's settings" });
  refresh.addEventListener("click", () => sendWithToken("api/refresh", { device: name }, refresh));
  settings.addEventListener("click", () => openSettings(name));
  const header = el(
    "header",
    { class: "device-head" },
    el("h2", { text: name }),
    protocol,
    state,
    updated,
    el("span", { class: "actions" }, refresh, settings),
  );
  const root = el("article", { class: "device", "data-device": name }, header);
  document.getElementById("devices").append(root);
  parts = { root, state, updated, protocol, body: null };
  cards.set(name, parts);
  return parts;
}

function renderHeader(name) {
  const device = devices.get(name);
  const parts = card(name);
  const online = device.online === true ? "online" : device.online === false ? "offline" : "unknown";
  parts.root.dataset.family = device.family || "unknown";
  parts.root.dataset.online = online;
  parts.state.dataset.online = online;
  parts.state.textContent = online === "unknown" ? "waiting" : online;
  parts.protocol.textContent = [device.protocol, device.family].filter(Boolean).join(" · ");
  parts.updated.textContent = device.updated ? `updated ${ago(device.updated)}` : "no data yet";
  if (device.updated) {
    parts.updated.dateTime = new Date(device.updated * 1000).toISOString();
    parts.updated.title = formatTime(device.updated, true);
  }
}

function render(name) {
  renderHeader(name);
  const parts = cards.get(name);
  const body = renderBody(name);
  if (parts.body) parts.body.replaceWith(body);
  else parts.root.append(body);
  parts.body = body;
}

function renderStatus() {
  const status = document.getElementById("connection");
  if (!status) return;
  status.dataset.state = streamUp ? "live" : "reconnecting";
  status.textContent = streamUp ? "live" : "reconnecting…";
}

// -- data -----------------------------------------------------------------------------------

async function load() {
  const data = await getJson("api/data");
  for (const [name, device] of Object.entries(data.devices || {})) {
    devices.set(name, { ...device, values: { ...(device.values || {}) } });
    render(name);
  }
  const empty = document.getElementById("empty");
  if (empty) empty.hidden = devices.size > 0;
}

function onReading(data) {
  const device = devices.get(data.device) || { online: true, protocol: null, family: null, values: {} };
  Object.assign(device.values, data.values || {});
  device.updated = data.time ?? device.updated;
  device.online = true;
  devices.set(data.device, device);
  render(data.device);
}

function onAvailability(data) {
  const device = devices.get(data.device);
  if (!device) return;
  device.online = data.online;
  renderHeader(data.device);
}

async function start() {
  linkTheme();
  renderStatus();
  try {
    await load();
  } catch (err) {
    document.getElementById("connection").textContent = `cannot load data: ${err.message}`;
  }
  openStream({ reading: onReading, availability: onAvailability }, (up) => {
    const reconnected = up && !streamUp && connectedBefore;
    connectedBefore ||= up;
    streamUp = up;
    renderStatus();
    // After a reconnect the server replays what it still holds; reload for the rest.
    if (reconnected) load().catch(() => {});
  });
  setInterval(() => {
    for (const name of devices.keys()) renderHeader(name);
  }, 5000);
}

start();
