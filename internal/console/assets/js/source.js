// A source's page: its settings at a glance, the enable switch, sync
// status, failed records with retry, resync, the webhook secret and a
// preview of one customer's mapping. Panels whose endpoint this deployment
// lacks are hidden.

import { call, enc, ApiError } from './api.js';
import { h, append, clear, badge, alertBox, showAlert, hideAlert, announce, field, setFieldError, pageTitle } from './dom.js';
import { t, formatNumber } from './i18n.js';
import { flashBox, healthBadge } from './list.js';

export function renderSource(ctx, id) {
  const alert = alertBox();
  const title = pageTitle('source.loading');
  const head = h('div', { class: 'page-head' }, title);
  append(ctx.main, h('p', { class: 'breadcrumb' }, h('a', { href: '#/sources', t: 'nav.backToSources' })), head, flashBox(ctx), alert);
  ctx.focus();

  const base = `/v1/sources/${enc(id)}`;
  let source = null;

  async function load() {
    try {
      const { data } = await call('GET', base, { signal: ctx.signal });
      source = data;
    } catch (err) {
      if (err.name !== 'AbortError') showAlert(alert, 'error', err.message);
      return;
    }
    delete title.dataset.i18n;
    title.textContent = source.name || source.id;
    document.title = `${title.textContent} · hubsend`;
    head.append(actions());
    ctx.main.append(summary(), statusPanel(), failuresPanel(), operationsPanel(), previewPanel());
  }

  // --- header: switch, edit, delete ---------------------------------------

  function actions() {
    const sw = h('button', {
      type: 'button', role: 'switch', class: 'switch', id: 'enabled-switch',
      'aria-checked': String(source.enabled), 'aria-describedby': 'switch-help',
    }, h('span', { class: 'switch-track', 'aria-hidden': 'true' }), h('span', { t: 'source.enabledLabel' }));
    const help = h('span', { id: 'switch-help', class: 'visually-hidden', t: 'source.switchHelp' });
    const remove = h('button', { type: 'button', class: 'button ghost danger', id: 'delete-source', t: 'source.delete', hidden: source.enabled });
    sw.addEventListener('click', async () => {
      const enable = !source.enabled;
      sw.disabled = true;
      hideAlert(alert);
      try {
        const { data } = await call('POST', `${base}/${enable ? 'enable' : 'disable'}`, { signal: ctx.signal });
        source = data;
      } catch (err) {
        if (err.name === 'AbortError') return;
        showAlert(alert, 'error', err.message);
        // A 503 after enabling still enabled the source; read it again.
        try { source = (await call('GET', base, { signal: ctx.signal })).data; } catch { /* keep the old state */ }
      } finally {
        sw.disabled = false;
      }
      sw.setAttribute('aria-checked', String(source.enabled));
      remove.hidden = source.enabled;
      announce(t(source.enabled ? 'source.nowEnabled' : 'source.nowDisabled'));
      refreshStatus?.();
    });
    remove.addEventListener('click', async () => {
      if (!window.confirm(t('source.deleteConfirm', { name: source.name }))) return;
      try {
        await call('DELETE', base, { signal: ctx.signal });
        ctx.navigate('#/sources', { kind: 'success', key: 'source.deleted', args: { name: source.name } });
      } catch (err) {
        if (err.name !== 'AbortError') showAlert(alert, 'error', err.message);
      }
    });
    return h('div', { class: 'head-actions' },
      h('div', { class: 'switch-box' }, sw, help),
      h('a', { class: 'button', href: `#/sources/${enc(id)}/edit`, id: 'edit-source', t: 'source.edit' }),
      remove);
  }

  function summary() {
    const p = source.properties;
    const rows = [
      ['source.node', h('code', { text: source.nodes[0] ?? '—' })],
      ['source.userdb', String(p.userDbId)],
      ['source.keys', `userKey ${p.userKey} · apiKey ${p.apiKey}`],
      ['source.mapped', p.fieldMapping.map((m) => `${m.hubField} → ${m.sendField}${m.match ? ' ★' : ''}`).join(', ')],
      ['source.subscriptions', p.subscriptions.length
        ? p.subscriptions.map((s) => `${s.hubSubscriptionId} → ${s.sendSubscriptionId} (${s.webformCode})`).join(', ')
        : h('span', { class: 'muted', t: 'source.noSubscriptions' })],
      ['source.onDeleted', h('span', { t: `form.deleted.${['keep', 'remove'].includes(p.onCustomerDeleted) ? p.onCustomerDeleted : 'unsubscribe'}` })],
      ['source.updated', h('span', { date: source.updatedAt })],
    ];
    return h('section', { class: 'panel', 'aria-labelledby': 'summary-title' },
      h('h2', { id: 'summary-title', t: 'source.summary' }),
      source.description ? h('p', { class: 'lead', text: source.description }) : null,
      h('dl', { class: 'facts' }, rows.map(([key, value]) => [h('dt', { t: key }), h('dd', null, value)])));
  }

  // --- status --------------------------------------------------------------

  let refreshStatus = null;

  function statusPanel() {
    const body = h('div', { class: 'status-body' }, h('p', { class: 'muted', t: 'health.loading' }));
    const refresh = h('button', { type: 'button', class: 'button small', t: 'source.refresh' });
    const panel = h('section', { class: 'panel', id: 'status-panel', 'aria-labelledby': 'status-title', 'aria-busy': 'true' },
      h('div', { class: 'panel-head' }, h('h2', { id: 'status-title', t: 'status.title' }), refresh), body);
    refreshStatus = async () => {
      panel.setAttribute('aria-busy', 'true');
      try {
        const { data } = await call('GET', `${base}/status`, { signal: ctx.signal });
        append(clear(body), statusView(data));
      } catch (err) {
        if (err.name === 'AbortError') return;
        if (err instanceof ApiError && err.unavailable) panel.hidden = true;
        else clear(body).append(h('p', { class: 'field-error', text: err.message }));
      } finally {
        panel.removeAttribute('aria-busy');
      }
    };
    refresh.addEventListener('click', () => refreshStatus());
    refreshStatus();
    return panel;
  }

  function statusView(status) {
    const feed = status.intake?.feed;
    const backfill = status.intake?.backfill;
    const lastError = status.lastError;
    const stats = status.stats ?? {};
    const statRow = (key, s) => h('tr', null, h('th', { scope: 'row', t: key }),
      ['synced', 'unchanged', 'skipped', 'failed', 'removed'].map((k) => h('td', { class: `num ${k === 'failed' && s?.[k] ? 'bad' : ''}`, text: formatNumber(s?.[k] ?? 0) })));
    return [
      h('div', { class: 'status-line' }, healthBadge(status.enabled ?? source.enabled, status),
        status.lastProcessedAt ? h('span', { class: 'muted' }, h('span', { t: 'status.lastProcessed' }), ' ', h('span', { date: status.lastProcessedAt })) : null),
      lastError ? h('p', { class: 'alert alert-error compact' }, h('strong', { t: 'status.lastError' }), ' ', lastError,
        status.lastErrorAt ? [' (', h('span', { date: status.lastErrorAt }), ')'] : null) : null,
      h('div', { class: 'grid-2' },
        h('div', null,
          h('h3', { t: 'status.feed' }),
          feed ? h('dl', { class: 'facts' },
            h('dt', { t: 'status.lag' }), h('dd', { duration: status.lagSeconds ?? feed.lagSeconds ?? 0 }),
            h('dt', { t: 'status.offset' }), h('dd', { text: String(feed.offset ?? '—') }),
            h('dt', { t: 'status.lastPolled' }), h('dd', { date: feed.lastPolledAt || '' }),
            feed.lastError ? [h('dt', { t: 'status.feedError' }), h('dd', { class: 'bad', text: feed.lastError })] : null)
            : h('p', { class: 'muted', t: 'status.feedNone' })),
        h('div', null,
          h('h3', { t: 'status.backfill' }),
          backfill ? [
            h('p', null, h('span', { t: backfill.status === 'done' ? 'status.backfillDone' : 'status.backfillRunning' }), ' ',
              h('span', { t: 'status.backfillCount', args: { done: formatNumber(backfill.enqueued ?? 0), total: formatNumber(backfill.total ?? 0) } })),
            h('progress', { max: String(Math.max(backfill.total ?? 0, 1)), value: String(backfill.status === 'done' ? Math.max(backfill.total ?? 0, 1) : Math.min(backfill.enqueued ?? 0, backfill.total ?? 0)), 'aria-labelledby': 'status-title' }),
          ] : h('p', { class: 'muted', t: 'status.backfillNone' }))),
      status.stats ? h('table', { class: 'table stats' },
        h('caption', { t: 'status.stats' }),
        h('thead', null, h('tr', null, h('td'), ['status.synced', 'status.unchanged', 'status.skipped', 'status.failed', 'status.removed'].map((k) => h('th', { scope: 'col', class: 'num', t: k })))),
        h('tbody', null, statRow('status.lastHour', stats.lastHour), statRow('status.lastDay', stats.lastDay))) : null,
    ];
  }

  // --- failures ------------------------------------------------------------

  function failuresPanel() {
    const body = h('tbody');
    const empty = h('p', { class: 'muted', t: 'failures.none', hidden: true });
    const more = h('button', { type: 'button', class: 'button small', t: 'list.more', hidden: true });
    const table = h('table', { class: 'table', hidden: true },
      h('thead', null, h('tr', null,
        ['failures.customer', 'failures.kind', 'failures.reason', 'failures.attempts', 'failures.last'].map((k) => h('th', { scope: 'col', t: k })),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden', t: 'failures.actions' })))),
      body);
    const panel = h('section', { class: 'panel', id: 'failures-panel', 'aria-labelledby': 'failures-title' },
      h('h2', { id: 'failures-title', t: 'failures.title' }), empty, h('div', { class: 'table-scroll' }, table), more);
    let cursor = '';
    async function load() {
      try {
        const query = cursor ? `?cursor=${enc(cursor)}` : '';
        const { data } = await call('GET', `${base}/failures${query}`, { signal: ctx.signal });
        for (const f of data.elements ?? []) body.append(failureRow(f));
        cursor = data.nextCursor || '';
        more.hidden = !cursor;
        empty.hidden = body.children.length > 0;
        table.hidden = body.children.length === 0;
      } catch (err) {
        if (err.name === 'AbortError') return;
        if (err instanceof ApiError && err.unavailable) panel.hidden = true;
        else panel.append(h('p', { class: 'field-error', text: err.message }));
      }
    }
    function failureRow(f) {
      const retry = h('button', { type: 'button', class: 'button small', t: 'failures.retry', label: 'failures.retryFor', args: { customer: f.customerId } });
      const tr = h('tr', null,
        h('td', null, h('code', { text: f.customerId })),
        h('td', { text: f.kind ?? '' }),
        h('td', { text: f.reason ?? '' }),
        h('td', { class: 'num', text: String(f.attempts ?? '') }),
        h('td', { date: f.lastFailedAt || '' }),
        h('td', null, retry));
      retry.addEventListener('click', async () => {
        retry.disabled = true;
        try {
          await call('POST', `${base}/failures/${enc(f.customerId)}/retry`, { signal: ctx.signal });
          retry.replaceChildren(t('failures.queued'));
          retry.dataset.i18n = 'failures.queued';
          announce(t('failures.queuedFor', { customer: f.customerId }));
        } catch (err) {
          if (err.name === 'AbortError') return;
          retry.disabled = false;
          showAlert(alert, 'error', err.message);
        }
      });
      return tr;
    }
    more.addEventListener('click', load);
    load();
    return panel;
  }

  // --- resync and webhook secret -----------------------------------------

  function operationsPanel() {
    const resync = h('button', { type: 'button', class: 'button', id: 'resync', t: 'ops.resync' });
    const resyncResult = h('p', { class: 'muted', role: 'status' });
    const rotate = h('button', { type: 'button', class: 'button', id: 'webhook-secret', t: 'ops.secret' });
    const secretBox = h('div', { class: 'secret-box', hidden: true });
    resync.addEventListener('click', async () => {
      resync.disabled = true;
      try {
        await call('POST', `${base}/resync`, { signal: ctx.signal });
        resyncResult.dataset.i18n = 'ops.resyncStarted';
        resyncResult.textContent = t('ops.resyncStarted');
        refreshStatus?.();
      } catch (err) {
        if (err.name === 'AbortError') return;
        if (err instanceof ApiError && err.unavailable) {
          resync.hidden = true;
          resyncResult.dataset.i18n = 'ops.resyncUnavailable';
          resyncResult.textContent = t('ops.resyncUnavailable');
        } else {
          delete resyncResult.dataset.i18n;
          resyncResult.textContent = err.message;
        }
      } finally {
        resync.disabled = false;
      }
    });
    rotate.addEventListener('click', async () => {
      if (!window.confirm(t('ops.secretConfirm'))) return;
      rotate.disabled = true;
      try {
        const { data } = await call('POST', `${base}/webhook-secret`, { signal: ctx.signal });
        showSecret(secretBox, data);
      } catch (err) {
        if (err.name !== 'AbortError') showAlert(alert, 'error', err.message);
      } finally {
        rotate.disabled = false;
      }
    });
    return h('section', { class: 'panel', id: 'operations-panel', 'aria-labelledby': 'ops-title' },
      h('h2', { id: 'ops-title', t: 'ops.title' }),
      h('div', { class: 'op' }, h('div', null, h('h3', { t: 'ops.resyncTitle' }), h('p', { class: 'hint', t: 'ops.resyncHelp' }), resyncResult), resync),
      h('div', { class: 'op' }, h('div', null, h('h3', { t: 'ops.secretTitle' }), h('p', { class: 'hint', t: 'ops.secretHelp' })), rotate),
      secretBox);
  }

  function showSecret(box, data) {
    const origin = location.origin;
    const values = [
      ['ops.secretValue', data.secret, 'secret-value'],
      ['ops.signedUrl', origin + data.signedUrl, 'signed-url'],
      ['ops.tokenUrl', origin + data.tokenUrl, 'token-url'],
    ];
    clear(box).append(
      h('p', { class: 'alert alert-warn compact', role: 'alert', t: 'ops.secretOnce' }),
      values.map(([key, value, fid]) => {
        const input = h('input', { type: 'text', readonly: true, value, class: 'mono' });
        const copy = h('button', { type: 'button', class: 'button small', t: 'ops.copy', label: 'ops.copyWhat', args: { what: t(key) } });
        copy.addEventListener('click', async () => {
          input.select();
          try {
            await navigator.clipboard.writeText(value);
            announce(t('ops.copied'));
          } catch {
            // Without clipboard access the text stays selected for Ctrl+C.
            announce(t('ops.copyManually'));
          }
        });
        return h('div', { class: 'copy-row' }, field({ id: fid, labelKey: key, input }), copy);
      }),
      h('p', { class: 'hint', text: data.note }));
    box.hidden = false;
    box.querySelector('input').focus();
  }

  // --- preview -------------------------------------------------------------

  function previewPanel() {
    const input = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', class: 'mono' });
    const submit = h('button', { type: 'submit', class: 'button', t: 'preview.submit' });
    const result = h('div', { class: 'preview-result', 'aria-live': 'polite' });
    const form = h('form', { class: 'inline-form', novalidate: true },
      field({ id: 'preview-customer', labelKey: 'preview.customer', input, hintKey: 'preview.hint' }), submit);
    const panel = h('section', { class: 'panel', id: 'preview-panel', 'aria-labelledby': 'preview-title' },
      h('h2', { id: 'preview-title', t: 'preview.title' }), form, result);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      setFieldError('preview-customer', '');
      const customerId = input.value.trim();
      if (!customerId) {
        setFieldError('preview-customer', t('preview.required'));
        input.focus();
        return;
      }
      submit.disabled = true;
      try {
        const { data } = await call('POST', `${base}/preview`, { body: { customerId }, signal: ctx.signal });
        append(clear(result), previewView(data));
      } catch (err) {
        if (err.name === 'AbortError') return;
        if (err instanceof ApiError && err.unavailable) {
          clear(result).append(h('p', { class: 'muted', t: 'preview.unavailable' }));
          form.hidden = true;
        } else {
          const placed = err instanceof ApiError && err.problems.some((p) => p.path === 'customerId' && setFieldError('preview-customer', p.message));
          if (!placed) setFieldError('preview-customer', err.message);
          clear(result);
        }
      } finally {
        submit.disabled = false;
      }
    });
    return panel;
  }

  function previewView(p) {
    const changed = new Set(p.changed ?? []);
    const actionKey = `preview.action.${p.action}`;
    return [
      h('p', null, h('strong', { t: 'preview.action' }), ' ',
        ['add', 'update', 'none', 'skip', 'keep', 'remove', 'fail'].includes(p.action) ? h('span', { t: actionKey }) : String(p.action ?? '—'),
        p.subscriberId ? [' · ', h('span', { t: 'preview.subscriber', args: { id: p.subscriberId } })] : null),
      p.note ? h('p', { class: 'hint', text: p.note }) : null,
      (p.problems ?? []).length ? h('ul', { class: 'alert alert-warn compact' }, p.problems.map((x) => h('li', null, x.path ? `${x.path}: ${x.message}` : x.message))) : null,
      h('table', { class: 'table' },
        h('caption', { class: 'visually-hidden', t: 'preview.caption', args: { customer: p.customerId } }),
        h('thead', null, h('tr', null, ['preview.field', 'preview.type', 'preview.value'].map((k) => h('th', { scope: 'col', t: k })), h('th', { scope: 'col', t: 'preview.changed' }))),
        h('tbody', null, (p.attributes ?? []).map((a) => h('tr', { class: changed.has(a.field) ? 'changed' : '' },
          h('td', null, h('code', { text: a.field })),
          h('td', { text: a.type ?? '' }),
          h('td', { class: 'mono' }, a.clear ? h('span', { class: 'muted', t: 'preview.cleared' }) : String(a.value ?? '')),
          h('td', null, changed.has(a.field) ? badge('info', 'preview.yes') : ''))))),
    ];
  }

  load();
}
