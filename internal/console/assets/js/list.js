// The list of the workspace's sources: name, node, userdb, state and sync
// health, with the way to create a new one. Health refreshes by itself.

import { call, enc, canChange } from './api.js';
import { h, append, badge, alertBox, showAlert, pageTitle } from './dom.js';
import { t, formatTime } from './i18n.js';
import { fetchNodes, nodeView } from './nodes.js';

// How often a status is read again: often while something is starting or
// running, rarely otherwise.
export const refreshBusyMs = 3000;
export const refreshIdleMs = 30000;

export function renderList(ctx) {
  const alert = alertBox();
  const body = h('tbody');
  const more = h('button', { type: 'button', class: 'button', id: 'more-sources', t: 'list.more', hidden: true });
  const empty = h('div', { class: 'empty', hidden: true },
    h('p', { t: 'list.empty' }),
    canChange() ? h('a', { class: 'button primary', href: '#/sources/new', t: 'list.new' }) : null);
  const table = h('table', { class: 'table cards', id: 'sources' },
    h('caption', { class: 'visually-hidden', t: 'list.caption' }),
    h('thead', null, h('tr', null,
      h('th', { scope: 'col', t: 'list.name' }),
      h('th', { scope: 'col', t: 'list.node' }),
      h('th', { scope: 'col', t: 'list.userdb' }),
      h('th', { scope: 'col', t: 'list.state' }),
      h('th', { scope: 'col', t: 'list.health' }))),
    body);
  append(ctx.main,
    h('div', { class: 'page-head' },
      pageTitle('list.title'),
      canChange() ? h('a', { class: 'button primary', href: '#/sources/new', id: 'new-source', t: 'list.new' }) : null),
    canChange() ? null : h('p', { class: 'alert alert-info', id: 'viewer-note', t: 'role.viewer' }),
    alert,
    flashBox(ctx),
    h('div', { class: 'panel flush' }, table, empty),
    h('div', { class: 'actions' }, more));
  ctx.focus();

  // Node names come from Contacthub; until they arrive (or if they cannot)
  // the node shows as its id.
  const nodes = fetchNodes(ctx.signal).catch(() => null);
  let cursor = '';
  async function load() {
    more.disabled = true;
    try {
      const query = cursor ? `?limit=50&cursor=${enc(cursor)}` : '?limit=50';
      const { data } = await call('GET', `/v1/sources${query}`, { signal: ctx.signal });
      for (const src of data.elements) body.append(row(ctx, src, nodes));
      cursor = data.nextCursor || '';
      more.hidden = !cursor;
      const none = body.children.length === 0;
      empty.hidden = !none;
      table.hidden = none;
    } catch (err) {
      if (err.name !== 'AbortError') showAlert(alert, 'error', err.message);
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener('click', load);
  load();
}

export function flashBox(ctx) {
  if (!ctx.flash?.key) return null;
  return h('div', { class: `alert alert-${ctx.flash.kind || 'success'}`, role: 'status' },
    h('p', { class: 'alert-title', t: ctx.flash.key, args: ctx.flash.args }));
}

function row(ctx, src, nodes) {
  const health = h('td', { class: 'health', cell: 'list.health' }, h('span', { class: 'muted', t: 'health.loading' }));
  const node = h('td', { class: 'node-cell', cell: 'list.node' }, nodeView(null, src.nodes[0]));
  nodes.then((map) => { if (map) node.replaceChildren(nodeView(map, src.nodes[0])); });
  const tr = h('tr', { data: { id: src.id } },
    h('th', { scope: 'row' },
      h('a', { href: `#/sources/${enc(src.id)}`, text: src.name || src.id }),
      src.description ? h('div', { class: 'muted small', text: src.description }) : null),
    node,
    h('td', { cell: 'list.userdb' }, String(src.properties.userDbId || '—')),
    h('td', { class: 'state', cell: 'list.state' }, src.enabled ? badge('ok', 'state.enabled') : badge('off', 'state.disabled')),
    health);
  watchHealth(ctx, src, health);
  return tr;
}

// watchHealth keeps a row's health current until the page is left.
async function watchHealth(ctx, src, cell) {
  let delay = refreshIdleMs;
  try {
    const { data } = await call('GET', `/v1/sources/${enc(src.id)}/status`, { signal: ctx.signal });
    cell.replaceChildren(healthBadge(src.enabled, data));
    if (busy(src.enabled, data)) delay = refreshBusyMs;
  } catch (err) {
    if (err.name === 'AbortError') return;
    cell.replaceChildren(h('span', { class: 'muted', t: 'health.unknown', titleKey: 'health.unknownTitle' }));
    return;
  }
  later(ctx.signal, delay, () => watchHealth(ctx, src, cell));
}

// later runs fn after ms unless signal aborts first (the page is left).
// While the tab is hidden it waits on, so a forgotten tab costs no calls.
export function later(signal, ms, fn) {
  if (signal.aborted) return;
  let timer = 0;
  const cancel = () => clearTimeout(timer);
  const fire = () => {
    if (document.hidden) {
      timer = setTimeout(fire, ms);
      return;
    }
    signal.removeEventListener('abort', cancel);
    fn();
  };
  timer = setTimeout(fire, ms);
  signal.addEventListener('abort', cancel, { once: true });
}

// busy says the source is starting or working through a backfill, when
// its status changes by the second.
export function busy(enabled, status) {
  const intake = status?.intake ?? {};
  if (!enabled) return false;
  return Boolean(intake.running || intake.backfill?.status === 'running' || !intake.feed?.lastPolledAt);
}

// firstRunDue is when the scheduler, which runs every minute, will have
// picked a newly enabled source up: a minute after its backfill was asked
// for. Null when that time is unknown.
export function firstRunDue(status) {
  const started = Date.parse(status?.intake?.backfill?.startedAt ?? '');
  return Number.isNaN(started) ? null : new Date(started + 60000);
}

// healthOf sums a source's status up in one word: what an admin scanning
// the list needs to know first. Only the intake (the change feed or the
// backfill failing) is an error of the source; records that failed are
// counted, since one bad record says nothing of the other thousands.
export function healthOf(enabled, status, now = Date.now()) {
  const intake = status?.intake ?? {};
  const intakeError = intake.feed?.lastError || intake.backfill?.lastError;
  if (!enabled) return { kind: 'off', key: 'health.paused' };
  if (intakeError) return { kind: 'error', key: 'health.error', title: intakeError };
  if ((status?.waiting?.count ?? 0) > 0) return { kind: 'warn', key: 'health.retrying', args: { n: status.waiting.count } };
  const failed = status?.stats?.lastHour?.failed ?? 0;
  if (failed > 0) return { kind: 'warn', key: 'health.failures', args: { n: failed }, title: status.lastErrorResolved ? undefined : status.lastError };
  if ((status?.lagSeconds ?? intake.feed?.lagSeconds ?? 0) > 600) return { kind: 'warn', key: 'health.lagging' };
  const backfill = intake.backfill;
  if (backfill?.status === 'running' && ((backfill.total ?? 0) > 0 || (backfill.enqueued ?? 0) > 0)) {
    return { kind: 'info', key: 'health.backfilling', args: { done: backfill.enqueued ?? 0, total: backfill.total ?? 0 } };
  }
  if (backfill?.status === 'running' || (!intake.feed?.lastPolledAt && !status?.lastProcessedAt)) {
    const due = firstRunDue(status);
    if (due && due.getTime() > now) return { kind: 'info', key: 'health.firstRunBy', args: { time: formatTime(due) } };
    return { kind: 'info', key: 'health.firstRunSoon' };
  }
  return { kind: 'ok', key: 'health.healthy' };
}

export function healthBadge(enabled, status) {
  const health = healthOf(enabled, status);
  const el = badge(health.kind, health.key, health.args);
  if (health.title) el.title = health.title;
  return el;
}
