// The dashboard: reads /dashboard/api/report and draws it with Chart.js.
// Customer handles are text, never markup: every value goes in with textContent.
"use strict";

const $ = (id) => document.getElementById(id);
const charts = {};

function percent(value) {
  return value === null || value === undefined ? "–" : (value * 100).toFixed(1) + "%";
}

function seconds(value) {
  if (value === null || value === undefined) return "–";
  if (value < 60) return value + " s";
  if (value < 3600) return (value / 60).toFixed(1) + " min";
  return (value / 3600).toFixed(1) + " h";
}

function setText(id, text) {
  $(id).textContent = text;
}

function draw(id, config) {
  if (charts[id]) charts[id].destroy();
  config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
  charts[id] = new Chart($(id), config);
}

function rows(tbody, lines) {
  tbody.replaceChildren();
  for (const cells of lines) {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      const td = document.createElement("td");
      td.textContent = cell;
      tr.appendChild(td);
    }
    tbody.appendChild(tr);
  }
}

function people(list, found, none) {
  list.replaceChildren();
  for (const person of found.length ? found : [null]) {
    const li = document.createElement("li");
    li.textContent = person ? `${person.handle} (${person.channel}): ${person.messages}` : none;
    list.appendChild(li);
  }
}

function show(data) {
  $("demo-banner").hidden = !data.window.demo;
  $("demo").value = data.window.demo ? "1" : "0";
  setText("conversations", String(data.conversations));
  setText("messages", String(data.messages));
  setText("containment", percent(data.containment.rate));
  setText("handover-rate", percent(data.handovers.rate));
  const times = data.response_times;
  setText("bot-response", seconds(times.bot_first_response.p50));
  setText("agent-response", seconds(times.agent_first_response.p50));
  setText("time-to-resolve", seconds(times.time_to_resolve.p50));
  setText("sla-breaches", String(Object.values(data.sla_breaches).reduce((a, b) => a + b, 0)));
  const satisfaction = data.satisfaction;
  setText("csat", percent(satisfaction.csat));
  setText("csat-response", percent(satisfaction.response_rate));

  const days = data.days.map((d) => d.day);
  const rated = Object.fromEntries(satisfaction.days.map((d) => [d.day, d]));
  draw("chart-days", {
    type: "bar",
    data: { labels: days, datasets: [
      { label: "customer messages", data: data.days.map((d) => d.messages), backgroundColor: "#4e79a7" },
      { label: "handovers", data: data.days.map((d) => d.handovers), backgroundColor: "#e15759" },
    ] },
  });
  draw("chart-quality", {
    type: "line",
    data: { labels: days, datasets: [
      { label: "containment", data: data.days.map((d) => d.containment), borderColor: "#59a14f" },
      { label: "sentiment (positive − negative, per message)", data: data.days.map((d) => d.sentiment), borderColor: "#f28e2b" },
      { label: "satisfied (CSAT)", data: days.map((day) => (rated[day] || {}).csat ?? null), borderColor: "#4e79a7", spanGaps: true },
    ] },
    options: { scales: { y: { min: -1, max: 1 } } },
  });
  const reasons = data.handovers.reasons;
  draw("chart-reasons", {
    type: "bar",
    data: { labels: reasons.map((r) => r.label), datasets: [
      { label: "tickets", data: reasons.map((r) => r.tickets), backgroundColor: "#e15759" },
    ] },
    options: { indexAxis: "y", plugins: { legend: { display: false } } },
  });
  draw("chart-volume", {
    type: "doughnut",
    data: { labels: data.volume.map((v) => `${v.channel} (${v.visibility})`), datasets: [
      { data: data.volume.map((v) => v.messages), backgroundColor: ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948"] },
    ] },
  });
  const channels = satisfaction.channels;
  draw("chart-csat", {
    type: "bar",
    data: { labels: channels.map((c) => c.channel), datasets: [
      { label: "satisfied (CSAT)", data: channels.map((c) => c.csat), backgroundColor: "#59a14f" },
      { label: "response rate", data: channels.map((c) => c.response_rate), backgroundColor: "#bab0ac" },
    ] },
    options: { scales: { y: { min: 0, max: 1 } } },
  });
  rows($("satisfaction").tBodies[0], channels.map((c) => [c.channel, String(c.offered), String(c.rated), percent(c.response_rate), percent(c.csat)]));
  const names = { bot_first_response: "bot first response", agent_first_response: "agent first response", time_to_claim: "time to claim", time_to_resolve: "time to resolve" };
  rows($("times").tBodies[0], Object.entries(times).map(([key, t]) => [names[key], String(t.count), seconds(t.p50), seconds(t.p90)]));
  rows($("intents").tBodies[0], data.intents.map((i) => [i.intent, String(i.turns), percent(i.containment), percent(i.fallback_rate), percent(i.deny_rate)]));
  people($("fans"), data.fans, "nobody in this window");
  people($("complainers"), data.repeat_complainers, "nobody in this window");
  document.body.dataset.loaded = "yes";
}

async function load(first) {
  const query = new URLSearchParams();
  for (const id of ["since", "until", "channel"]) if ($(id).value) query.set(id, $(id).value);
  if (!first) query.set("demo", $("demo").value);
  setText("error", "");
  delete document.body.dataset.loaded;
  const answer = await fetch("/dashboard/api/report?" + query, { headers: { Accept: "application/json" } });
  if (!answer.ok) {
    setText("error", answer.status === 401 ? "Log in first." : await answer.text());
    return;
  }
  const data = await answer.json();
  $("since").value = data.window.since.slice(0, 10);
  $("until").value = data.window.until.slice(0, 10);
  show(data);
}

$("apply").addEventListener("click", () => load(false));
const params = new URLSearchParams(location.search);
for (const id of ["since", "until", "channel"]) if (params.get(id)) $(id).value = params.get(id);
load(true);
