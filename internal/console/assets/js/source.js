// A source's page: its settings at a glance, the enable switch, sync
// status, failed records with retry, resync, the webhook secret and a
// preview of one customer's mapping. Panels whose endpoint this deployment
// lacks are hidden.

import { call, enc, ApiError, canChange } from './api.js';
import { previewView } from './preview.js';
import { h, append, clear, badge, alertBox, showAlert, hideAlert, announce, field, setFieldError, pageTitle } from './dom.js';
import { t, formatNumber, formatTime } from './i18n.js';
import { flashBox, healthBadge, busy, later, firstRunDue, refreshBusyMs, refreshIdleMs } from './list.js';
import { fetchNodes, nodeView } from './nodes.js';
import { runsPanel, alertsPanel, failuresActions } from './history.js';

export function renderSource(ctx, id) {
  const alert = alertBox();
  const title = pageTitle('source.loading');
  const head = h('div', { class: 'page-head' }, title);
  append(ctx.main, h('p', { class: 'breadcrumb' }, h('a', { href: '#/sources', t: 'nav.backToSources' })), head, flashBox(ctx), alert);
  ctx.focus();

  const base = `/v1/sources/${enc(id)}`;
  let source = null;
  // Node names come from Contacthub; without them the node shows as its id.
  const nodes = fetchNodes(ctx.signal).catch(() => null);

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
    // A viewer sees the source and its health; what changes it is not
    // offered (the API would refuse it).
    head.append(canChange() ? actions() : viewerActions());
    append(ctx.main, summary(), statusPanel(), runsPanel(ctx, base, id), failuresPanel(), canChange() ? failuresActions(ctx, base, id) : null,
      canChange() ? operationsPanel() : null, previewPanel(), canChange() ? alertsPanel(ctx, base) : null);
  }

  // --- header: switch, edit, delete ---------------------------------------

  function actions() {
    // The text beside the switch says the state it is in; the hidden
    // prefix names what is switched for screen readers.
    const stateText = h('span', { class: 'switch-state' });
    const sw = h('button', {
      type: 'button', role: 'switch', class: 'switch', id: 'enabled-switch',
      'aria-checked': String(source.enabled), 'aria-describedby': 'switch-help',
    }, h('span', { class: 'switch-track', 'aria-hidden': 'true' }), h('span', { class: 'visually-hidden', t: 'source.switchName' }), stateText);
    const showState = () => {
      const key = source.enabled ? 'state.enabled' : 'state.disabled';
      stateText.dataset.i18n = key;
      stateText.textContent = t(key);
      sw.setAttribute('aria-checked', String(source.enabled));
    };
    showState();
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
      showState();
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
      h('a', { class: 'button', href: `#/history/${enc(id)}`, id: 'source-history', t: 'source.history' }),
      remove);
  }

  function viewerActions() {
    return h('div', { class: 'head-actions' },
      source.enabled ? badge('ok', 'state.enabled') : badge('off', 'state.disabled'),
      h('a', { class: 'button', href: `#/history/${enc(id)}`, id: 'source-history', t: 'source.history' }));
  }

  function summary() {
    const p = source.properties;
    const nodeCell = h('span', null, nodeView(null, source.nodes[0]));
    nodes.then((map) => { if (map) nodeCell.replaceChildren(nodeView(map, source.nodes[0], { withId: true })); });
    const rows = [
      ['source.node', nodeCell],
      ['source.userdb', String(p.userDbId)],
      ['source.keys', `userKey ${p.userKey} · apiKey ${p.apiKey}`],
      ['source.mapped', p.fieldMapping.map((m) => `${m.hubField} → ${m.sendField}${m.match ? ' ★' : ''}`).join(', ')],
      ['source.subscriptions', p.subscriptions.length
        ? p.subscriptions.map((s) => `${s.hubSubscriptionId} → ${s.sendSubscriptionId} (${s.webformCode})`).join(', ')
        : h('span', { class: 'muted', t: 'source.noSubscriptions' })],
      ['source.onDeleted', h('span', { t: `form.deleted.${['keep', 'remove'].includes(p.onCustomerDeleted) ? p.onCustomerDeleted : 'unsubscribe'}` })],
      ['source.updated', h('span', { date: source.updatedAt })],
    ];
    return h('section', { class: 'panel', id: 'summary-panel', 'aria-labelledby': 'summary-title' },
      h('h2', { id: 'summary-title', t: 'source.summary' }),
      source.description ? h('p', { class: 'lead', text: source.description }) : null,
      h('dl', { class: 'facts' }, rows.map(([key, value]) => [h('dt', { t: key }), h('dd', null, value)])));
  }

  // --- status --------------------------------------------------------------

  let refreshStatus = null;
  let reloadFailures = null;

  // The status reads itself again every few seconds while the source is
  // starting or backfilling, and every half minute otherwise; Refresh reads
  // it at once.
  function statusPanel() {
    const body = h('div', { class: 'status-body' }, h('p', { class: 'muted', t: 'health.loading' }));
    const refresh = h('button', { type: 'button', class: 'button small', id: 'refresh-status', t: 'source.refresh' });
    const updated = h('span', { class: 'muted small', id: 'status-updated' });
    const panel = h('section', { class: 'panel', id: 'status-panel', 'aria-labelledby': 'status-title', 'aria-busy': 'true' },
      h('div', { class: 'panel-head' }, h('h2', { id: 'status-title', t: 'status.title' }), h('div', { class: 'head-actions' }, updated, refresh)), body);
    // Each read schedules the next; a newer read (Refresh) supersedes the
    // schedule of the older ones, so there is one loop per page.
    let generation = 0;
    let failedBefore = null;
    refreshStatus = async () => {
      const mine = ++generation;
      panel.setAttribute('aria-busy', 'true');
      let delay = refreshIdleMs;
      try {
        const { data } = await call('GET', `${base}/status`, { signal: ctx.signal });
        if (mine !== generation) return;
        append(clear(body), statusView(data));
        const now = { time: formatTime(new Date()) };
        updated.dataset.i18n = 'status.updatedAt';
        updated.dataset.i18nArgs = JSON.stringify(now);
        updated.textContent = t('status.updatedAt', now);
        if (busy(data.enabled ?? source.enabled, data)) delay = refreshBusyMs;
        // New failed records show up in their table without a reload.
        const failed = data.stats?.lastDay?.failed ?? 0;
        if (failedBefore !== null && failed !== failedBefore) reloadFailures?.();
        failedBefore = failed;
      } catch (err) {
        if (err.name === 'AbortError') return;
        if (err instanceof ApiError && err.unavailable) {
          panel.hidden = true;
          return;
        }
        clear(body).append(h('p', { class: 'field-error', text: err.message }));
      } finally {
        if (mine === generation) panel.removeAttribute('aria-busy');
      }
      later(ctx.signal, delay, () => { if (mine === generation) refreshStatus(); });
    };
    refresh.addEventListener('click', () => refreshStatus());
    refreshStatus();
    return panel;
  }

  function statusView(status) {
    const feed = status.intake?.feed;
    const backfill = status.intake?.backfill;
    const intakeError = feed?.lastError || backfill?.lastError;
    const stats = status.stats ?? {};
    // skipped includes unmatchable; kept, unsubscribed and removed are what
    // the delete policy did to deleted customers' subscribers.
    const counters = ['synced', 'unchanged', 'skipped', 'unmatchable', 'failed', 'kept', 'unsubscribed', 'removed'];
    const statRow = (key, s) => h('tr', null, h('th', { scope: 'row', t: key }),
      counters.map((k) => h('td', { class: `num ${k === 'failed' && s?.[k] ? 'bad' : ''}`, cell: `status.${k}`, text: formatNumber(s?.[k] ?? 0) })));
    const waiting = backfill?.status === 'running' && !(backfill.total > 0) && !(backfill.enqueued > 0);
    const due = firstRunDue(status);
    let backfillView = h('p', { class: 'muted', t: 'status.backfillNone' });
    if (waiting) {
      backfillView = h('p', { id: 'first-run' }, due && due.getTime() > Date.now()
        ? h('span', { t: 'status.firstRunBy', args: { time: formatTime(due) } })
        : h('span', { t: 'status.firstRunSoon' }));
    } else if (backfill) {
      backfillView = [
        h('p', null, h('span', { t: backfill.status === 'done' ? 'status.backfillDone' : 'status.backfillRunning' }), ' ',
          h('span', { t: 'status.backfillCount', args: { done: formatNumber(backfill.enqueued ?? 0), total: formatNumber(backfill.total ?? 0) } })),
        h('progress', { max: String(Math.max(backfill.total ?? 0, 1)), value: String(backfill.status === 'done' ? Math.max(backfill.total ?? 0, 1) : Math.min(backfill.enqueued ?? 0, backfill.total ?? 0)), 'aria-labelledby': 'status-title' }),
      ];
    }
    return [
      h('div', { class: 'status-line' }, healthBadge(status.enabled ?? source.enabled, status),
        status.lastProcessedAt ? h('span', { class: 'muted' }, h('span', { t: 'status.lastProcessed' }), ' ', h('span', { date: status.lastProcessedAt })) : null),
      intakeError ? h('p', { class: 'alert alert-error compact' }, h('strong', { t: 'status.intakeError' }), ' ', intakeError) : null,
      !intakeError && status.lastError ? h('p', { class: 'muted' }, h('strong', { t: 'status.lastFailure' }), ' ', status.lastError,
        status.lastErrorAt ? [' (', h('span', { date: status.lastErrorAt }), ')'] : null,
        status.lastErrorResolved ? [' — ', h('span', { t: 'status.lastErrorResolved' }), ' ', h('span', { date: status.lastErrorResolvedAt || '' })] : null) : null,
      (status.waiting?.count ?? 0) > 0 ? h('p', { class: 'alert alert-warn compact' },
        h('span', { t: 'status.waiting', args: { n: formatNumber(status.waiting.count) } }),
        status.waiting.nextRetryAt ? [' ', h('span', { t: 'status.nextRetry' }), ' ', h('span', { date: status.waiting.nextRetryAt })] : null) : null,
      h('div', { class: 'grid-2' },
        h('div', null,
          h('h3', { t: 'status.feed' }),
          feed ? h('dl', { class: 'facts' },
            h('dt', { t: 'status.lag' }), h('dd', { duration: status.lagSeconds ?? feed.lagSeconds ?? 0 }),
            h('dt', { t: 'status.offset' }), h('dd', { text: String(feed.offset ?? '—') }),
            h('dt', { t: 'status.lastPolled' }), h('dd', { date: feed.lastPolledAt || '' }),
            feed.lastError ? [h('dt', { t: 'status.feedError' }), h('dd', { class: 'bad', text: feed.lastError })] : null)
            : h('p', { class: 'muted', t: 'status.feedNone' })),
        h('div', null, h('h3', { t: 'status.backfill' }), backfillView)),
      status.stats ? h('table', { class: 'table stats cards' },
        h('caption', { t: 'status.stats' }),
        h('thead', null, h('tr', null, h('td'), counters.map((k) => h('th', { scope: 'col', class: 'num', t: `status.${k}` })))),
        h('tbody', null, statRow('status.lastHour', stats.lastHour), statRow('status.lastDay', stats.lastDay))) : null,
    ];
  }

  // --- failures ------------------------------------------------------------

  function failuresPanel() {
    const body = h('tbody');
    const empty = h('p', { class: 'muted', t: 'failures.none', hidden: true });
    const more = h('button', { type: 'button', class: 'button small', id: 'more-failures', t: 'list.more', hidden: true });
    const problem = h('p', { class: 'field-error', hidden: true });
    const table = h('table', { class: 'table cards', id: 'failures', hidden: true },
      h('thead', null, h('tr', null,
        ['failures.customer', 'failures.kind', 'failures.reason', 'failures.attempts', 'failures.last'].map((k) => h('th', { scope: 'col', t: k })),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden', t: 'failures.actions' })))),
      body);
    // Finding one customer's record among many: by customer id or e-mail.
    const searchInput = h('input', { type: 'search', autocomplete: 'off', spellcheck: 'false' });
    const search = h('form', { class: 'inline-form', role: 'search', novalidate: true },
      field({ id: 'failures-search', labelKey: 'failures.search', input: searchInput, className: 'field compact' }),
      h('button', { type: 'submit', class: 'button small', t: 'failures.find' }));
    const panel = h('section', { class: 'panel', id: 'failures-panel', 'aria-labelledby': 'failures-title' },
      h('h2', { id: 'failures-title', t: 'failures.title' }), search, empty, problem, table, more);
    let cursor = '';
    let q = '';
    // A reload makes the pages still being read stale: they are dropped.
    let generation = 0;
    async function load() {
      const mine = generation;
      try {
        const params = [];
        if (q) params.push(`q=${enc(q)}`);
        if (cursor) params.push(`cursor=${enc(cursor)}`);
        const query = params.length ? `?${params.join('&')}` : '';
        const { data } = await call('GET', `${base}/failures${query}`, { signal: ctx.signal });
        if (mine !== generation) return;
        for (const f of data.elements ?? []) body.append(failureRow(f));
        cursor = data.nextCursor || '';
        more.hidden = !cursor;
        empty.hidden = body.children.length > 0;
        table.hidden = body.children.length === 0;
        problem.hidden = true;
      } catch (err) {
        if (err.name === 'AbortError') return;
        if (err instanceof ApiError && err.unavailable) panel.hidden = true;
        else {
          problem.textContent = err.message;
          problem.hidden = false;
        }
      }
    }
    reloadFailures = () => {
      generation++;
      cursor = '';
      clear(body);
      load();
    };
    search.addEventListener('submit', (event) => {
      event.preventDefault();
      q = searchInput.value.trim();
      empty.dataset.i18n = q ? 'failures.noneFound' : 'failures.none';
      empty.textContent = t(empty.dataset.i18n);
      reloadFailures();
    });
    // who names the customer as an admin knows them: e-mail and name when
    // the failed record carries them, the Contacthub id always.
    function who(f) {
      const name = [f.firstName, f.lastName].filter(Boolean).join(' ') || f.name || '';
      return h('div', { class: 'who' },
        f.email ? h('div', { class: 'who-email', text: f.email }) : null,
        name ? h('div', { class: 'who-name', text: name }) : null,
        h('code', { class: f.email || name ? 'muted small' : '', text: f.customerId }));
    }
    function failureRow(f) {
      const label = f.email || f.customerId;
      const retry = h('button', { type: 'button', class: 'button small retry', t: 'failures.retry', label: 'failures.retryFor', args: { customer: label } });
      const tr = h('tr', { data: { customer: f.customerId } },
        h('td', { cell: 'failures.customer' }, who(f)),
        h('td', { cell: 'failures.kind', text: f.kind ?? '' }),
        h('td', { cell: 'failures.reason', text: f.reason ?? '' }),
        h('td', { class: 'num', cell: 'failures.attempts', text: String(f.attempts ?? '') }),
        h('td', { cell: 'failures.last', date: f.lastFailedAt || '' }),
        h('td', null, canChange() ? retry : null));
      retry.addEventListener('click', async () => {
        retry.disabled = true;
        try {
          await call('POST', `${base}/failures/${enc(f.customerId)}/retry`, { signal: ctx.signal });
          retry.replaceChildren(t('failures.queued'));
          retry.dataset.i18n = 'failures.queued';
          // The name keeps the text shown, as speech input users say it.
          retry.dataset.i18nLabel = 'failures.queuedLabel';
          retry.setAttribute('aria-label', t('failures.queuedLabel', { customer: label }));
          announce(t('failures.queuedFor', { customer: label }));
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
    // append (not Element.append) flattens the list of rows.
    append(clear(box),
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
    box.querySelector('input')?.focus();
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
      const who = input.value.trim();
      if (!who) {
        setFieldError('preview-customer', t('preview.required'));
        input.focus();
        return;
      }
      submit.disabled = true;
      try {
        // An address finds the customer through Contacthub's search.
        const body = who.includes('@') ? { email: who } : { customerId: who };
        const { data } = await call('POST', `${base}/preview`, { body, signal: ctx.signal });
        append(clear(result), previewView(data));
      } catch (err) {
        if (err.name === 'AbortError') return;
        if (err instanceof ApiError && err.unavailable) {
          clear(result).append(h('p', { class: 'muted', t: 'preview.unavailable' }));
          form.hidden = true;
        } else {
          const placed = err instanceof ApiError && err.problems.some((p) => (p.path === 'customerId' || p.path === 'email') && setFieldError('preview-customer', p.message));
          if (!placed) setFieldError('preview-customer', err.message);
          clear(result);
        }
      } finally {
        submit.disabled = false;
      }
    });
    return panel;
  }

  load();
}
