// berth dashboard: plain JavaScript, no build step. Talks to berth's own API with the function
// key kept in this tab's session storage; live updates come from GET /api/events (SSE).
'use strict';

const $ = (id) => document.getElementById(id);
const KEY = 'berth.key';
const state = { filter: '', cursors: [''], page: 0, jobs: new Map(), events: null,
  job: null, logAbort: null, listTimer: null };

function key() { return sessionStorage.getItem(KEY) || ''; }

async function api(path, options = {}) {
  const headers = Object.assign({ 'x-functions-key': key() }, options.headers || {});
  const r = await fetch(path, Object.assign({}, options, { headers }));
  if (r.status === 401) { showKey('The key was refused. Enter a valid function key.'); }
  return r;
}

async function json(r) {
  try { return await r.json(); } catch (e) { return {}; }
}

function errorText(r, body) {
  return (body && body.error && body.error.message) || ('HTTP ' + r.status);
}

function when(t) { return t ? new Date(t).toLocaleString() : ''; }

function duration(job) {
  if (!job.startedAt) return '';
  const end = job.finishedAt ? Date.parse(job.finishedAt) : Date.now();
  const s = Math.max(0, Math.round((end - Date.parse(job.startedAt)) / 1000));
  return s < 60 ? s + 's' : Math.floor(s / 60) + 'm ' + (s % 60) + 's';
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

// ---- views -------------------------------------------------------------------------------

const views = ['key-view', 'jobs-view', 'job-view', 'submit-view', 'images-view'];

function show(view, nav) {
  for (const v of views) $(v).hidden = v !== view;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function showKey(message) {
  stopLog();
  show('key-view', '');
  $('key-error').textContent = message || '';
  $('key-input').focus();
}

function route() {
  if (!key()) { showKey(); return; }
  connectEvents();
  const hash = location.hash || '#/';
  stopLog();
  state.job = null;
  let m;
  if ((m = hash.match(/^#\/jobs\/([0-9a-fA-F-]+)$/))) { openJob(m[1]); return; }
  if (hash === '#/submit') { show('submit-view', 'submit'); $('submit-image').focus(); return; }
  if (hash === '#/images') { show('images-view', 'images'); loadImages(); return; }
  show('jobs-view', 'jobs');
  loadJobs();
  loadChart();
}

// ---- live events -------------------------------------------------------------------------

function connectEvents() {
  if (state.events) return;
  const es = new EventSource('/api/events?code=' + encodeURIComponent(key()));
  state.events = es;
  es.onopen = () => { $('live').textContent = 'live'; };
  es.onerror = () => { $('live').textContent = 'reconnecting'; };
  es.addEventListener('job', (ev) => {
    let e;
    try { e = JSON.parse(ev.data); } catch (err) { return; }
    onJobEvent(e);
  });
}

function onJobEvent(e) {
  if (!$('jobs-view').hidden) {
    const row = document.querySelector('tr[data-job-id="' + e.id + '"]');
    if (row) refreshRow(e.id);
    else if (state.page === 0 && (!state.filter || state.filter === e.state)) scheduleList();
    scheduleChart();
  }
  if (state.job === e.id) loadJobFields(e.id);
}

function scheduleList() {
  clearTimeout(state.listTimer);
  state.listTimer = setTimeout(loadJobs, 200);
}

let chartTimer = null;
function scheduleChart() {
  clearTimeout(chartTimer);
  chartTimer = setTimeout(loadChart, 2000);
}

// ---- jobs list ---------------------------------------------------------------------------

function jobRow(job) {
  const row = el('tr', { 'data-testid': 'job-row', 'data-job-id': job.id });
  const link = el('a', { href: '#/jobs/' + job.id, text: job.id.slice(0, 8) });
  row.append(
    el('td', { class: 'id' }, link),
    el('td', { 'data-testid': 'job-state', class: 'state-' + job.state, text: job.state }),
    el('td', { text: job.image || '' }),
    el('td', { text: when(job.createdAt) }),
    el('td', { text: duration(job) }),
    el('td', { 'data-testid': 'job-exit-code',
               text: job.exitCode === null || job.exitCode === undefined ? '' : job.exitCode }));
  return row;
}

async function loadJobs() {
  const q = new URLSearchParams({ limit: '25' });
  if (state.filter) q.set('state', state.filter);
  const cursor = state.cursors[state.page];
  if (cursor) q.set('cursor', cursor);
  const r = await api('/api/jobs?' + q);
  const body = await json(r);
  if (!r.ok) { $('jobs-error').textContent = errorText(r, body); return; }
  $('jobs-error').textContent = '';
  const rows = $('job-rows');
  rows.replaceChildren(...body.jobs.map(jobRow));
  for (const j of body.jobs) state.jobs.set(j.id, j);
  $('jobs-empty').hidden = body.jobs.length > 0;
  state.cursors[state.page + 1] = body.nextCursor || '';
  $('older').disabled = !body.nextCursor;
  $('newest').disabled = state.page === 0;
}

async function refreshRow(id) {
  const r = await api('/api/jobs/' + id + '?tail=0');
  if ([400, 401, 404].includes(r.status)) return;
  const job = await json(r);
  const row = document.querySelector('tr[data-job-id="' + id + '"]');
  if (row) row.replaceWith(jobRow(job));
}

// ---- chart: started / finished per minute and queue depth over the last hour ---------------

async function loadChart() {
  const r = await api('/api/jobs?limit=1000');
  if (!r.ok) return;
  const jobs = (await json(r)).jobs || [];
  const now = Date.now();
  const minute = 60000;
  const start = now - 60 * minute;
  const started = new Array(60).fill(0), finished = new Array(60).fill(0);
  const queued = new Array(60).fill(0);
  const bucket = (t) => Math.floor((t - start) / minute);
  for (const j of jobs) {
    const c = Date.parse(j.createdAt);
    const s = j.startedAt ? Date.parse(j.startedAt) : null;
    const f = j.finishedAt ? Date.parse(j.finishedAt) : null;
    if (s && s >= start) started[bucket(s)]++;
    if (f && f >= start && j.startedAt) finished[bucket(f)]++;
    const left = s || f || now;  // waiting in the queue from creation until it started
    for (let i = 0; i < 60; i++) {
      const t = start + (i + 1) * minute;
      if (c <= t && left > t) queued[i]++;
    }
  }
  $('chart-note').textContent = jobs.length === 1000 ? '(newest 1000 jobs)' : '';
  drawChart(started, finished, queued);
}

function drawChart(started, finished, queued) {
  const svg = $('chart');
  const ns = 'http://www.w3.org/2000/svg';
  const max = Math.max(1, ...started, ...finished, ...queued);
  const W = 600, H = 140, bw = W / 60;
  const y = (v) => H - 4 - (v / max) * (H - 14);
  svg.replaceChildren();
  const add = (tag, attrs) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    svg.append(e);
    return e;
  };
  for (let i = 0; i < 60; i++) {
    if (started[i]) add('rect', { x: i * bw + 1, y: y(started[i]), width: bw / 2 - 1,
      height: H - 4 - y(started[i]), fill: '#0b5cad' });
    if (finished[i]) add('rect', { x: i * bw + bw / 2, y: y(finished[i]), width: bw / 2 - 1,
      height: H - 4 - y(finished[i]), fill: '#1a7f37' });
  }
  const points = queued.map((v, i) => (i * bw + bw / 2).toFixed(1) + ',' + y(v).toFixed(1));
  add('polyline', { points: points.join(' '), fill: 'none', stroke: '#9a6700',
    'stroke-width': 2 });
  $('chart-scale').textContent = '(top of the chart: ' + max + ')';
}

// ---- one job -----------------------------------------------------------------------------

async function openJob(id) {
  show('job-view', 'jobs');
  state.job = id;
  $('job-title').textContent = 'Job ' + id;
  $('job-log').textContent = '';
  $('job-error').textContent = '';
  $('cancel-note').textContent = '';
  await loadJobFields(id);
  followLog(id);
}

async function loadJobFields(id) {
  const r = await api('/api/jobs/' + id + '?tail=0');
  const job = await json(r);
  if (state.job !== id) return;
  if (r.status === 404 || r.status === 400) { $('job-error').textContent = errorText(r, job); return; }
  const fields = $('job-fields');
  const rows = [['State', job.state, 'job-state'], ['Reason', job.reason],
    ['Exit code', job.exitCode === null ? '' : job.exitCode, 'job-exit-code'],
    ['Image', job.image], ['Created', when(job.createdAt)], ['Started', when(job.startedAt)],
    ['Finished', when(job.finishedAt)], ['Duration', duration(job)], ['Attempts', job.attempts]];
  fields.replaceChildren();
  for (const [name, value, testid] of rows) {
    const dd = el('dd', { text: value === undefined || value === null ? '' : String(value) });
    if (testid) dd.setAttribute('data-testid', testid);
    if (name === 'State') dd.className = 'state-' + value;
    fields.append(el('dt', { text: name }), dd);
  }
  $('attempt-rows').replaceChildren(...(job.history || []).map((a) => el('tr', {},
    el('td', { text: a.attempt }), el('td', { text: a.exitCode === null ? '' : a.exitCode }),
    el('td', { text: a.reason || '' }), el('td', { text: when(a.startedAt) }),
    el('td', { text: when(a.finishedAt) }))));
  const terminal = ['Succeeded', 'Failed', 'Canceled'].includes(job.state);
  $('cancel').disabled = terminal;
}

function stopLog() {
  if (state.logAbort) state.logAbort.abort();
  state.logAbort = null;
}

async function followLog(id) {
  stopLog();
  const abort = new AbortController();
  state.logAbort = abort;
  const pre = $('job-log');
  try {
    const r = await api('/api/jobs/' + id + '/logs?follow=true', { signal: abort.signal });
    if (!r.ok || !r.body) return;
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.textContent += decoder.decode(value, { stream: true });
      if (stick) pre.scrollTop = pre.scrollHeight;
    }
  } catch (e) {
    if (e.name !== 'AbortError') $('job-error').textContent = 'log: ' + e.message;
  }
  if (state.job === id) loadJobFields(id);
}

async function cancelJob() {
  const id = state.job;
  if (!id) return;
  $('cancel').disabled = true;
  const r = await api('/api/jobs/' + id, { method: 'DELETE' });
  const body = await json(r);
  $('cancel-note').textContent = r.ok ? 'Cancel requested.' : errorText(r, body);
  loadJobFields(id);
}

// ---- submit ------------------------------------------------------------------------------

async function submitJob(ev) {
  ev.preventDefault();
  const image = $('submit-image').value.trim();
  const command = $('submit-command').value.trim();
  const envText = $('submit-env').value.trim();
  let body = '';
  if (image || command || envText) {
    const spec = { image: image || 'busybox' };
    if (command) spec.command = command;
    if (envText) {
      spec.environmentVariables = {};
      for (const line of envText.split('\n')) {
        const eq = line.indexOf('=');
        if (eq <= 0) { $('submit-error').textContent = 'Not NAME=VALUE: ' + line; return; }
        spec.environmentVariables[line.slice(0, eq).trim()] = line.slice(eq + 1);
      }
    }
    body = JSON.stringify(spec);
  }
  const r = await api('/api/jobs', { method: 'POST', body,
    headers: body ? { 'content-type': 'application/json' } : {} });
  const reply = await json(r);
  if (r.status !== 202) { $('submit-error').textContent = errorText(r, reply); return; }
  $('submit-error').textContent = '';
  location.hash = '#/jobs/' + reply.id;
}

// ---- images ------------------------------------------------------------------------------

async function loadImages() {
  const r = await api('/api/images');
  const body = await json(r);
  if (!r.ok) { $('images-error').textContent = errorText(r, body); return; }
  $('image-rows').replaceChildren(...body.images.map((i) => el('tr', { 'data-testid': 'image-row' },
    el('td', { text: i.reference }), el('td', { class: 'id', text: i.digest.slice(0, 19) }),
    el('td', { text: (i.sizeBytes / 1048576).toFixed(1) + ' MiB' }),
    el('td', { text: i.layers }))));
}

// ---- wiring ------------------------------------------------------------------------------

async function saveKey(ev) {
  ev.preventDefault();
  const value = $('key-input').value.trim();
  const r = await fetch('/api/jobs?limit=1', { headers: { 'x-functions-key': value } });
  if (!r.ok) {
    $('key-error').textContent = r.status === 401 ? 'That key was refused.' : 'HTTP ' + r.status;
    return;
  }
  sessionStorage.setItem(KEY, value);
  $('key-input').value = '';
  if (state.events) { state.events.close(); state.events = null; }
  if (!location.hash || location.hash === '#/') route(); else location.hash = '#/';
}

document.addEventListener('DOMContentLoaded', () => {
  $('key-form').addEventListener('submit', saveKey);
  $('change-key').addEventListener('click', () => showKey());
  $('submit-form').addEventListener('submit', submitJob);
  $('cancel').addEventListener('click', cancelJob);
  $('state-filter').addEventListener('change', (e) => {
    state.filter = e.target.value;
    state.page = 0;
    state.cursors = [''];
    loadJobs();
  });
  $('older').addEventListener('click', () => { state.page++; loadJobs(); });
  $('newest').addEventListener('click', () => { state.page = 0; loadJobs(); });
  window.addEventListener('hashchange', route);
  route();
});
