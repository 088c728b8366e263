// What a source did and why: its runs with a chart of the last days,
// finding a customer's consent trail (by id or e-mail), the customer's
// trail page with its CSV export, and the source's alert settings.

import { call, enc, token, ApiError } from './api.js';
import { h, append, clear, alertBox, showAlert, hideAlert, announce, field, pageTitle } from './dom.js';
import { t, formatNumber } from './i18n.js';

// runsPanel shows the chart of the last days and the latest runs.
export function runsPanel(ctx, base, sourceID) {
  const chart = h('div', { class: 'chart', id: 'runs-chart', role: 'img', label: 'runs.chartLabel' });
  const body = h('tbody');
  const empty = h('p', { class: 'muted', t: 'runs.none', hidden: true });
  const problem = h('p', { class: 'field-error', hidden: true });
  const table = h('table', { class: 'table cards', id: 'runs', hidden: true },
    h('thead', null, h('tr', null,
      ['runs.started', 'runs.trigger', 'runs.read', 'runs.changed', 'runs.unchanged', 'runs.failed', 'runs.calls'].map((k) => h('th', { scope: 'col', t: k })))),
    body);
  const panel = h('section', { class: 'panel', id: 'runs-panel', 'aria-labelledby': 'runs-title' },
    h('h2', { id: 'runs-title', t: 'runs.title' }), chart, findCustomer(ctx, base, sourceID), empty, problem,
    h('div', { class: 'table-scroll' }, table));
  (async () => {
    try {
      const { data } = await call('GET', `${base}/runs?limit=20`, { signal: ctx.signal });
      drawChart(chart, data.days ?? []);
      for (const r of data.elements ?? []) body.append(runRow(r));
      empty.hidden = body.children.length > 0;
      table.hidden = body.children.length === 0;
    } catch (err) {
      if (err.name === 'AbortError') return;
      if (err instanceof ApiError && err.unavailable) panel.hidden = true;
      else {
        problem.textContent = err.message;
        problem.hidden = false;
      }
    }
  })();
  return panel;
}

function runRow(r) {
  const failed = r.failed ?? 0;
  return h('tr', { data: { run: r.id } },
    h('td', { cell: 'runs.started', date: r.startedAt || '' }),
    h('td', { cell: 'runs.trigger', t: `runs.trigger.${r.trigger}` }),
    h('td', { class: 'num', cell: 'runs.read', text: formatNumber(r.read ?? 0) }),
    h('td', { class: 'num', cell: 'runs.changed', text: formatNumber(r.changed ?? 0) }),
    h('td', { class: 'num', cell: 'runs.unchanged', text: formatNumber(r.unchanged ?? 0) }),
    h('td', { class: `num ${failed ? 'bad' : ''}`, cell: 'runs.failed', text: formatNumber(failed) }),
    h('td', { class: 'num', cell: 'runs.calls', t: 'runs.callsValue', args: { send: r.contactsendCalls ?? 0, hub: r.contacthubCalls ?? 0 } }));
}

// drawChart draws a bar pair (synced, failed) per day with plain elements:
// bar heights are set through the CSS object model, which the content
// security policy allows, never through style attributes.
function drawChart(chart, days) {
  clear(chart);
  const top = Math.max(1, ...days.map((d) => Math.max(d.synced, d.failed)));
  for (const d of days) {
    const bar = (kind, n) => {
      const el = h('span', { class: `bar ${kind}`, titleKey: `runs.bar.${kind}`, args: { n, day: d.day } });
      el.style.height = `${Math.round((n / top) * 100)}%`;
      return el;
    };
    chart.append(h('div', { class: 'chart-day', data: { day: d.day, synced: String(d.synced), failed: String(d.failed) } },
      h('div', { class: 'bars' }, bar('synced', d.synced), bar('failed', d.failed)),
      h('span', { class: 'chart-label', text: d.day.slice(5) })));
  }
  chart.append(h('p', { class: 'chart-legend muted small' },
    h('span', { class: 'swatch synced' }), h('span', { t: 'runs.legendSynced' }), ' ',
    h('span', { class: 'swatch failed' }), h('span', { t: 'runs.legendFailed' })));
}

// findCustomer opens a customer's trail by its Contacthub id or e-mail.
function findCustomer(ctx, base, sourceID) {
  const input = h('input', { id: 'find-customer', type: 'search', autocomplete: 'off', required: true });
  const found = h('ul', { class: 'found-customers', id: 'found-customers' });
  const problem = h('p', { class: 'field-error', hidden: true, role: 'alert' });
  const form = h('form', { class: 'inline-form', id: 'find-customer-form', novalidate: true },
    field({ id: 'find-customer', labelKey: 'history.find', input, hintKey: 'history.findHint' }),
    h('button', { type: 'submit', class: 'button small', t: 'history.open' }), problem, found);
  const open = (customerID) => ctx.navigate(`#/sources/${enc(sourceID)}/customers/${enc(customerID)}`);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    problem.hidden = true;
    clear(found);
    const value = input.value.trim();
    if (!value) return;
    if (!value.includes('@')) {
      open(value);
      return;
    }
    try {
      const { data } = await call('GET', `${base}/customers?email=${enc(value)}`, { signal: ctx.signal });
      const customers = data.elements ?? [];
      if (customers.length === 1) {
        open(customers[0].id);
        return;
      }
      if (customers.length === 0) {
        problem.textContent = t('history.notFound');
        problem.hidden = false;
        return;
      }
      for (const c of customers) {
        found.append(h('li', null, h('a', { href: `#/sources/${enc(sourceID)}/customers/${enc(c.id)}`, text: c.id })));
      }
    } catch (err) {
      if (err.name === 'AbortError') return;
      problem.textContent = err.message;
      problem.hidden = false;
    }
  });
  return form;
}

// renderCustomer is a customer's page: the consent trail, newest first,
// and its CSV export.
export function renderCustomer(ctx, sourceID, customerID) {
  const base = `/v1/sources/${enc(sourceID)}`;
  const path = `${base}/customers/${enc(customerID)}/history`;
  const alert = alertBox();
  const body = h('tbody');
  const empty = h('p', { class: 'muted', t: 'history.none', hidden: true });
  const more = h('button', { type: 'button', class: 'button small', id: 'more-history', t: 'list.more', hidden: true });
  const exportButton = h('button', { type: 'button', class: 'button small', id: 'export-history', t: 'history.export' });
  const table = h('table', { class: 'table cards', id: 'history', hidden: true },
    h('thead', null, h('tr', null,
      ['history.at', 'history.what', 'history.hub', 'history.send', 'history.rule', 'history.wrote', 'history.trigger'].map((k) => h('th', { scope: 'col', t: k })))),
    body);
  append(ctx.main,
    h('p', { class: 'breadcrumb' }, h('a', { href: `#/sources/${enc(sourceID)}`, t: 'history.backToSource' })),
    h('div', { class: 'page-head' }, pageTitle('history.title', { customer: customerID }), h('div', { class: 'head-actions' }, exportButton)),
    alert,
    h('p', { class: 'muted', t: 'history.intro' }),
    h('section', { class: 'panel', 'aria-labelledby': 'history-title' },
      h('h2', { id: 'history-title', class: 'visually-hidden', t: 'history.trail' }), empty, h('div', { class: 'table-scroll' }, table), more));
  ctx.focus();
  let cursor = '';
  async function load() {
    try {
      const query = cursor ? `?cursor=${enc(cursor)}` : '';
      const { data } = await call('GET', path + query, { signal: ctx.signal });
      for (const e of data.elements ?? []) body.append(entryRow(e));
      cursor = data.nextCursor || '';
      more.hidden = !cursor;
      empty.hidden = body.children.length > 0;
      table.hidden = body.children.length === 0;
    } catch (err) {
      if (err.name !== 'AbortError') showAlert(alert, 'error', err.message);
    }
  }
  more.addEventListener('click', load);
  exportButton.addEventListener('click', async () => {
    // The export needs the bearer token, so it is fetched and handed to
    // the browser as a file rather than linked.
    hideAlert(alert);
    try {
      await download(`${path}.csv`, `history-${customerID}.csv`, ctx.signal);
      announce(t('history.exported'));
    } catch (err) {
      if (err.name !== 'AbortError') showAlert(alert, 'error', err.message);
    }
  });
  load();
}

// download fetches a CSV export (it needs the bearer token, so it cannot
// be a plain link) and hands it to the browser as a file.
async function download(path, filename, signal) {
  // A large export comes in parts, each a CSV file with its header row,
  // the next named by a Link header: one file holds them all, one header.
  const parts = [];
  for (let next = path; next; ) {
    const res = await fetch(next, { headers: { Authorization: `Bearer ${token()}` }, cache: 'no-store', credentials: 'omit', signal });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const text = await res.text();
    parts.push(parts.length === 0 ? text : text.slice(text.indexOf('\n') + 1));
    next = nextLink(res.headers.get('Link'));
  }
  const url = URL.createObjectURL(new Blob(parts, { type: 'text/csv;charset=utf-8' }));
  const link = h('a', { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// nextLink reads the target of rel="next" from a Link header (RFC 8288);
// only a path of this API is followed.
function nextLink(header) {
  const m = /<([^>]*)>\s*;\s*rel="?next"?/.exec(header || '');
  return m && m[1].startsWith('/v1/') ? m[1] : '';
}

// failuresActions retries every failed record of the source, or exports
// them all as CSV.
export function failuresActions(ctx, base, sourceID) {
  const alert = alertBox();
  const retryAll = h('button', { type: 'button', class: 'button small', id: 'retry-all-failures', t: 'failures.retryAll' });
  const exportAll = h('button', { type: 'button', class: 'button small', id: 'export-failures', t: 'failures.export' });
  retryAll.addEventListener('click', async () => {
    hideAlert(alert);
    retryAll.disabled = true;
    try {
      // A source with many failed records is retried a part per call.
      let n = 0;
      for (let cursor = ''; ; ) {
        const body = cursor ? { all: true, cursor } : { all: true };
        const { data } = await call('POST', `${base}/failures/retry`, { body, signal: ctx.signal });
        n += data.enqueued ?? 0;
        cursor = data.nextCursor || '';
        if (!cursor) break;
      }
      showAlert(alert, 'success', t('failures.retriedAll', { n }));
    } catch (err) {
      if (err.name !== 'AbortError') showAlert(alert, 'error', err.message);
    } finally {
      retryAll.disabled = false;
    }
  });
  exportAll.addEventListener('click', async () => {
    hideAlert(alert);
    try {
      await download(`${base}/failures.csv`, `failures-${sourceID}.csv`, ctx.signal);
    } catch (err) {
      if (err.name !== 'AbortError') showAlert(alert, 'error', err.message);
    }
  });
  return h('div', { class: 'panel', id: 'failures-actions' }, alert, h('div', { class: 'actions' }, retryAll, exportAll));
}

function state(value) {
  return value ? t(`history.state.${value}`) : t('history.state.unknown');
}

function entryRow(e) {
  if (e.kind === 'data') {
    return h('tr', { class: 'data-entry' },
      h('td', { cell: 'history.at', date: e.at }),
      h('td', { cell: 'history.what', t: e.added ? 'history.dataAdded' : 'history.dataChanged', args: { fields: (e.fields ?? []).join(', ') } }),
      h('td', { cell: 'history.hub', text: '' }),
      h('td', { cell: 'history.send', text: '' }),
      h('td', { cell: 'history.rule', text: '' }),
      h('td', { cell: 'history.wrote', t: 'history.wrote.contactsend' }),
      h('td', { cell: 'history.trigger', text: e.trigger ?? '' }));
  }
  const change = (before, after) => (before === after || !after ? state(before) : `${state(before)} → ${state(after)}`);
  return h('tr', { data: { subscription: e.subscriptionId ?? '' } },
    h('td', { cell: 'history.at', date: e.at }),
    h('td', { cell: 'history.what' }, h('code', { text: e.subscriptionId ?? '' }), ' ', h('span', { t: `history.changed.${e.changed}` })),
    h('td', { cell: 'history.hub', text: change(e.hubBefore, e.hubAfter) }),
    h('td', { cell: 'history.send', text: change(e.sendBefore, e.sendAfter) }),
    h('td', { cell: 'history.rule', text: e.rule ?? '' }),
    h('td', { cell: 'history.wrote' }, h('span', { t: `history.wrote.${e.wrote}` }),
      e.webformCode ? h('span', { class: 'muted small', t: 'history.webform', args: { code: e.webformCode } }) : null,
      e.echo ? h('span', { class: 'muted small', t: 'history.echo', args: { side: t(`history.side.${e.echo}`) } }) : null),
    h('td', { cell: 'history.trigger', text: e.trigger ?? '' }));
}

// alertsPanel edits the source's alert thresholds and destinations and
// sends a test alert.
export function alertsPanel(ctx, base) {
  const alert = alertBox();
  const number = (id) => h('input', { id, type: 'number', min: '0', max: '1000000', step: '1', inputmode: 'numeric' });
  const failed = number('alert-failed');
  const lag = number('alert-lag');
  const stalled = number('alert-stalled');
  const sns = h('input', { id: 'alert-sns', type: 'checkbox' });
  const url = h('input', { id: 'alert-url', type: 'url', autocomplete: 'off', placeholder: 'https://' });
  const secret = h('input', { id: 'alert-secret', type: 'password', autocomplete: 'new-password' });
  const save = h('button', { type: 'submit', class: 'button primary small', t: 'alerts.save' });
  const test = h('button', { type: 'button', class: 'button small', id: 'alert-test', t: 'alerts.test' });
  const form = h('form', { id: 'alerts-form', novalidate: true },
    h('p', { class: 'muted', t: 'alerts.intro' }),
    field({ id: 'alert-failed', labelKey: 'alerts.failedPerHour', input: failed, hintKey: 'alerts.zeroOff' }),
    field({ id: 'alert-lag', labelKey: 'alerts.feedLagSeconds', input: lag, hintKey: 'alerts.zeroOff' }),
    field({ id: 'alert-stalled', labelKey: 'alerts.backfillStalledMinutes', input: stalled, hintKey: 'alerts.zeroOff' }),
    h('label', { class: 'checkbox' }, sns, ' ', h('span', { t: 'alerts.sns' })),
    field({ id: 'alert-url', labelKey: 'alerts.webhookUrl', input: url, hintKey: 'alerts.webhookHint' }),
    field({ id: 'alert-secret', labelKey: 'alerts.webhookSecret', input: secret, hintKey: 'alerts.secretHint' }),
    h('div', { class: 'actions' }, save, test));
  const panel = h('section', { class: 'panel', id: 'alerts-panel', 'aria-labelledby': 'alerts-title' },
    h('h2', { id: 'alerts-title', t: 'alerts.title' }), alert, form);
  const show = (s) => {
    failed.value = String(s.failedPerHour ?? 0);
    lag.value = String(s.feedLagSeconds ?? 0);
    stalled.value = String(s.backfillStalledMinutes ?? 0);
    sns.checked = Boolean(s.sns);
    url.value = s.webhookUrl ?? '';
    secret.value = s.webhookSecret ?? '';
  };
  (async () => {
    try {
      show((await call('GET', `${base}/alerts`, { signal: ctx.signal })).data);
    } catch (err) {
      if (err.name === 'AbortError') return;
      if (err instanceof ApiError && err.unavailable) panel.hidden = true;
      else showAlert(alert, 'error', err.message);
    }
  })();
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    hideAlert(alert);
    save.disabled = true;
    try {
      const body = {
        failedPerHour: Number(failed.value || 0), feedLagSeconds: Number(lag.value || 0),
        backfillStalledMinutes: Number(stalled.value || 0), sns: sns.checked,
        webhookUrl: url.value.trim(), webhookSecret: secret.value,
      };
      show((await call('PUT', `${base}/alerts`, { body, signal: ctx.signal })).data);
      showAlert(alert, 'success', t('alerts.saved'));
    } catch (err) {
      if (err.name === 'AbortError') return;
      showAlert(alert, 'error', err.message, (err.problems ?? []).map((p) => `${p.path}: ${p.message}`));
    } finally {
      save.disabled = false;
    }
  });
  test.addEventListener('click', async () => {
    hideAlert(alert);
    test.disabled = true;
    try {
      await call('POST', `${base}/alerts/test`, { signal: ctx.signal });
      showAlert(alert, 'success', t('alerts.testSent'));
    } catch (err) {
      if (err.name !== 'AbortError') showAlert(alert, 'error', err.message);
    } finally {
      test.disabled = false;
    }
  });
  return panel;
}
