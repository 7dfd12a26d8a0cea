// @ts-check
/** The dashboard's page; its script is /dashboard/client.js. No framework, no build step. */
export const dashboardPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>poolvisor</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/dashboard/uplot.css">
<style>
  :root { --fg: #1d2433; --muted: #6b7385; --line: #d8dce6; --bg: #f6f7fa; --busy: #2f6fde; --idle: #1f9d55; --monitoring: #d98b00; --killed: #d33a2c; --restarting: #7b55d6; --stopped: #8a8f99; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
  header { display: flex; gap: 24px; align-items: baseline; padding: 12px 20px; background: #fff; border-bottom: 1px solid var(--line); }
  header h1 { font-size: 18px; margin: 0; }
  .kpi { color: var(--muted); } .kpi b { color: var(--fg); font-size: 16px; }
  main { display: grid; grid-template-columns: minmax(0, 2fr) minmax(320px, 1fr); gap: 16px; padding: 16px 20px; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px; margin-bottom: 16px; }
  h2 { font-size: 14px; margin: 0 0 8px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
  .workers { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(560px, 100%), 1fr)); gap: 12px; }
  .worker { border: 1px solid var(--line); border-radius: 6px; padding: 8px; min-width: 0; }
  .worker .head { display: flex; justify-content: space-between; font-weight: 600; }
  /* Many workers: a compact row each (its state, its line, its timeline); a click on its head opens the rest. */
  .workers.compact { grid-template-columns: 1fr; gap: 4px; }
  .workers.compact .worker { padding: 4px 8px; }
  .workers.compact .worker .head { cursor: pointer; }
  .workers.compact .worker:not(.expanded) [data-role="chart"], .workers.compact .worker:not(.expanded) [data-role="memory"] { display: none; }
  @media (max-width: 900px) {
    main { grid-template-columns: minmax(0, 1fr); padding: 8px; }
    header { flex-wrap: wrap; gap: 8px 16px; }
    .tasks-wrap { overflow-x: auto; }
  }
  .badge { padding: 1px 8px; border-radius: 10px; color: #fff; background: var(--stopped); font-size: 12px; }
  .badge.idle { background: var(--idle); } .badge.busy { background: var(--busy); } .badge.monitoring { background: var(--monitoring); }
  .badge.killed { background: var(--killed); } .badge.restarting { background: var(--restarting); }
  svg text { font: 11px system-ui, sans-serif; fill: var(--fg); }
  svg .state rect { fill: #fff; stroke: #aab1c2; } svg .state.compound > rect { fill: #f4f6fb; stroke-dasharray: 3 2; }
  svg .state.active > rect { fill: #ffe9a8; stroke: #d98b00; stroke-width: 2; }
  svg .edge { stroke: #9aa3b5; stroke-width: 1; fill: none; }
  svg .edge-label { font-size: 10px; fill: #5b6375; }
  svg .edge-group:hover .edge { stroke: var(--fg); stroke-width: 1.5; } svg .edge-group:hover .edge-label { fill: var(--fg); }
  svg .edge-group.taken .edge { stroke: #d98b00; stroke-width: 2; } svg .edge-group.taken .edge-label { fill: #b06f00; font-weight: 600; }
  .meta { color: var(--muted); font-size: 12px; }
  svg.timeline { display: block; margin: 4px 0; background: #fafbfd; }
  svg.timeline .seg.idle { fill: var(--idle); } svg.timeline .seg.busy { fill: var(--busy); } svg.timeline .seg.monitoring { fill: var(--monitoring); }
  svg.timeline .seg.killed { fill: var(--killed); } svg.timeline .seg.restarting { fill: var(--restarting); }
  svg.timeline .seg.stopping, svg.timeline .seg.stopped { fill: var(--stopped); }
  svg.timeline text.axis { font-size: 8px; fill: var(--muted); }
  .token-dialog { position: fixed; inset: 0; background: rgba(29, 36, 51, .35); display: flex; align-items: center; justify-content: center; z-index: 10; }
  .token-dialog[hidden] { display: none; }
  .token-dialog form { background: #fff; border-radius: 8px; padding: 16px 20px; width: min(420px, 92vw); }
  .memory-chart .u-legend { font-size: 11px; text-align: left; } .memory-chart .u-legend th { font-weight: 500; }
  .log { max-height: 420px; overflow: auto; font: 12px/1.35 ui-monospace, monospace; }
  .log div { border-bottom: 1px solid #eef0f4; padding: 3px 0; } .log .kill { color: var(--killed); }
  form { display: grid; gap: 6px; } input, select, textarea, button { font: inherit; padding: 4px 6px; }
  textarea { min-height: 90px; font-family: ui-monospace, monospace; font-size: 12px; }
  .samples button { margin: 0 4px 4px 0; }
  .hosts { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 12px; }
  .host { border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
  .host .head { display: flex; justify-content: space-between; font-weight: 600; gap: 8px; word-break: break-all; }
  .host .workers-list { display: flex; flex-wrap: wrap; gap: 4px; margin-top: 6px; }
  table.queues { border-collapse: collapse; } table.queues td, table.queues th { padding: 2px 10px; text-align: right; border-bottom: 1px solid #eef0f4; }
  table.queues th:first-child, table.queues td:first-child { text-align: left; }
  .tasks-wrap { max-height: 360px; overflow: auto; }
  table.tasks { width: 100%; border-collapse: collapse; font-size: 12px; }
  table.tasks th, table.tasks td { padding: 2px 6px; text-align: left; border-bottom: 1px solid #eef0f4; white-space: nowrap; }
  table.tasks tbody tr { cursor: pointer; } table.tasks tr.selected { background: #fff6d6; }
  table.tasks td.badge-cell.succeeded { color: var(--idle); } table.tasks td.badge-cell.failed { color: var(--killed); }
  table.tasks td.badge-cell.running { color: var(--busy); } table.tasks td.badge-cell.cancelled { color: var(--stopped); }
  table.tasks progress { width: 70px; height: 10px; vertical-align: middle; } table.tasks button { padding: 0 6px; font-size: 11px; }
  pre.detail { max-height: 280px; overflow: auto; font-size: 11px; background: var(--bg); padding: 6px; margin: 6px 0 0; white-space: pre-wrap; word-break: break-word; }
</style>
</head>
<body>
<div id="token-dialog" class="token-dialog" hidden>
  <form id="token-form">
    <h2>Token</h2>
    <p class="meta" id="token-why"></p>
    <label>token <input id="token-input" type="password" autocomplete="off" required minlength="1"></label>
    <button type="submit" id="token-submit">Open the dashboard</button>
    <p class="meta">Kept for this tab only (sessionStorage), sent as <code>Authorization: Bearer …</code>.</p>
  </form>
</div>
<header>
  <h1>poolvisor</h1>
  <span class="kpi">pool <b id="pool-state">…</b></span>
  <span class="kpi">queued <b id="queue-depth">0</b></span>
  <span class="kpi">running <b id="running">0</b></span>
  <span class="kpi">throughput <b id="throughput">0</b> tasks/s</span>
  <span class="kpi">succeeded <b id="succeeded">0</b> · failed <b id="failed">0</b> · killed <b id="killed">0</b></span>
</header>
<main>
  <div>
    <section id="hosts-section" hidden><h2>Hosts</h2><div class="hosts" id="hosts"></div></section>
    <section id="queues-section" hidden><h2>Queues</h2><table class="queues" id="queues"></table></section>
    <section id="workers-section"><h2>Workers</h2><div class="workers" id="workers"></div></section>
    <section id="tasks-section"><h2>Tasks</h2>
      <div class="tasks-wrap"><table class="tasks"><thead><tr><th>id</th><th>task</th><th>worker</th><th>state</th><th>time</th><th>outcome</th><th></th></tr></thead><tbody id="tasks"></tbody></table></div>
      <pre class="detail" id="task-detail">click a task for its payload, result or error with its evidence</pre>
    </section>
    <section id="supervisor-section"><h2>Supervisor</h2><div id="supervisor"></div></section>
  </div>
  <div>
    <section>
      <h2>Submit a task</h2>
      <div class="samples" id="samples"></div>
      <form id="submit">
        <label>task <select id="task-name" name="task"></select></label>
        <label>payload (JSON) <textarea id="payload" name="payload">null</textarea></label>
        <label>timeout (ms) <input id="timeout" name="timeoutMs" type="number" min="1" placeholder="pool default"></label>
        <label>memory limit (MB) <input id="memory" name="memoryLimitMb" type="number" min="1" placeholder="pool default"></label>
        <button type="submit" id="submit-button">Submit</button>
        <div class="meta" id="submit-result"></div>
      </form>
    </section>
    <section><h2>Audit trail</h2><div class="log" id="audit"></div></section>
  </div>
</main>
<script src="/dashboard/uplot.js"></script>
<script type="module" src="/dashboard/client.js"></script>
</body>
</html>
`;

/** The page's icon, so a browser's request for one is answered (a state box, the colour of a busy worker). */
export const dashboardIcon = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect x="3" y="6" width="26" height="20" rx="5" fill="#2f6fde"/><circle cx="11" cy="16" r="3" fill="#fff"/><circle cx="21" cy="16" r="3" fill="#ffe9a8"/></svg>`;
