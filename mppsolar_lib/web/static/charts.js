// History charts (/charts and /charts/lcars): one device, chosen series, a time range.
// The state lives in the URL hash (#device=…&range=6h&keys=a,b) so a link or theme switch keeps it.
import { el, getJson, linkTheme } from "./common.js";

const RANGES = { "1h": 3600, "6h": 6 * 3600, "24h": 24 * 3600 };
/** Series shown first for a device (when it has them). */
const DEFAULT_KEYS = [
  "pv_input_power", "pv1_input_power", "battery_voltage", "battery_bank_voltage", "battery_capacity", "soc",
  "percent_remain", "state_of_charge", "ac_output_active_power", "battery_current", "current",
  "main_or_channel_1_battery_voltage", "delta_cell_voltage",
];
const LCARS = document.body.classList.contains("theme-lcars");
const PALETTE = LCARS
  ? ["#ff9900", "#9999ff", "#ff9966", "#cc99cc", "#ffcc99", "#6688cc", "#ffaa00", "#cc4444", "#99ccff"]
  : ["#f5b82e", "#4cc38a", "#5aa9f0", "#b48cf2", "#f06a6a", "#3fc1c9", "#e38c4a", "#9fb83a", "#d66ba0"];
const REFRESH_SECONDS = 30;

const state = { device: null, range: "1h", from: null, to: null, keys: [] };
let catalogue = {}; // device -> {key: {name, unit}}
let chart = null;
let draws = 0;
let timer = null;

const $ = (id) => document.getElementById(id);

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get("device")) state.device = params.get("device");
  if (params.get("range") in RANGES || params.get("range") === "custom") state.range = params.get("range");
  if (params.get("from")) state.from = Number(params.get("from"));
  if (params.get("to")) state.to = Number(params.get("to"));
  if (params.has("keys")) state.keys = params.get("keys").split(",").filter(Boolean);
}

function writeHash() {
  const params = new URLSearchParams({ device: state.device || "", range: state.range });
  if (state.range === "custom") {
    params.set("from", String(Math.round(state.from)));
    params.set("to", String(Math.round(state.to)));
  }
  params.set("keys", state.keys.join(","));
  history.replaceState(null, "", `#${params}`);
}

function window_() {
  if (state.range === "custom" && state.from && state.to) return [state.from, state.to];
  const now = Date.now() / 1000;
  return [now - RANGES[state.range], now];
}

function localInput(epoch) {
  const date = new Date(epoch * 1000);
  date.setMinutes(date.getMinutes() - date.getTimezoneOffset());
  return date.toISOString().slice(0, 16);
}

function tickLabel(value, span) {
  const date = new Date(value);
  const options = span > 86400 * 1000 ? { day: "2-digit", month: "short", hour: "2-digit", minute: "2-digit" } : { hour: "2-digit", minute: "2-digit" };
  if (span <= 600 * 1000) options.second = "2-digit";
  return date.toLocaleString(undefined, options);
}

// -- controls -------------------------------------------------------------------------------

function renderDevices() {
  const select = $("device");
  select.replaceChildren(...Object.keys(catalogue).map((name) => el("option", { value: name, text: name, selected: name === state.device })));
}

function renderSeries() {
  const box = $("series");
  const keys = Object.entries(catalogue[state.device] || {}).sort(([, a], [, b]) => a.name.localeCompare(b.name));
  box.replaceChildren(
    ...keys.map(([key, info]) => {
      const box_ = el("input", { type: "checkbox", value: key, checked: state.keys.includes(key), "data-series": key });
      box_.addEventListener("change", () => {
        state.keys = box_.checked ? [...state.keys, key] : state.keys.filter((k) => k !== key);
        draw();
      });
      return el("label", { title: key }, box_, `${info.name}${info.unit ? ` (${info.unit})` : ""}`);
    }),
  );
}

function renderRange() {
  for (const button of document.querySelectorAll("[data-range]")) {
    button.setAttribute("aria-pressed", String(button.dataset.range === state.range));
  }
  $("custom-range").hidden = state.range !== "custom";
  if (state.range === "custom") {
    const [from, to] = window_();
    $("from").value = localInput(from);
    $("to").value = localInput(to);
  }
}

function chooseDevice(name) {
  state.device = name;
  const available = catalogue[name] || {};
  state.keys = state.keys.filter((key) => key in available);
  if (!state.keys.length) state.keys = DEFAULT_KEYS.filter((key) => key in available).slice(0, 4);
  if (!state.keys.length) state.keys = Object.keys(available).slice(0, 2);
  renderSeries();
}

// -- the chart ------------------------------------------------------------------------------

function themeColor(name, fallback) {
  return getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
}

function makeChart() {
  const text = themeColor("--muted", "#8b9bab");
  const line = LCARS ? "#332211" : themeColor("--line", "#2c3a47");
  Chart.defaults.color = text;
  Chart.defaults.borderColor = line;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  chart = new Chart($("chart"), {
    type: "line",
    data: { datasets: [] },
    options: {
      animation: false,
      parsing: false,
      normalized: true,
      maintainAspectRatio: false,
      interaction: { mode: "nearest", axis: "x", intersect: false },
      elements: { point: { radius: 0, hitRadius: 6 }, line: { borderWidth: 2, tension: 0.15 } },
      plugins: {
        decimation: { enabled: true, algorithm: "lttb", samples: 600 },
        legend: { labels: { boxWidth: 12, usePointStyle: true } },
        tooltip: { callbacks: { title: (items) => (items.length ? new Date(items[0].parsed.x).toLocaleString() : "") } },
      },
      scales: { x: { type: "linear", ticks: { maxRotation: 0, autoSkipPadding: 24 } } },
    },
  });
}

function scalesFor(units, from, to) {
  const span = (to - from) * 1000;
  const scales = {
    x: { type: "linear", min: from * 1000, max: to * 1000, ticks: { maxRotation: 0, autoSkipPadding: 24, callback: (value) => tickLabel(value, span) } },
  };
  units.forEach((unit, index) => {
    scales[`y${index}`] = {
      type: "linear",
      position: index % 2 ? "right" : "left",
      grid: { drawOnChartArea: index === 0 },
      title: { display: Boolean(unit), text: unit },
    };
  });
  return scales;
}

async function draw() {
  writeHash();
  renderRange();
  const status = $("chart-status");
  if (!state.device) {
    status.textContent = "No device.";
    return;
  }
  const [from, to] = window_();
  if (!(to > from)) {
    status.textContent = "The range must end after it starts.";
    return;
  }
  status.textContent = "Loading…";
  let answer;
  try {
    answer = await getJson("api/historical", { device: state.device, from: Math.floor(from), to: Math.ceil(to), keys: state.keys.join(",") });
  } catch (err) {
    status.textContent = `Cannot load the history: ${err.message}`;
    return;
  }
  const info = catalogue[state.device] || {};
  const units = [...new Set(state.keys.map((key) => info[key]?.unit || ""))];
  const points = answer.points || [];
  const datasets = state.keys.map((key, index) => {
    const color = PALETTE[index % PALETTE.length];
    return {
      label: `${info[key]?.name || key}${info[key]?.unit ? ` (${info[key].unit})` : ""}`,
      data: points.filter((p) => typeof p.values?.[key] === "number").map((p) => ({ x: p.time * 1000, y: p.values[key] })),
      borderColor: color,
      backgroundColor: color,
      yAxisID: `y${units.indexOf(info[key]?.unit || "")}`,
    };
  });
  chart.data.datasets = datasets;
  chart.options.scales = scalesFor(units, from, to);
  chart.update();
  draws += 1;
  const canvas = $("chart");
  const count = datasets.reduce((sum, d) => sum + d.data.length, 0);
  // For the page's users (and the browser tests): what the chart now shows.
  canvas.dataset.draws = String(draws);
  canvas.dataset.points = String(count);
  canvas.dataset.range = state.range;
  canvas.dataset.from = String(Math.floor(from));
  canvas.dataset.to = String(Math.ceil(to));
  const sources = (answer.sources || []).join(", ");
  status.textContent = points.length
    ? `${points.length} readings${sources ? ` from ${sources}` : ""}, ${new Date(from * 1000).toLocaleString()} – ${new Date(to * 1000).toLocaleString()}`
    : "No readings in this range.";
  clearTimeout(timer);
  if (state.range !== "custom") timer = setTimeout(draw, REFRESH_SECONDS * 1000);
}

// -- start ----------------------------------------------------------------------------------

async function start() {
  linkTheme();
  readHash();
  makeChart();
  let data;
  try {
    data = await getJson("api/data");
  } catch (err) {
    $("chart-status").textContent = `Cannot load the devices: ${err.message}`;
    return;
  }
  catalogue = {};
  for (const [name, device] of Object.entries(data.devices || {})) {
    catalogue[name] = {};
    for (const [key, value] of Object.entries(device.values || {})) {
      if (typeof value.value === "number") catalogue[name][key] = { name: value.name || key, unit: value.unit || "" };
    }
  }
  if (!(state.device in catalogue)) state.device = Object.keys(catalogue)[0] || null;
  renderDevices();
  if (state.device) chooseDevice(state.device);
  $("device").addEventListener("change", (event) => {
    state.keys = [];
    chooseDevice(event.target.value);
    draw();
  });
  for (const button of document.querySelectorAll("[data-range]")) {
    button.addEventListener("click", () => {
      const range = button.dataset.range;
      if (range === "custom") {
        [state.from, state.to] = window_();
        state.range = "custom";
        renderRange();
        $("from").focus();
        return;
      }
      state.range = range;
      draw();
    });
  }
  $("chart-controls").addEventListener("submit", (event) => {
    event.preventDefault();
    const from = new Date($("from").value).getTime() / 1000;
    const to = new Date($("to").value).getTime() / 1000;
    if (Number.isFinite(from) && Number.isFinite(to)) {
      state.range = "custom";
      state.from = from;
      state.to = to;
    }
    draw();
  });
  draw();
}

start();
