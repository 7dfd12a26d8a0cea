// @ts-nocheck -- browser code (DOM), checked by the browser test rather than tsc's Node settings.
/**
 * The dashboard: statecharts laid out from /v1/machines, each worker's state and
 * timeline live from /v1/events, memory charts against the limits, the tasks, the
 * audit trail. The token (if the server wants one) is asked for once and kept for the
 * tab (sessionStorage), or comes from the page's #token=…, which never lands in a URL
 * the server logs and is taken off the address bar at once.
 */
const TOKEN_KEY = 'poolvisor.token';
const tokenFromLink = new URLSearchParams(location.hash.slice(1)).get('token');
if (tokenFromLink) {
  sessionStorage.setItem(TOKEN_KEY, tokenFromLink);
  history.replaceState(null, '', location.pathname + location.search);
}
const token = sessionStorage.getItem(TOKEN_KEY);
const headers = token ? { authorization: `Bearer ${token}` } : {};

/** The server refused the token (or wants one): ask once; the page starts again with it. */
function askForToken() {
  const dialog = $('token-dialog');
  if (!dialog.hidden) return;
  $('token-why').textContent = token ? 'The server refused the token this tab has.' : 'This server wants a token.';
  dialog.hidden = false;
  $('token-input').focus();
  $('token-form').onsubmit = (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token-input').value.trim());
    location.reload();
  };
}

/** `fetch` with the token; a 401 asks for one. */
async function api(url, init = {}) {
  const response = await fetch(url, { ...init, headers: { ...headers, ...(init.headers ?? {}) } });
  if (response.status === 401) askForToken();
  return response;
}
const $ = (id) => document.getElementById(id);
const svgNS = 'http://www.w3.org/2000/svg';
const el = (name, attrs = {}, parent) => {
  const node = document.createElementNS(svgNS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  parent?.appendChild(node);
  return node;
};
const mib = (b) => `${Math.round(b / 1048576)} MiB`;

/**
 * Draws a machine from the layout the server computed with ELK (`/v1/machines`): compound
 * states as boxes around their children, each arrow routed around them with its event as its
 * label (hover it for every transition and guard). Returns `highlight(path, previousPath)`:
 * the active state, and the arrow of the transition just taken.
 */
function drawMachine(graph, container) {
  const { layout } = graph;
  const pad = 4;
  const svg = el('svg', {
    viewBox: `${-pad} ${-pad} ${layout.width + 2 * pad} ${layout.height + 2 * pad}`,
    width: layout.width + 2 * pad,
    style: 'max-width: 100%; height: auto',
    role: 'img',
    'aria-label': `${graph.id} statechart`,
    'data-layout': 'elk',
  });
  const defs = el('defs', {}, svg);
  for (const [id, color] of [[`arrow-${graph.id}`, '#9aa3b5'], [`arrow-taken-${graph.id}`, '#d98b00']]) {
    const marker = el('marker', { id, viewBox: '0 0 8 8', refX: 8, refY: 4, markerWidth: 6, markerHeight: 6, orient: 'auto-start-reverse' }, defs);
    el('path', { d: 'M0,0 L8,4 L0,8 z', fill: color }, marker);
  }
  const types = new Map(graph.states.map((state) => [state.path, state]));
  const groups = new Map();
  // Outer boxes first, so that children are drawn over their parent.
  const boxes = [...layout.states].sort((a, b) => a.path.split('.').length - b.path.split('.').length);
  for (const box of boxes) {
    const state = types.get(box.path);
    const compound = state?.type === 'compound';
    const g = el('g', { class: `state ${compound ? 'compound' : ''}`, 'data-path': box.path }, svg);
    el('rect', { x: box.x, y: box.y, width: box.width, height: box.height, rx: 6 }, g);
    const text = el('text', compound ? { x: box.x + 6, y: box.y + 14 } : { x: box.x + box.width / 2, y: box.y + box.height / 2 + 4, 'text-anchor': 'middle' }, g);
    text.textContent = state?.key ?? box.path;
    groups.set(box.path, g);
  }
  const edges = [];
  for (const edge of layout.edges) {
    if (edge.points.length < 2) continue;
    const g = el('g', { class: 'edge-group', 'data-source': edge.source, 'data-target': edge.target, 'data-events': edge.events.join(' ') }, svg);
    const d = edge.points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${x},${y}`).join(' ');
    el('path', { class: 'edge', d, 'marker-end': `url(#arrow-${graph.id})` }, g);
    if (edge.label) {
      const label = el('text', { class: 'edge-label', x: edge.label.x, y: edge.label.y + edge.label.height - 3 }, g);
      label.textContent = edge.label.text;
    }
    el('title', {}, g).textContent = `${edge.source} → ${edge.target}\n${edge.transitions.join('\n')}`;
    edges.push({ edge, g });
  }
  container.replaceChildren(svg);
  const within = (path, ancestor) => path === ancestor || path.startsWith(`${ancestor}.`);
  return (activePath, previousPath) => {
    for (const [path, g] of groups) g.classList.toggle('active', within(activePath, path));
    if (previousPath === undefined || previousPath === activePath) return;
    // The arrow of the step just taken: from a state the machine was in, to one it is in now,
    // the most specific of those (a transition of a parent state covers its children).
    let taken;
    for (const candidate of edges) {
      if (!within(previousPath, candidate.edge.source) || !within(activePath, candidate.edge.target)) continue;
      const depth = candidate.edge.source.length + candidate.edge.target.length;
      if (taken === undefined || depth > taken.depth) taken = { ...candidate, depth };
    }
    for (const { edge, g } of edges) {
      const isTaken = taken !== undefined && taken.edge === edge;
      g.classList.toggle('taken', isTaken);
      g.querySelector('path').setAttribute('marker-end', `url(#${isTaken ? 'arrow-taken' : 'arrow'}-${graph.id})`);
    }
  };
}

const MiB = 1048576;
const CHART_SECONDS = 120;

/**
 * A worker's memory over the last two minutes: its RSS (one point per status, every second),
 * its GPU memory on a GPU worker, the samples the pool took of a task it killed for memory (the
 * evidence, every 100 ms or faster), and the limits as labelled lines — the hard limit (a kill),
 * the soft one (sampled faster above it), the GPU limit. Drawn by uPlot, axes and legend its own.
 */
function drawMemory(entry, worker) {
  entry.gpu ||= worker.gpuBytes !== undefined || worker.device.startsWith('cuda:');
  const now = Date.now() / 1000;
  entry.memory.push({ t: now, rss: worker.rssBytes / MiB, gpu: worker.gpuBytes === undefined ? null : worker.gpuBytes / MiB, sample: null });
  redrawMemory(entry, now);
}

/** A memory kill's evidence joins the chart: the task's own samples up to the kill. */
function noteKillSamples(entry, termination) {
  if (termination?.reason !== 'memory' || !Array.isArray(termination.samples)) return;
  for (const sample of termination.samples) entry.memory.push({ t: sample.atMs / 1000, rss: null, gpu: null, sample: sample.rssBytes / MiB });
  entry.memory.push({ t: Date.now() / 1000, rss: null, gpu: null, sample: termination.usedBytes / MiB });
  redrawMemory(entry, Date.now() / 1000);
}

function redrawMemory(entry, now) {
  entry.memory.sort((a, b) => a.t - b.t);
  while (entry.memory.length > 0 && entry.memory[0].t < now - CHART_SECONDS) entry.memory.shift();
  const hard = limits.memoryLimitBytes / MiB;
  const soft = hard * limits.softMemoryRatio;
  const gpuLimit = limits.gpuMemoryLimitBytes ? limits.gpuMemoryLimitBytes / MiB : null;
  const points = entry.memory;
  const data = [points.map((p) => p.t), points.map((p) => p.rss), points.map((p) => p.sample), points.map(() => hard), points.map(() => soft)];
  if (entry.gpu) data.push(points.map((p) => p.gpu), points.map(() => gpuLimit));
  const container = entry.card.querySelector('[data-role="memory"]');
  if (entry.chart === undefined) {
    const line = (label, stroke, dash) => ({ label, stroke, dash, width: dash ? 1 : 1.5, spanGaps: true, points: { show: false }, value: (_u, v) => (v == null ? '–' : `${Math.round(v)} MiB`) });
    const series = [
      {},
      line('RSS', '#2f6fde'),
      // Points only: the samples of the task a memory kill ended.
      { label: 'samples before a memory kill', stroke: '#d33a2c', paths: () => null, points: { show: true, size: 5, fill: '#d33a2c' }, value: (_u, v) => (v == null ? '–' : `${Math.round(v)} MiB`) },
      line(`hard limit ${Math.round(hard)} MiB`, '#d33a2c', [6, 4]),
      line(`soft limit ${Math.round(soft)} MiB`, '#d98b00', [2, 4]),
    ];
    if (entry.gpu) series.push(line('GPU', '#7b55d6'), line(gpuLimit === null ? 'GPU limit: none' : `GPU limit ${Math.round(gpuLimit)} MiB`, '#7b55d6', [6, 4]));
    container.className = 'memory-chart';
    container.dataset.hardLimitMib = String(Math.round(hard));
    entry.chart = new uPlot(
      {
        width: Math.max(240, container.clientWidth || 540),
        height: 130,
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(max ?? 0, hard) * 1.08] } },
        axes: [{ size: 30 }, { label: 'MiB', size: 56 }],
        legend: { live: false },
        series,
      },
      data,
      container,
    );
  } else {
    entry.chart.setData(data);
  }
  container.dataset.killSamples = String(points.filter((p) => p.sample !== null).length);
}

window.addEventListener('resize', () => {
  for (const entry of workers.values()) {
    const container = entry.card.querySelector('[data-role="memory"]');
    entry.chart?.setSize({ width: Math.max(240, container.clientWidth || 540), height: 130 });
  }
});

const workers = new Map();
/** More workers than this and the cards collapse to a row each. */
const COMPACT_AFTER = 4;
let machines;
let limits = { memoryLimitBytes: 1, softMemoryRatio: 0.8 };

function workerCard(id) {
  if (workers.has(id)) return workers.get(id);
  const card = document.createElement('div');
  card.className = 'worker';
  card.dataset.worker = id;
  card.dataset.history = '';
  card.innerHTML = `<div class="head"><span>${id}</span><span class="badge" data-role="state">…</span></div>
    <div class="meta" data-role="meta"></div><div data-role="timeline"></div><div data-role="chart"></div><div data-role="memory"></div>`;
  $('workers').appendChild(card);
  // Past a few workers, each is a compact row until its head is clicked.
  $('workers').classList.toggle('compact', workers.size + 1 > COMPACT_AFTER);
  card.querySelector('.head').addEventListener('click', () => {
    if (!$('workers').classList.contains('compact')) return;
    card.classList.toggle('expanded');
    const entry = workers.get(id);
    const container = card.querySelector('[data-role="memory"]');
    entry?.chart?.setSize({ width: Math.max(240, container.clientWidth || 540), height: 130 });
  });
  const highlight = drawMachine(machines.worker, card.querySelector('[data-role="chart"]'));
  const entry = { card, highlight, memory: [], chart: undefined, gpu: false, state: undefined, segments: [], pendingTasks: [], pendingKill: undefined };
  workers.set(id, entry);
  return entry;
}

function setWorkerState(id, state, path, at = Date.now()) {
  const entry = workerCard(id);
  entry.highlight(path, entry.path);
  entry.path = path;
  recordSegment(entry, state, at);
  const badge = entry.card.querySelector('[data-role="state"]');
  badge.textContent = state;
  badge.className = `badge ${state}`;
  entry.card.dataset.state = state;
  if (entry.state !== state) {
    entry.card.dataset.history = entry.card.dataset.history ? `${entry.card.dataset.history},${state}` : state;
    entry.state = state;
  }
}

let previous;
function onStatus(status) {
  limits = status.limits ?? limits;
  $('pool-state').textContent = status.degraded ? `degraded: ${status.degraded.reason}` : status.state;
  $('queue-depth').textContent = status.queued;
  $('running').textContent = status.running;
  $('succeeded').textContent = status.counts.succeeded;
  $('failed').textContent = status.counts.failed;
  $('killed').textContent = status.counts.killed;
  if (previous) {
    const settled = status.counts.succeeded + status.counts.failed - previous.counts.succeeded - previous.counts.failed;
    $('throughput').textContent = (settled / Math.max(0.001, (status.at - previous.at) / 1000)).toFixed(1);
  }
  previous = status;
  for (const w of status.workers) {
    const entry = workerCard(w.id);
    if (entry.state === undefined) setWorkerState(w.id, w.state, w.state);
    entry.card.querySelector('[data-role="meta"]').textContent =
      `${w.device} · pid ${w.pid ?? '–'} · ${mib(w.rssBytes)} of ${mib(limits.memoryLimitBytes)} · restarts ${w.restarts}${w.taskId ? ` · task ${w.taskId}` : ''}`;
    drawMemory(entry, w);
  }
  const select = $('task-name');
  if (select.options.length === 0 && status.tasks?.length) {
    for (const name of status.tasks) select.append(new Option(name, name));
    renderScenarios(status.tasks);
  }
}

function describeAudit(e) {
  switch (e.type) {
    case 'worker.killed': {
      return [`${e.workerId} killed (pid ${e.pid}): ${whyKilled(e.termination)}${e.taskId ? `, task ${e.taskId}` : ''}`, 'kill'];
    }
    case 'task.failed':
      // A cluster's task.failed carries the pool error as data (`error`); a pool's, its failure.
      return [`task ${e.taskId} failed: ${errorCodeOf(e)}`, 'kill'];
    case 'task.succeeded':
      return [e.workerId === undefined ? `task ${e.taskId} succeeded` : `task ${e.taskId} succeeded on ${e.workerId} in ${Math.round(e.durationMs)} ms`, ''];
    case 'task.stalled':
      return [`task ${e.taskId} stalled: its host stopped renewing its lock`, 'kill'];
    case 'worker.restart-scheduled':
      return [`${e.workerId} restart in ${e.delayMs} ms${e.counted ? ` (its own failure, ${e.failuresInWindow} in window)` : e.taskId ? ` (charged to task ${e.taskId})` : ''}`, ''];
    case 'task.quarantined':
      return [`input of ${e.name} quarantined after ${e.failures.length} failures (task ${e.taskId})`, 'kill'];
    case 'pool.probe-failed':
      return [`probe on ${e.workerId} failed; next in ${Math.round(e.nextProbeInMs / 1000)} s`, 'kill'];
    case 'pool.recovered':
      return [`pool recovered after ${Math.round(e.degradedForMs / 1000)} s degraded`, ''];
    case 'lease.expired':
      return [`lease ${e.leaseId} expired after ${e.timeoutMs} ms; ${e.workerId} ended`, 'kill'];
    case 'memory.warning':
      return [`${e.workerId} over the soft threshold: ${mib(e.usedBytes)} of ${mib(e.limitBytes)} ${e.resource}`, 'kill'];
    default:
      return [`${e.type}${e.workerId ? ` ${e.workerId}` : ''}${e.taskId ? ` task ${e.taskId}` : ''}`, ''];
  }
}

function onAudit(event) {
  if (event.type.startsWith('task.')) onTaskEvent(event);
  if (event.type === 'worker.killed') noteKill(event);
  // A task's submission, start and progress feed the table only: under load they would push the kills out of the trail.
  if (event.type === 'task.submitted' || event.type === 'task.started' || event.type === 'task.progress') return;
  const [text, cls] = describeAudit(event);
  const line = document.createElement('div');
  line.className = cls;
  line.dataset.type = event.type;
  line.textContent = `${new Date(event.at).toISOString().slice(11, 23)}  ${text}`;
  line.title = JSON.stringify(event, null, 1);
  const log = $('audit');
  log.prepend(line);
  while (log.childElementCount > 300) log.lastElementChild.remove();
}

let superHighlight;
let superPath = 'running';
function onState(event) {
  if (event.actor === 'supervisor') {
    superHighlight?.(event.path, superPath);
    superPath = event.path;
  }
  else setWorkerState(event.actor, event.state, event.path, event.at);
}

// ── timelines: each worker's states over the last minutes, with the tasks it ran ──────────

const TIMELINE_MS = 5 * 60_000;

/** A state change opens a segment; a task started on the worker, or its kill, is attached to the segment it belongs to. */
function recordSegment(entry, state, at) {
  const segments = entry.segments;
  const last = segments.at(-1);
  if (last?.state === state) return;
  if (last) last.to = at;
  const segment = { state, from: at, to: undefined, tasks: [], kill: undefined };
  if (state === 'busy' || state === 'monitoring') {
    // A task keeps its worker busy across busy ⇄ monitoring: the segment inherits it.
    if ((last?.state === 'busy' || last?.state === 'monitoring') && last.tasks.length > 0) segment.tasks.push(last.tasks.at(-1));
    segment.tasks.push(...entry.pendingTasks);
    entry.pendingTasks = [];
  }
  if (state === 'killed' && entry.pendingKill) {
    segment.kill = entry.pendingKill;
    entry.pendingKill = undefined;
  }
  segments.push(segment);
  const horizon = Date.now() - TIMELINE_MS;
  while (segments.length > 1 && segments[0].to !== undefined && segments[0].to < horizon) segments.shift();
  scheduleTimelines();
}

function noteTaskOnWorker(workerId, taskId) {
  const entry = workers.get(workerId);
  if (!entry) return;
  const current = entry.segments.at(-1);
  if (current?.state === 'busy' || current?.state === 'monitoring') current.tasks.push(taskId);
  else entry.pendingTasks.push(taskId);
  scheduleTimelines();
}

function noteKill(event) {
  const entry = workers.get(event.workerId);
  if (!entry) return;
  noteKillSamples(entry, event.termination);
  const kill = { termination: event.termination, taskId: event.taskId, pid: event.pid };
  const current = entry.segments.at(-1);
  if (current?.state === 'killed' && current.kill === undefined) current.kill = kill;
  else entry.pendingKill = kill;
  scheduleTimelines();
}

const clock = (ms) => new Date(ms).toISOString().slice(11, 23);

/** What a kill's evidence says, in a line: the same words as the audit trail. */
/** Why a worker was killed, in a few words: the audit trail's line and the start of the timeline's. */
function whyKilled(t) {
  if (!t) return 'killed';
  if (t.reason === 'timeout') return `deadline ${t.timeoutMs} ms`;
  if (t.reason === 'memory') return `memory (${t.resource}): ${mib(t.usedBytes)} over ${mib(t.limitBytes)}`;
  if (t.reason === 'crashed') return `crashed (exit code ${t.exitCode}, signal ${t.signal})`;
  if (t.reason === 'lease-expired') return `its lease ${t.leaseId} expired`;
  return t.reason;
}

/** The same with the evidence a stretch of the timeline has room for: how long it ran, the last samples, stderr's last line. */
function describeTermination(t) {
  if (t?.reason === 'timeout') return `${whyKilled(t)} (ran ${t.elapsedMs} ms)`;
  if (t?.reason === 'memory') {
    const samples = (t.samples ?? []).slice(-5).map((sample) => mib(sample.rssBytes)).join(', ');
    return `${whyKilled(t)}${samples ? `; last samples ${samples}` : ''}`;
  }
  if (t?.reason === 'crashed' && t.stderrTail) return `${whyKilled(t)}: ${t.stderrTail.trim().split('\n').at(-1)}`;
  return whyKilled(t);
}

function describeSegment(segment, now) {
  const end = segment.to ?? now;
  const head = `${segment.state} ${clock(segment.from)}–${segment.to === undefined ? 'now' : clock(end)} (${seconds(end - segment.from)})`;
  const taskLines = segment.tasks.map((id) => {
    const task = tasks.get(id);
    const outcome = task === undefined ? '' : task.state === 'succeeded' ? ': ok' : task.code ? `: ${task.code}` : `: ${task.state}`;
    return `task ${id}${task?.name ? ` (${task.name})` : ''}${outcome}`;
  });
  const kill = segment.kill ? [`${describeTermination(segment.kill.termination)}${segment.kill.taskId ? `, task ${segment.kill.taskId}` : ''}, pid ${segment.kill.pid ?? '–'}`] : [];
  return [head, ...kill, ...taskLines].join('\n');
}

/** `draw`, at most once a frame however often it is asked for. */
function oncePerFrame(draw) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      draw();
    });
  };
}

const scheduleTimelines = oncePerFrame(() => {
  for (const entry of workers.values()) drawTimeline(entry);
});

const WIDTH = 600;
/** A strip of the worker's states from its first (at most five minutes ago) to now; a kill is never thinner than 3 px. */
function drawTimeline(entry) {
  const now = Date.now();
  const segments = entry.segments;
  if (segments.length === 0) return;
  const start = Math.max(now - TIMELINE_MS, segments[0].from);
  const span = Math.max(1000, now - start);
  const x = (t) => ((Math.max(t, start) - start) / span) * WIDTH;
  const svg = el('svg', { viewBox: `0 0 ${WIDTH} 28`, width: '100%', height: 28, class: 'timeline', preserveAspectRatio: 'none', role: 'img', 'aria-label': 'states over time' });
  for (const segment of segments) {
    const from = x(segment.from);
    const minimum = segment.state === 'killed' || segment.state === 'restarting' ? 3 : 0.5;
    const width = Math.max(minimum, x(segment.to ?? now) - from);
    const rect = el('rect', { x: from, y: 2, width, height: 14, class: `seg ${segment.state}`, 'data-state': segment.state }, svg);
    if (segment.tasks.length > 0) rect.dataset.tasks = segment.tasks.join(' ');
    if (segment.kill) rect.dataset.kill = segment.kill.termination?.reason ?? 'killed';
    el('title', {}, rect).textContent = describeSegment(segment, now);
  }
  el('text', { x: 2, y: 27, class: 'axis' }, svg).textContent = clock(start).slice(0, 8);
  el('text', { x: WIDTH - 2, y: 27, class: 'axis', 'text-anchor': 'end' }, svg).textContent = 'now';
  entry.card.querySelector('[data-role="timeline"]').replaceChildren(svg);
}

// The strips move with time even when nothing happens.
setInterval(scheduleTimelines, 1000);

// What the page draws: every audit event (a task's submission, start and progress only in the
// task table), states and status.
const eventTypes = 'state,status,worker.*,pool.*,lease.*,memory.*,host.*,task.*';

/** Server-Sent Events over fetch, so the token travels in a header; resumes with Last-Event-ID. */
async function stream(types, handlers) {
  let lastId = 0;
  for (;;) {
    try {
      const response = await api(`/v1/events?types=${types}`, { headers: lastId ? { 'last-event-id': String(lastId) } : {} });
      if (response.status === 401) return;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let type = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('id: ')) lastId = Number(line.slice(4));
            else if (line.startsWith('event: ')) type = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (!data) continue;
          handlers[type]?.(JSON.parse(data));
        }
      }
    } catch {
      // the server went away: try again shortly
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/**
 * The scenarios the task module allows, each one click: it fills the form (so the request
 * can be read and changed) and submits it at once. Picked by the tasks the workers offer.
 */
function scenariosFor(tasks) {
  const scenarios = [];
  const has = (name) => tasks.includes(name);
  if (has('inferMechanism')) {
    const link = (sampling) => ({ id: 'demo', causeId: 'programa:vias', effectId: 'resultado:tiempo', evidence: [{ test: 'hoop', passed: true }], sampling });
    scenarios.push({ id: 'quick', label: 'A quick inference', task: 'inferMechanism', payload: link({ chains: 4, draws: 2000, warmup: 500, seed: 1 }) });
    scenarios.push({ id: 'deadline', label: 'Runs past its deadline', task: 'inferMechanism', payload: link({ chains: 4, draws: 50000000, warmup: 10, seed: 1 }), timeoutMs: 1500 });
    scenarios.push({ id: 'memory', label: 'Keeps every draw (memory)', task: 'inferMechanism', payload: link({ chains: 4, draws: 50000000, warmup: 10, seed: 1, keepDraws: true }), timeoutMs: 60000, memoryLimitMb: 160 });
  } else if (has('estimatePi')) {
    scenarios.push({ id: 'quick', label: 'A quick task', task: 'estimatePi', payload: { samples: 1000000, seed: 1 } });
  } else if (has('sleep')) {
    scenarios.push({ id: 'quick', label: 'A quick task', task: 'sleep', payload: 300 });
  }
  // The demo module's (tools/demo/tasks.ts) and the test fixtures' misbehaving tasks.
  const first = (id, candidates) => !scenarios.some((s) => s.id === id) && candidates.find((c) => has(c.task));
  const deadline = first('deadline', [{ task: 'runaway', payload: null }, { task: 'spin', payload: null }]);
  if (deadline) scenarios.push({ id: 'deadline', label: 'Spins past its deadline', ...deadline, timeoutMs: 1000 });
  const memory = first('memory', [{ task: 'leak', payload: null }, { task: 'growOffHeap', payload: { everyMs: 10, chunkMiB: 8 } }]);
  if (memory) scenarios.push({ id: 'memory', label: 'Grows past its memory limit', ...memory, timeoutMs: 30000, memoryLimitMb: 160 });
  const crash = first('crash', [{ task: 'crash', payload: null }, { task: 'exitWith', payload: 1 }]);
  if (crash) scenarios.push({ id: 'crash', label: 'Crashes its worker', ...crash });
  return scenarios;
}

function renderScenarios(tasks) {
  for (const scenario of scenariosFor(tasks)) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = scenario.label;
    button.dataset.scenario = scenario.id;
    button.onclick = () => {
      $('task-name').value = scenario.task;
      $('payload').value = JSON.stringify(scenario.payload, null, 1);
      $('timeout').value = scenario.timeoutMs ?? '';
      $('memory').value = scenario.memoryLimitMb ?? '';
      void submitForm();
    };
    $('samples').appendChild(button);
  }
}

/** Submits what the form says; the answer (the task's id, or the error) shows under it, and the task joins the table. */
async function submitForm() {
  const out = $('submit-result');
  try {
    const payload = JSON.parse($('payload').value || 'null');
    const body = { task: $('task-name').value, payload };
    if ($('timeout').value) body.timeoutMs = Number($('timeout').value);
    if ($('memory').value) body.memoryLimitMb = Number($('memory').value);
    const response = await api('/v1/tasks', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const answer = await response.json();
    out.textContent = response.ok ? `submitted ${answer.id}` : `${response.status} ${answer.error.code}: ${answer.error.message}`;
    out.dataset.taskId = answer.id ?? '';
    if (response.ok) noteTask(answer.id, { name: body.task, payload, timeoutMs: body.timeoutMs ?? limits.taskTimeoutMs });
  } catch (error) {
    out.textContent = String(error);
  }
}

$('submit').addEventListener('submit', (event) => {
  event.preventDefault();
  void submitForm();
});

// ── recent tasks: a live table from the task events, a detail view, cancel ─────────────

const MAX_TASK_ROWS = 50;
/** By task id, newest last: what the events said of each (and, for the page's own, its payload). */
const tasks = new Map();
let selectedTask;

function noteTask(id, fields) {
  let task = tasks.get(id);
  if (task === undefined) {
    task = { id, state: 'queued', submittedAt: Date.now() };
    tasks.set(id, task);
    while (tasks.size > MAX_TASK_ROWS) tasks.delete(tasks.keys().next().value);
  }
  Object.assign(task, fields);
  scheduleTaskTable();
  return task;
}

/** The typed error's code: a pool's audit event names it (`errorCode`), a cluster's carries the error itself. */
const errorCodeOf = (e) => e.errorCode ?? e.error?.code ?? e.failure?.code;

function onTaskEvent(e) {
  const at = e.at ?? Date.now();
  switch (e.type) {
    case 'task.submitted':
      return noteTask(e.taskId, { name: e.name });
    case 'task.started':
      noteTaskOnWorker(e.workerId, e.taskId);
      return noteTask(e.taskId, { state: 'running', workerId: e.workerId, startedAt: at, attempt: e.attempt, fraction: undefined });
    case 'task.progress':
      return noteTask(e.taskId, { fraction: e.fraction });
    case 'task.retrying':
      return noteTask(e.taskId, { state: 'queued', code: undefined });
    case 'task.succeeded':
      return noteTask(e.taskId, { state: 'succeeded', settledAt: at, durationMs: e.durationMs, workerId: e.workerId ?? tasks.get(e.taskId)?.workerId, code: undefined });
    case 'task.failed': {
      const code = errorCodeOf(e);
      return noteTask(e.taskId, { state: code === 'ERR_TASK_CANCELLED' ? 'cancelled' : 'failed', settledAt: at, code, failure: e.failure ?? e.error });
    }
  }
}

const scheduleTaskTable = oncePerFrame(() => renderTaskTable());

const seconds = (ms) => (ms === undefined ? '' : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

function renderTaskTable() {
  const now = Date.now();
  const rows = [...tasks.values()].reverse().map((task) => {
    const row = document.createElement('tr');
    row.dataset.task = task.id;
    row.dataset.state = task.state;
    if (task.id === selectedTask) row.className = 'selected';
    const running = task.state === 'running';
    const elapsed = running ? now - task.startedAt : task.durationMs ?? (task.settledAt && task.startedAt ? task.settledAt - task.startedAt : undefined);
    // Reported progress when the task reports it; else how much of its deadline it has used.
    const fraction = task.fraction ?? (running && task.timeoutMs ? Math.min(1, elapsed / task.timeoutMs) : undefined);
    const texts = [task.id, task.name ?? '', task.workerId ?? '', task.state, seconds(elapsed), task.code ?? (task.state === 'succeeded' ? 'ok' : '')];
    const cells = texts.map((text) => {
      const cell = document.createElement('td');
      cell.textContent = text;
      row.appendChild(cell);
      return cell;
    });
    cells[3].className = `badge-cell ${task.state}`;
    cells[5].dataset.role = 'outcome';
    const tail = document.createElement('td');
    if (running && fraction !== undefined) {
      const bar = document.createElement('progress');
      bar.max = 1;
      bar.value = fraction;
      bar.title = task.fraction !== undefined ? `reported ${Math.round(task.fraction * 100)} %` : `${Math.round(fraction * 100)} % of its deadline`;
      tail.appendChild(bar);
    }
    if (task.state === 'queued' || running) {
      const cancel = document.createElement('button');
      cancel.type = 'button';
      cancel.textContent = 'cancel';
      cancel.dataset.role = 'cancel';
      cancel.onclick = (event) => {
        event.stopPropagation();
        void api(`/v1/tasks/${encodeURIComponent(task.id)}`, { method: 'DELETE' });
      };
      tail.appendChild(cancel);
    }
    row.appendChild(tail);
    row.onclick = () => void showTask(task.id);
    return row;
  });
  $('tasks').replaceChildren(...rows);
  if ([...tasks.values()].some((task) => task.state === 'running')) setTimeout(scheduleTaskTable, 250);
}

/** The detail view: the service's record (its result, or the typed error with its evidence), and the payload when this page sent it. */
async function showTask(id) {
  selectedTask = id;
  scheduleTaskTable();
  const task = tasks.get(id);
  let record;
  try {
    const response = await api(`/v1/tasks/${encodeURIComponent(id)}`);
    record = await response.json();
  } catch (error) {
    record = { error: String(error) };
  }
  const detail = { ...record, ...(task?.payload !== undefined ? { payload: task.payload } : {}), ...(record.error === undefined && task?.failure ? { failure: task.failure } : {}) };
  $('task-detail').textContent = JSON.stringify(detail, null, 1);
  $('task-detail').dataset.task = id;
}

// In front of a cluster: one panel per live host and the queues, from the `cluster` event.
const hostPanels = new Map();

function hostPanel(id) {
  if (hostPanels.has(id)) return hostPanels.get(id);
  const panel = document.createElement('div');
  panel.className = 'host';
  panel.dataset.host = id;
  panel.innerHTML = `<div class="head"><span data-role="id"></span><span class="badge" data-role="state">…</span></div>
    <div class="meta" data-role="meta"></div><div class="meta">running <b data-role="running">0</b></div><div class="workers-list" data-role="workers"></div>`;
  panel.querySelector('[data-role="id"]').textContent = id;
  $('hosts').appendChild(panel);
  hostPanels.set(id, panel);
  return panel;
}

/** The tasks the live hosts offer, as suggestions for the name, and the scenarios they allow (once). */
let hostTasks = '';
function offerHostTasks(hosts) {
  const names = [...new Set(hosts.flatMap((host) => host.tasks ?? []))].sort();
  if (names.join(',') === hostTasks) return;
  hostTasks = names.join(',');
  $('host-tasks')?.replaceChildren(...names.map((name) => new Option(name, name)));
  if (names.length > 0 && $('samples').childElementCount === 0) renderScenarios(names);
}

function onCluster(view) {
  offerHostTasks(view.hosts);
  const live = new Set(view.hosts.map((h) => h.id));
  for (const [id, panel] of hostPanels) {
    if (live.has(id)) continue;
    panel.remove();
    hostPanels.delete(id);
  }
  for (const host of view.hosts) {
    const panel = hostPanel(host.id);
    const badge = panel.querySelector('[data-role="state"]');
    badge.textContent = host.poolState;
    // Running is green, a host finishing its tasks before it leaves is amber, anything else (degraded) red.
    badge.className = `badge ${host.poolState === 'running' ? 'idle' : host.poolState === 'draining' ? 'restarting' : 'killed'}`;
    panel.dataset.state = host.poolState;
    const slots = Object.entries(host.slots).map(([deviceClass, n]) => `${deviceClass} ${n}`).join(', ');
    panel.querySelector('[data-role="meta"]').textContent = `${host.hostname} · pid ${host.pid} · slots ${slots}`;
    panel.querySelector('[data-role="running"]').textContent = host.running;
    panel.querySelector('[data-role="workers"]').replaceChildren(
      ...host.workers.map((w) => {
        const chip = document.createElement('span');
        chip.className = `badge ${w.state}`;
        chip.dataset.hostWorker = w.id;
        chip.dataset.state = w.state;
        chip.textContent = `${w.id} ${w.device}: ${w.state}`;
        return chip;
      }),
    );
  }
  const sum = (states) => Object.values(view.queues).reduce((total, counts) => total + states.reduce((n, state) => n + (counts[state] ?? 0), 0), 0);
  $('pool-state').textContent = view.redis === 'ok' ? `cluster ${view.queue} · ${view.hosts.length} hosts` : `cluster ${view.queue} · Redis unreachable`;
  $('queue-depth').textContent = sum(['waiting', 'prioritized', 'delayed']);
  $('running').textContent = sum(['active']);
  $('succeeded').textContent = sum(['completed']);
  $('failed').textContent = sum(['failed']);
  $('killed').textContent = '–';
  const states = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'];
  const rows = Object.entries(view.queues).map(([deviceClass, counts]) => `<tr data-class="${deviceClass}"><td>${deviceClass}</td>${states.map((state) => `<td data-state="${state}">${counts[state] ?? 0}</td>`).join('')}</tr>`);
  $('queues').innerHTML = `<tr><th>class</th>${states.map((state) => `<th>${state}</th>`).join('')}</tr>${rows.join('')}`;
}

async function startCluster(view) {
  document.body.dataset.mode = 'cluster';
  $('hosts-section').hidden = false;
  $('queues-section').hidden = false;
  $('workers-section').hidden = true;
  $('supervisor-section').hidden = true;
  // The task is named, with what the live hosts offer (their heartbeats say) as suggestions:
  // a task may be queued for hosts that are not up yet.
  const name = document.createElement('input');
  name.id = 'task-name';
  name.name = 'task';
  name.placeholder = 'an exported task of the hosts\' module';
  name.setAttribute('list', 'host-tasks');
  const suggestions = document.createElement('datalist');
  suggestions.id = 'host-tasks';
  $('task-name').replaceWith(name, suggestions);
  onCluster({ redis: 'ok', ...view });
  document.body.dataset.ready = 'true';
  void stream('cluster,task.*', { cluster: onCluster, audit: onAudit });
}

async function startPool() {
  machines = await (await api('/v1/machines')).json();
  superHighlight = drawMachine(machines.supervisor, $('supervisor'));
  superHighlight('running');
  onStatus({ ...(await (await api('/v1/pool')).json()), at: Date.now() });
  document.body.dataset.ready = 'true';
  void stream(eventTypes, { status: onStatus, audit: onAudit, state: onState });
}

// A service in front of a cluster answers /v1/cluster (503 while its Redis is away); one over a local pool has no such route.
const cluster = await api('/v1/cluster');
if (cluster.status === 401) document.body.dataset.ready = 'token';
else if (cluster.ok) await startCluster(await cluster.json());
else if (cluster.status === 503) await startCluster({ queue: '', redis: 'unreachable', hosts: [], queues: {} });
else await startPool();
