// The history: who changed what, newest first, for the workspace or one
// source. Secrets appear only as "changed"; the API never records them.

import { call, enc } from './api.js';
import { h, append, alertBox, showAlert, pageTitle } from './dom.js';
import { t } from './i18n.js';

export function renderAudit(ctx, sourceId) {
  const alert = alertBox();
  const body = h('tbody');
  const more = h('button', { type: 'button', class: 'button', id: 'more-history', t: 'list.more', hidden: true });
  const empty = h('p', { class: 'empty', t: 'history.empty', hidden: true });
  const table = h('table', { class: 'table cards', id: 'history' },
    h('caption', { class: 'visually-hidden', t: 'history.caption' }),
    h('thead', null, h('tr', null,
      h('th', { scope: 'col', t: 'history.when' }),
      h('th', { scope: 'col', t: 'history.who' }),
      h('th', { scope: 'col', t: 'history.what' }),
      h('th', { scope: 'col', t: 'history.changes' }))),
    body);
  append(ctx.main,
    sourceId ? h('p', { class: 'breadcrumb' }, h('a', { href: `#/sources/${enc(sourceId)}`, t: 'history.backToSource' })) : null,
    pageTitle(sourceId ? 'history.sourceTitle' : 'history.title'),
    h('p', { class: 'lead', t: 'history.intro' }),
    alert,
    h('div', { class: 'panel flush' }, table, empty),
    h('div', { class: 'actions' }, more));
  ctx.focus();

  let cursor = '';
  async function load() {
    more.disabled = true;
    try {
      const query = new URLSearchParams({ limit: '50' });
      if (sourceId) query.set('sourceId', sourceId);
      if (cursor) query.set('cursor', cursor);
      const { data } = await call('GET', `/v1/audit?${query}`, { signal: ctx.signal });
      for (const entry of data.elements) body.append(row(entry));
      cursor = data.nextCursor || '';
      more.hidden = !cursor;
      empty.hidden = body.children.length > 0;
      table.hidden = body.children.length === 0;
    } catch (err) {
      if (err.name !== 'AbortError') showAlert(alert, 'error', err.message);
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener('click', load);
  load();
}

function row(entry) {
  const what = h('td', { cell: 'history.what' }, h('span', { t: `history.action.${entry.action}` }));
  if (entry.sourceId) {
    what.append(' ', h('a', { class: 'mono small', href: `#/sources/${enc(entry.sourceId)}`, text: entry.sourceId }));
  }
  if (entry.customerId) what.append(' ', h('span', { class: 'mono small', text: entry.customerId }));
  return h('tr', { data: { action: entry.action } },
    h('td', { cell: 'history.when', date: entry.at }),
    h('td', { cell: 'history.who', text: entry.actor.email || entry.actor.subject, title: entry.actor.subject }),
    what,
    h('td', { cell: 'history.changes' }, changes(entry.changes)));
}

function changes(list) {
  if (!list.length) return h('span', { class: 'muted', text: '—' });
  return h('ul', { class: 'changes' }, ...list.map((c) => h('li', null,
    h('code', { text: c.path }), ' ',
    c.secret
      ? h('span', { class: 'badge', t: 'history.secretChanged' })
      : h('span', null, h('del', { text: show(c.before) }), ' → ', h('ins', { text: show(c.after) })))));
}

function show(value) {
  if (value === undefined || value === null) return '—';
  return typeof value === 'string' ? value : JSON.stringify(value);
}
