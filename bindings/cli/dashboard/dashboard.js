// dashboard.js — the xferq dashboard: follows GET /api/events (Server-Sent
// Events read with fetch, so the token travels in the Authorization header,
// never in a cookie or the URL) and calls the JSON API for actions. The token
// comes from the page's #token= fragment (removed at once) or the login form
// and stays in this tab's sessionStorage. Text from the queue is only ever
// set with textContent.
'use strict';

const TOKEN_KEY = 'xferq-token';
const jobs = new Map();        // id -> job JSON as last reported
const rows = new Map();        // id -> {row, filesRow, cells...}
const rates = new Map();       // id -> [{t, bytes}] recent progress samples
let throughput = [];           // [{at, bytes_per_sec}]
let token = null;
let lastEventId = null;

const $ = (id) => document.getElementById(id);

function takeToken() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(method, path, body) {
  const headers = { Authorization: 'Bearer ' + token };
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const data = res.status === 204 ? null : await res.json();
  if (res.status === 401) showLogin('The token was refused.');
  if (!res.ok) throw new Error(data && data.error ? data.error.name + ': ' + data.error.message : 'HTTP ' + res.status);
  return data;
}

// ---- formatting -------------------------------------------------------------
function bytes(n) {
  if (n === null || n === undefined) return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
}
function duration(s) {
  if (!isFinite(s) || s < 0) return '';
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return (h ? h + ':' + String(m).padStart(2, '0') : m) + ':' + String(sec).padStart(2, '0');
}

// ---- rate and ETA, from the progress the events report ----------------------
function noteProgress(id, b) {
  const now = performance.now() / 1000;
  const list = rates.get(id) || [];
  list.push({ t: now, bytes: b });
  while (list.length > 2 && now - list[0].t > 5) list.shift();
  rates.set(id, list);
}
function rateOf(id) {
  const list = rates.get(id);
  if (!list || list.length < 2) return null;
  const a = list[0], b = list[list.length - 1];
  return b.t > a.t ? Math.max(0, (b.bytes - a.bytes) / (b.t - a.t)) : null;
}

// ---- the job table ----------------------------------------------------------
const ACTIONS = [
  ['suspend', 'Suspend', ['QUEUED', 'CONNECTING', 'TRANSFERRING', 'TRANSIENT_ERROR']],
  ['resume', 'Resume', ['SUSPENDED', 'ERROR', 'TRANSIENT_ERROR']],
  ['complete', 'Complete', ['TRANSFERRED', 'SUSPENDED', 'ERROR', 'QUEUED', 'CONNECTING', 'TRANSFERRING', 'TRANSIENT_ERROR']],
  ['cancel', 'Cancel', ['QUEUED', 'CONNECTING', 'TRANSFERRING', 'SUSPENDED', 'ERROR', 'TRANSIENT_ERROR', 'TRANSFERRED']],
];

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function makeRow(id) {
  const row = el('tr');
  row.dataset.jobId = id;
  const name = el('td');
  const title = el('a', 'name');
  title.href = '#';
  title.title = 'show the files';
  title.addEventListener('click', (e) => { e.preventDefault(); toggleFiles(id); });
  name.append(title, el('span', 'id', id));
  const state = el('td');
  const stateText = el('span', 'state');
  const errorText = el('span', 'error-name');
  state.append(stateText, errorText);
  const progress = el('td');
  const bar = el('div', 'bar');
  bar.setAttribute('role', 'progressbar');
  const fill = el('div', 'fill');
  const label = el('span', 'label');
  bar.append(fill, label);
  progress.append(bar);
  const rate = el('td', 'rate'), eta = el('td', 'eta'), prio = el('td', 'priority');
  const actions = el('td', 'actions');
  const buttons = {};
  for (const [action, text] of ACTIONS) {
    const b = el('button', action === 'cancel' ? 'danger' : '', text);
    b.dataset.action = action;
    b.addEventListener('click', () => act(id, action));
    buttons[action] = b;
    actions.append(b);
  }
  row.append(name, state, progress, rate, eta, prio, actions);
  const filesRow = el('tr', 'files');
  filesRow.hidden = true;
  const filesCell = el('td');
  filesCell.colSpan = 7;
  filesRow.append(filesCell);
  const r = { row, filesRow, filesCell, title, stateText, errorText, bar, fill, label, rate, eta, prio, buttons };
  rows.set(id, r);
  $('job-rows').append(row, filesRow);
  return r;
}

function render(id) {
  const job = jobs.get(id);
  const r = rows.get(id) || makeRow(id);
  r.title.textContent = job.display_name;
  r.stateText.textContent = job.state;
  r.stateText.className = 'state state-' + job.state;
  r.row.dataset.state = job.state;
  const total = job.bytes_total, done = job.bytes_transferred;
  const pct = total ? Math.min(100, (100 * done) / total) : (job.state === 'TRANSFERRED' || job.state === 'ACKNOWLEDGED' ? 100 : 0);
  r.fill.style.width = pct.toFixed(1) + '%';
  r.bar.dataset.percent = pct.toFixed(1);
  r.bar.setAttribute('aria-valuenow', pct.toFixed(1));
  r.label.textContent = pct.toFixed(0) + '%  ' + bytes(done) + ' / ' + bytes(total) +
    '  (' + job.files_transferred + '/' + job.files_total + ' files)';
  const running = job.state === 'TRANSFERRING' || job.state === 'CONNECTING';
  const rate = running ? rateOf(id) : null;
  r.rate.textContent = rate === null ? '' : bytes(rate) + '/s';
  r.eta.textContent = rate && total ? duration((total - done) / rate) : '';
  r.prio.textContent = job.priority;
  r.row.title = job.error ? job.error.name + ': ' + job.error.description : '';
  r.errorText.textContent = job.error ? job.error.name : '';
  for (const [action, , states] of ACTIONS) r.buttons[action].disabled = !states.includes(job.state);
  $('no-jobs').hidden = jobs.size > 0;
  $('job-count').textContent = '(' + jobs.size + ')';
  // An open file list follows the job, re-read at most every two seconds.
  if (!r.filesRow.hidden && performance.now() - (r.filesLoaded || 0) > 2000) loadFiles(id);
}

async function toggleFiles(id) {
  const r = rows.get(id);
  r.filesRow.hidden = !r.filesRow.hidden;
  // An open file list follows the job, re-read at most every two seconds.
  if (!r.filesRow.hidden && performance.now() - (r.filesLoaded || 0) > 2000) loadFiles(id);
}

async function loadFiles(id) {
  const r = rows.get(id);
  r.filesLoaded = performance.now();
  try {
    const data = await api('GET', '/api/jobs/' + encodeURIComponent(id) + '/files');
    const list = el('ul');
    for (const f of data.files) {
      list.append(el('li', '', f.remote_url + ' \u2192 ' + f.local_path + '  ' + bytes(f.bytes_transferred) + ' / ' +
        bytes(f.bytes_total) + (f.completed ? '  done' : '')));
    }
    r.filesCell.replaceChildren(list);
  } catch (e) {
    r.filesCell.replaceChildren(el('span', 'error-text', e.message));
  }
}

async function act(id, action) {
  if (action === 'cancel' && !confirm('Cancel this job and delete its temporary files?')) return;
  try {
    const result = await api('POST', '/api/jobs/' + encodeURIComponent(id) + '/' + action);
    const job = result.job || result;
    jobs.set(job.id, stripFiles(job));
    render(job.id);
  } catch (e) {
    addError(id, e.message);
  }
}

function stripFiles(job) {
  const copy = Object.assign({}, job);
  delete copy.files;
  return copy;
}

function addError(id, text) {
  const li = el('li', '', new Date().toLocaleTimeString() + '  ' + (id ? (jobs.get(id) || {}).display_name + ': ' : '') + text);
  $('errors').prepend(li);
  while ($('errors').children.length > 50) $('errors').lastChild.remove();
}

// ---- throughput graph -------------------------------------------------------
function drawThroughput() {
  const canvas = $('throughput');
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = w * ratio;
  canvas.height = h * ratio;
  const g = canvas.getContext('2d');
  g.scale(ratio, ratio);
  g.clearRect(0, 0, w, h);
  // The last five minutes; a younger history fills the width (one minute at least).
  const now = Date.now();
  const oldest = throughput.length ? now - throughput[0].at : 0;
  const span = Math.min(5 * 60 * 1000, Math.max(60 * 1000, oldest));
  const pts = throughput.filter((p) => now - p.at <= span);
  const max = Math.max(1024, ...pts.map((p) => p.bytes_per_sec));
  g.strokeStyle = '#dde1ea';
  g.fillStyle = '#6b7385';
  g.font = '11px sans-serif';
  const top = 14, bottom = h - 18;
  for (let i = 0; i <= 2; i++) {
    const y = top + ((bottom - top) * i) / 2;
    g.beginPath(); g.moveTo(0, y); g.lineTo(w, y); g.stroke();
    g.fillText(bytes(max * (1 - i / 2)) + '/s', 4, y - 3);
  }
  g.fillText('-' + Math.round(span / 60000) + ' min', 4, h - 3);
  g.fillText('now', w - 26, h - 3);
  if (pts.length < 2) return;
  g.strokeStyle = '#2f6fde';
  g.lineWidth = 2;
  g.beginPath();
  pts.forEach((p, i) => {
    const x = w - ((now - p.at) / span) * w;
    const y = top + (bottom - top) * (1 - p.bytes_per_sec / max);
    if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
  });
  g.stroke();
  $('rate-now').textContent = bytes(pts[pts.length - 1].bytes_per_sec) + '/s';
}

// ---- events -----------------------------------------------------------------
function onEvent(type, data) {
  switch (type) {
    case 'snapshot':
      jobs.clear();
      rows.clear();
      $('job-rows').replaceChildren();
      for (const j of data.jobs) jobs.set(j.id, j);
      throughput = data.throughput;
      for (const id of jobs.keys()) render(id);
      for (const j of data.jobs) if (j.error) addError(j.id, j.state + ': ' + j.error.name + ': ' + j.error.description);
      if (data.worker_error) addError(null, 'worker stopped: ' + data.worker_error.name + ': ' + data.worker_error.message);
      $('no-jobs').hidden = jobs.size > 0;
      drawThroughput();
      break;
    case 'created':
    case 'changed':
      jobs.set(data.job.id, data.job);
      render(data.job.id);
      break;
    case 'state':
      jobs.set(data.id, data.job);
      noteProgress(data.id, data.job.bytes_transferred);
      render(data.id);
      break;
    case 'progress': {
      const job = jobs.get(data.id);
      if (!job) break;
      Object.assign(job, data);
      noteProgress(data.id, data.bytes_transferred);
      render(data.id);
      break;
    }
    case 'error':
      addError(data.id, data.state + ': ' + data.error.name + ': ' + data.error.description);
      break;
    case 'removed':
      jobs.delete(data.id);
      if (rows.has(data.id)) { rows.get(data.id).row.remove(); rows.get(data.id).filesRow.remove(); rows.delete(data.id); }
      break;
    case 'throughput':
      throughput.push(data);
      if (throughput.length > 600) throughput.shift();
      drawThroughput();
      break;
    case 'worker':
      addError(null, 'worker stopped: ' + data.error.name + ': ' + data.error.message);
      break;
  }
}

function parseBlock(block) {
  let type = 'message', data = '', id = null;
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') type = value;
    else if (field === 'data') data += value;
    else if (field === 'id') id = value;
  }
  if (id !== null) lastEventId = id;
  if (data) onEvent(type, JSON.parse(data));
}

function setConnection(live) {
  const c = $('connection');
  c.textContent = live ? 'live' : 'reconnecting';
  c.className = 'pill ' + (live ? 'pill-on' : 'pill-off');
}

async function follow() {
  for (;;) {
    try {
      const headers = { Authorization: 'Bearer ' + token };
      if (lastEventId) headers['Last-Event-ID'] = lastEventId;
      const res = await fetch('/api/events', { headers, cache: 'no-store' });
      if (res.status === 401) { showLogin('The token was refused.'); return; }
      if (!res.ok) throw new Error('HTTP ' + res.status);
      setConnection(true);
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          parseBlock(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (e) {
      // the server went away or restarted: try again
    }
    setConnection(false);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

// ---- start ------------------------------------------------------------------
function showLogin(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  token = null;
  $('app').hidden = true;
  $('login').hidden = false;
  $('login-message').textContent = message || '';
}

async function start() {
  $('login').hidden = true;
  $('app').hidden = false;
  try {
    const status = await api('GET', '/api/status');
    $('queue-path').textContent = status.queue;
  } catch (e) {
    if (!token) return;
  }
  follow();
}

function basename(path) {
  const parts = path.split('/');
  return parts[parts.length - 1] || path;
}

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    token = $('token-input').value.trim();
    sessionStorage.setItem(TOKEN_KEY, token);
    start();
  });
  $('add-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const url = $('add-url').value.trim(), path = $('add-path').value.trim();
    try {
      await api('POST', '/api/jobs', {
        display_name: $('add-name').value.trim() || basename(path),
        priority: $('add-priority').value,
        files: [{ remote_url: url, local_path: path }],
        resume: true,
      });
      $('add-message').textContent = '';
      $('add-form').reset();
    } catch (err) {
      $('add-message').textContent = err.message;
    }
  });
  window.addEventListener('resize', drawThroughput);
  setInterval(drawThroughput, 5000);
  token = takeToken();
  if (token) start(); else showLogin('');
});
