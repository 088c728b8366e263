// The list of the workspace's sources: name, node, userdb, state and sync
// health, with the way to create a new one.

import { call, enc } from './api.js';
import { h, append, badge, alertBox, showAlert, pageTitle } from './dom.js';
import { t } from './i18n.js';

export function renderList(ctx) {
  const alert = alertBox();
  const body = h('tbody');
  const more = h('button', { type: 'button', class: 'button', t: 'list.more', hidden: true });
  const empty = h('div', { class: 'empty', hidden: true },
    h('p', { t: 'list.empty' }),
    h('a', { class: 'button primary', href: '#/sources/new', t: 'list.new' }));
  const table = h('table', { class: 'table', id: 'sources' },
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
      h('a', { class: 'button primary', href: '#/sources/new', id: 'new-source', t: 'list.new' })),
    alert,
    flashBox(ctx),
    h('div', { class: 'panel flush' }, table, empty),
    h('div', { class: 'actions' }, more));
  ctx.focus();

  let cursor = '';
  async function load() {
    more.disabled = true;
    try {
      const query = cursor ? `?limit=50&cursor=${enc(cursor)}` : '?limit=50';
      const { data } = await call('GET', `/v1/sources${query}`, { signal: ctx.signal });
      for (const src of data.elements) body.append(row(ctx, src));
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

function row(ctx, src) {
  const health = h('td', { class: 'health' }, h('span', { class: 'muted', t: 'health.loading' }));
  const tr = h('tr', { data: { id: src.id } },
    h('th', { scope: 'row' },
      h('a', { href: `#/sources/${enc(src.id)}`, text: src.name || src.id }),
      src.description ? h('div', { class: 'muted small', text: src.description }) : null),
    h('td', null, h('code', { text: src.nodes[0] || '—' })),
    h('td', null, String(src.properties.userDbId || '—')),
    h('td', { class: 'state' }, src.enabled ? badge('ok', 'state.enabled') : badge('off', 'state.disabled')),
    health);
  loadHealth(ctx, src, health);
  return tr;
}

async function loadHealth(ctx, src, cell) {
  try {
    const { data } = await call('GET', `/v1/sources/${enc(src.id)}/status`, { signal: ctx.signal });
    cell.replaceChildren(healthBadge(src.enabled, data));
  } catch (err) {
    if (err.name === 'AbortError') return;
    cell.replaceChildren(h('span', { class: 'muted', t: 'health.unknown', titleKey: 'health.unknownTitle' }));
  }
}

// healthOf sums a source's status up in one word: what an admin scanning
// the list needs to know first.
export function healthOf(enabled, status) {
  const intake = status?.intake ?? {};
  const lastError = (status?.lastErrorResolved ? '' : status?.lastError) || intake.feed?.lastError || intake.backfill?.lastError;
  if (!enabled) return { kind: 'off', key: 'health.paused' };
  if (lastError) return { kind: 'error', key: 'health.error', title: lastError };
  if ((status?.waiting?.count ?? 0) > 0) return { kind: 'warn', key: 'health.retrying', args: { n: status.waiting.count } };
  if ((status?.stats?.lastHour?.failed ?? 0) > 0) return { kind: 'warn', key: 'health.failures', args: { n: status.stats.lastHour.failed } };
  if ((status?.lagSeconds ?? intake.feed?.lagSeconds ?? 0) > 600) return { kind: 'warn', key: 'health.lagging' };
  if (intake.backfill?.status === 'running') {
    const { enqueued = 0, total = 0 } = intake.backfill;
    return total > 0
      ? { kind: 'info', key: 'health.backfilling', args: { done: enqueued, total } }
      : { kind: 'info', key: 'health.backfillStarting' };
  }
  if (!intake.feed?.lastPolledAt && !status?.lastProcessedAt) return { kind: 'info', key: 'health.waiting' };
  return { kind: 'ok', key: 'health.healthy' };
}

export function healthBadge(enabled, status) {
  const health = healthOf(enabled, status);
  const el = badge(health.kind, health.key, health.args);
  if (health.title) el.title = health.title;
  return el;
}
