// The supervisor dashboard: reads /v1/kpis and /v1/live with a kpis:read key and refreshes itself.
"use strict";

(function () {
  // The key lives in this tab's sessionStorage only (gone when the tab closes) and goes out
  // only as an Authorization header. A key in the address would sit in history, logs and
  // Referer headers: it is never read from there, only wiped from the address bar.
  const KEY_STORE = "atende.analytics.key";
  const params = new URLSearchParams(window.location.search);
  const refreshSeconds = Math.max(5, Number(params.get("refresh")) || 30);
  const charts = {};

  window.localStorage.removeItem(KEY_STORE); // left there by earlier versions of this page
  if (params.has("key")) {
    params.delete("key");
    const rest = params.toString();
    window.history.replaceState(null, "", window.location.pathname + (rest ? "?" + rest : ""));
  }

  const $ = (selector) => document.querySelector(selector);
  $("#key").value = window.sessionStorage.getItem(KEY_STORE) || "";
  $("#from").value = params.get("from") || "";
  $("#to").value = params.get("to") || "";

  function period() {
    const query = new URLSearchParams();
    if ($("#from").value) query.set("from", $("#from").value);
    if ($("#to").value) query.set("to", $("#to").value);
    return query;
  }

  async function api(path, query) {
    const response = await fetch(path + (query ? "?" + query.toString() : ""), {
      headers: { Authorization: "Bearer " + (window.sessionStorage.getItem(KEY_STORE) || "") },
    });
    const body = await response.json();
    if (!response.ok) {
      throw new Error(body.detail || body.title || response.statusText);
    }
    return body;
  }

  function kpis(groupBy) {
    const query = period();
    if (groupBy) query.set("group_by", groupBy);
    return api("/v1/kpis", query);
  }

  function show(value, digits) {
    if (value === null || value === undefined) return "–";
    return Number.isInteger(value) ? String(value) : Number(value).toFixed(digits);
  }

  function percent(value) {
    return value === null || value === undefined ? "–" : (100 * value).toFixed(1) + "%";
  }

  function fillRows(table, rows) {
    const body = $(table + " tbody");
    body.replaceChildren(
      ...rows.map((cells) => {
        const tr = document.createElement("tr");
        for (const cell of cells) {
          const td = document.createElement("td");
          td.textContent = cell;
          tr.appendChild(td);
        }
        return tr;
      })
    );
  }

  function draw(id, type, labels, label, data) {
    const config = {
      type: type,
      data: { labels: labels, datasets: [{ label: label, data: data }] },
      options: { animation: false, responsive: true, plugins: { legend: { display: type === "doughnut" } } },
    };
    if (charts[id]) {
      charts[id].data = config.data;
      charts[id].update();
    } else {
      charts[id] = new window.Chart(document.getElementById(id), config);
    }
  }

  function headline(report) {
    const group = report.groups[0];
    const k = group ? group.kpis : {};
    const values = {
      nps: show(k.nps, 1),
      csat_mean: show(k.csat_mean, 2),
      volume: show(k.volume, 0),
      fcr_rate: percent(k.fcr_rate),
      aht_seconds: show(k.aht_seconds, 0),
      asa_seconds: show(k.asa_seconds, 0),
      service_level: percent(k.service_level),
      sla_regulatory_met_rate: percent(k.sla ? k.sla.regulatory.met_rate : null),
      resolved_within_2_business_days_rate: percent(k.resolved_within_2_business_days_rate),
    };
    for (const [name, text] of Object.entries(values)) {
      $('[data-kpi="' + name + '"]').textContent = text;
    }
    const drivers = k.top_detractor_drivers || [];
    draw("drivers", "bar", drivers.map((d) => d.theme), "Detractors naming it", drivers.map((d) => d.count));
  }

  function live(board) {
    fillRows("#queues", board.queues.map((q) => [q.queue || "–", q.depth, show(q.oldest_wait_seconds, 0)]));
    const agents = Object.entries(board.agents).map(([status, n]) => status + ": " + n);
    $("#agents").textContent = agents.length ? agents.join(" · ") : "no agents seen";
    $("#at-risk-count").textContent =
      String(board.clocks_at_risk) + (board.clocks_past_due ? " (" + board.clocks_past_due + " past due)" : "");
    fillRows(
      "#at-risk",
      board.clocks.map((c) => [c.protocol || c.interaction_id, c.queue || "–", c.kind, c.due_at.slice(0, 16).replace("T", " "), show(c.seconds_left, 0)])
    );
  }

  function byGroup(report, group, kpi) {
    const rows = report.groups.filter((g) => g.kpis[kpi] !== null);
    return [rows.map((g) => g.key[group] || "unknown"), rows.map((g) => g.kpis[kpi])];
  }

  async function refresh() {
    if (!window.sessionStorage.getItem(KEY_STORE)) {
      $("#status").textContent = "Give an API key with the kpis:read scope.";
      return;
    }
    try {
      const [all, days, channels, parties, board] = await Promise.all([
        kpis(""),
        kpis("day"),
        kpis("channel"),
        kpis("party_kind"),
        api("/v1/live"),
      ]);
      headline(all);
      live(board);
      const [dayLabels, npsByDay] = byGroup(days, "day", "nps");
      draw("nps-trend", "line", dayLabels, "NPS", npsByDay);
      const [channelLabels, volumeByChannel] = byGroup(channels, "channel", "volume");
      draw("by-channel", "bar", channelLabels, "Interactions", volumeByChannel);
      const [partyLabels, volumeByParty] = byGroup(parties, "party_kind", "volume");
      draw("by-party", "doughnut", partyLabels, "Interactions", volumeByParty);
      $("#status").textContent = "Updated " + new Date().toLocaleTimeString() + " · " + all.from + " to " + all.to + " · refreshes every " + refreshSeconds + " s";
    } catch (error) {
      $("#status").textContent = "Cannot read the KPIs: " + error.message;
    }
  }

  $("#key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    window.sessionStorage.setItem(KEY_STORE, $("#key").value.trim());
    refresh();
  });

  refresh();
  window.setInterval(refresh, refreshSeconds * 1000);
})();
