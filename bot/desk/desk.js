// The agents' web desk (bot/desk/web.py): polls the queue and the open ticket
// every 2 s; every change is a POST with the session's CSRF token. Text from
// customers is only ever set as textContent, never parsed as HTML.
"use strict";
(() => {
  const POLL_MS = 2000;
  const WHO = { customer: "Customer:", bot: "Bot:", agent: "Agent:", system: "System:" };
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const $ = (id) => document.getElementById(id);
  let current = null; // the open ticket's id
  let shown = ""; // what the conversation log shows, to redraw only on change
  let relabelFor = null;
  let replyKey = newKey(); // kept until the reply is sent: a retried reply goes out once

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function newKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function api(path, body) {
    const options = body === undefined ? {} : {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    };
    const response = await fetch(`/desk/api/${path}`, { credentials: "same-origin", ...options });
    if (response.status === 401) {
      window.location.assign(`/desk/login?next=${encodeURIComponent("/desk")}`);
      throw new Error("logged out");
    }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || `the desk answered ${response.status}`);
    return data;
  }

  function say(text, error) {
    $("status").textContent = text;
    $("status").className = error ? "error" : "";
  }

  async function act(operation, body) {
    try {
      const done = await api(`tickets/${current}/${operation}`, body || {});
      say(done.message, false);
      refresh();
      return true;
    } catch (error) {
      say(error.message, true);
      return false;
    }
  }

  function drawQueue(data) {
    const list = $("tickets");
    list.replaceChildren();
    $("count").textContent = `(${data.tickets.length})`;
    document.title = data.tickets.length ? `(${data.tickets.length}) Care desk` : "Care desk";
    $("empty").hidden = data.tickets.length > 0;
    for (const t of data.tickets) {
      const button = el("button");
      button.type = "button";
      button.dataset.ticket = t.id;
      button.setAttribute("aria-current", String(t.id === current));
      button.append(el("strong", `#${t.id} ${t.reason}`, t.priority));
      // t.state: the same words as the ticket's header ("claimed by @alice").
      // The wait as the card says it: a claimed ticket's "N min" alone would read as its age.
      button.append(el("div", `${t.priority} · ${t.channel} · ${t.customer} · ${t.wait} · ${t.state}`, "meta"));
      if (t.last) button.append(el("div", t.last.slice(0, 120), "meta"));
      button.addEventListener("click", () => open(t.id));
      const item = el("li");
      item.append(button);
      list.append(item);
    }
  }

  function drawCard(data) {
    const t = data.ticket;
    $("none").hidden = true;
    $("card").hidden = false;
    $("title").textContent = `#${t.id} ${t.reason}`;
    $("who").textContent = `${t.customer} · ${t.channel} (${t.visibility}) · ${t.priority} · ` +
      `${t.wait} · ${t.state}` + (t.error ? ` · ${t.error}` : "");
    const priority = $("priority");
    if (!priority.options.length) {
      for (const p of t.priorities) priority.append(new Option(p, p));
    }
    if (document.activeElement !== priority) priority.value = t.priority;
    // Only what the desk accepts in the ticket's state, for this agent (t.actions):
    // a closed ticket offers none, a colleague's claimed ticket only its priority.
    for (const operation of ["claim", "resolve", "hand_back"]) {
      $(operation).hidden = !t.actions.includes(operation);
    }
    priority.disabled = !t.actions.includes("priority");
    $("reply-form").hidden = !t.actions.includes("reply");  // it would not be sent
    const understood = $("understood");
    understood.replaceChildren();
    if (t.request.length > 1) understood.append(el("li", `Two requests in one: ${t.request.join(" + ")}`));
    for (const u of t.understood) {
      const sure = typeof u.confidence === "number" ? `${Math.round(u.confidence * 100)}%` : "?";
      understood.append(el("li", `${u.intent} ${sure}: “${u.text.slice(0, 120)}”`));
    }
    if (!t.understood.length) understood.append(el("li", "The bot did not get to understand anything."));
    const slots = $("slots");
    slots.replaceChildren();
    for (const [name, value] of Object.entries(t.slots)) {
      slots.append(el("dt", name), el("dd", String(value)));
    }
    if (!Object.keys(t.slots).length) slots.append(el("dd", "none"));
    const earlier = $("earlier");
    earlier.replaceChildren();
    for (const e of t.earlier) earlier.append(el("li", `#${e.id} ${e.reason} (${e.status})`));
    if (!t.earlier.length) earlier.append(el("li", "none"));
    drawLog(data);
  }

  function drawLog(data) {
    const entries = [
      ...data.conversation.map((m) => ({
        at: m.at, cls: m.author, who: m.agent ? `Agent (${m.agent_name}):` : WHO[m.author] || `${m.author}:`,
        text: m.text,
      })),
      ...data.activity.map((a) => ({
        at: a.at, cls: "activity", who: "Desk:", text: `${a.who} ${a.action}${a.text ? ": " + a.text : ""}`,
      })),
    ].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    const signature = JSON.stringify(entries);
    if (signature === shown) return;
    shown = signature;
    const log = $("log");
    const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.replaceChildren(...entries.map((e) => {
      const line = el("p", undefined, e.cls);
      line.append(el("span", e.who, "who"), document.createTextNode(e.text));
      return line;
    }));
    if (atEnd) log.scrollTop = log.scrollHeight;
  }

  async function loadRelabel() {
    const data = await api(`tickets/${current}/relabel`);
    const messages = $("relabel-message");
    const intents = $("relabel-intent");
    messages.replaceChildren(...data.messages.map((m) => new Option(m.label, m.id)));
    intents.replaceChildren(...data.intents.map((i) => new Option(i, i)));
    relabelFor = current;
  }

  async function refresh() {
    try {
      drawQueue(await api("queue"));
      if (current !== null) {
        drawCard(await api(`tickets/${current}`));
        if (relabelFor !== current) await loadRelabel();
      }
    } catch (error) {
      if (error.message !== "logged out") say(error.message, true);
    }
  }

  async function open(id) {
    current = id;
    shown = "";
    say("", false);
    await refresh();
  }

  async function poll() {
    await refresh();
    setTimeout(poll, POLL_MS);
  }

  for (const operation of ["claim", "resolve", "hand_back"]) {
    $(operation).addEventListener("click", () => act(operation));
  }
  $("priority").addEventListener("change", (e) => act("priority", { priority: e.target.value }));
  $("reply-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = $("reply").value.trim();
    if (text && (await act("reply", { text, key: replyKey }))) {
      $("reply").value = "";
      replyKey = newKey();
    }
  });
  $("note-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = $("note").value.trim();
    if (text && (await act("note", { text }))) $("note").value = "";
  });
  $("relabel-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const message = Number($("relabel-message").value);
    if (message) await act("relabel", { message_id: message, intent: $("relabel-intent").value });
  });
  poll();
})();
