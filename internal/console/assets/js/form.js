// The new/edit source form, as in the seed: name, description, active node,
// provider options (userKey, apiKey, userdb ID), "show fields to map", the
// subscription panel, the delete policy, save.

import { call, enc, listAll, ApiError } from './api.js';
import {
  h, append, clear, field, setFieldError, clearFieldErrors, alertBox, showAlert, hideAlert, announce, pageTitle,
} from './dom.js';
import { t, has } from './i18n.js';
import { suggestMapping } from './suggest.js';
import { previewView } from './preview.js';

export function renderForm(ctx, id) {
  const editing = id !== null;
  const state = {
    original: null, // the source as read, on edit
    etag: '',
    options: null, // field-options answer
    systems: [], // subscription systems of the userdb
    mappingShown: false,
    subRows: [], // {key, el, hub, system, webform}
    nextSubKey: 0,
    sentMapping: [], // hub field path of each fieldMapping[i] sent
    sentSubs: [], // row key of each subscriptions[i] sent
  };

  const alert = alertBox();
  // The active node is a choice among the workspace's nodes by name; nodes
  // another source serves are shown but cannot be chosen. Should the list
  // be unreadable, a text field takes the node id instead.
  const nodeSelect = h('select', { required: true }, h('option', { value: '', t: 'form.nodeLoading' }));
  const nodeText = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', required: true, class: 'mono' });
  // Suggestions for the Contacthub subscription id: the ids the
  // workspace's sources already sync. Any other id can be typed.
  const hubSubOptions = h('datalist', { id: 'f-sub-hub-options' });
  const inputs = {
    name: h('input', { type: 'text', autocomplete: 'off', required: true, maxlength: '200' }),
    description: h('textarea', { rows: '2', maxlength: '1000' }),
    node: nodeSelect,
    userKey: h('input', { type: 'password', autocomplete: 'off', spellcheck: 'false' }),
    apiKey: h('input', { type: 'password', autocomplete: 'off', spellcheck: 'false' }),
    userDb: h('input', { type: 'text', inputmode: 'numeric', autocomplete: 'off', class: 'narrow' }),
  };
  const showButton = h('button', { type: 'button', class: 'button', id: 'show-fields', t: 'form.showFields' });
  const testButton = h('button', { type: 'button', class: 'button ghost', id: 'test-connection', t: 'form.test' });
  const showStatus = h('span', { class: 'muted', role: 'status' });
  const testResult = h('div', { id: 'connection-result', 'aria-live': 'polite' });

  // Finding rows in a long mapping: a filter on the names, the chosen
  // rows only, and suggested pairs for the rows left empty.
  const filterInput = h('input', { type: 'search', autocomplete: 'off', spellcheck: 'false' });
  const mappedOnly = h('input', { type: 'checkbox', id: 'mapped-only' });
  const suggestButton = h('button', { type: 'button', class: 'button small', id: 'suggest-mapping', t: 'form.mapping.suggest' });
  const filterCount = h('p', { class: 'muted small', id: 'mapping-count', role: 'status' });

  const mappingBody = h('tbody');
  const mappingPanel = h('section', { class: 'panel', id: 'mapping-panel', hidden: true, 'aria-labelledby': 'mapping-title' },
    h('h2', { id: 'mapping-title', t: 'form.mapping.title' }),
    h('p', { class: 'hint', id: 'mapping-userdb' }),
    h('p', { class: 'hint', t: 'form.mapping.intro' }),
    h('p', { class: 'field-error', id: 'mapping-error', hidden: true }),
    h('div', { class: 'mapping-tools' },
      field({ id: 'mapping-filter', labelKey: 'form.mapping.filter', input: filterInput, className: 'field compact' }),
      h('div', { class: 'check' }, mappedOnly, h('label', { for: 'mapped-only', t: 'form.mapping.mappedOnly' })),
      suggestButton),
    filterCount,
    h('div', null,
      h('table', { class: 'table mapping cards' },
        h('thead', null, h('tr', null,
          h('th', { scope: 'col', t: 'form.mapping.hubField' }),
          h('th', { scope: 'col', t: 'form.mapping.sendField' }),
          h('th', { scope: 'col', class: 'center', t: 'form.mapping.match' }),
          h('th', { scope: 'col', class: 'center', t: 'form.mapping.clearOnNull' }))),
        mappingBody)));

  const subsList = h('div', { class: 'sub-rows', id: 'sub-rows' });
  const subsEmpty = h('p', { class: 'muted', t: 'form.subs.none' });
  const addSub = h('button', { type: 'button', class: 'button add', id: 'add-subscription', label: 'form.subs.add', titleKey: 'form.subs.add' }, '+');
  const subsPanel = h('section', { class: 'panel', id: 'subs-panel', hidden: true, 'aria-labelledby': 'subs-title' },
    h('h2', { id: 'subs-title', t: 'form.subs.title' }),
    h('p', { class: 'hint', t: 'form.subs.intro' }),
    h('p', { class: 'field-error', id: 'subs-error', hidden: true }),
    subsEmpty, subsList, hubSubOptions,
    h('div', { class: 'sub-add' }, addSub, h('span', { class: 'muted', 'aria-hidden': 'true', t: 'form.subs.add' })));

  const policyUnsubscribe = h('input', { type: 'radio', name: 'onCustomerDeleted', value: 'unsubscribe', id: 'ocd-unsubscribe', checked: true });
  const policyKeep = h('input', { type: 'radio', name: 'onCustomerDeleted', value: 'keep', id: 'ocd-keep' });
  const policyRemove = h('input', { type: 'radio', name: 'onCustomerDeleted', value: 'remove', id: 'ocd-remove' });
  const policy = h('fieldset', { class: 'panel', id: 'ocd', 'aria-describedby': 'ocd-error' },
    h('legend', { t: 'form.deleted.title' }),
    h('div', { class: 'radio' }, policyUnsubscribe, h('label', { for: 'ocd-unsubscribe', t: 'form.deleted.unsubscribe' })),
    h('div', { class: 'radio' }, policyKeep, h('label', { for: 'ocd-keep', t: 'form.deleted.keep' })),
    h('div', { class: 'radio' }, policyRemove, h('label', { for: 'ocd-remove', t: 'form.deleted.remove' })),
    h('p', { class: 'field-error', id: 'ocd-error', hidden: true }));

  // What a customer without a match value becomes: a failed record to fix,
  // or a skip counted in the status.
  const unmatchableFail = h('input', { type: 'radio', name: 'onUnmatchable', value: 'fail', id: 'oum-fail', checked: true });
  const unmatchableSkip = h('input', { type: 'radio', name: 'onUnmatchable', value: 'skip', id: 'oum-skip' });
  const unmatchable = h('fieldset', { class: 'panel', id: 'oum', 'aria-describedby': 'oum-error' },
    h('legend', { t: 'form.unmatchable.title' }),
    h('div', { class: 'radio' }, unmatchableFail, h('label', { for: 'oum-fail', t: 'form.unmatchable.fail' })),
    h('div', { class: 'radio' }, unmatchableSkip, h('label', { for: 'oum-skip', t: 'form.unmatchable.skip' })),
    h('p', { class: 'field-error', id: 'oum-error', hidden: true }));

  // A preview of one customer under the form as it is, before saving.
  const previewInput = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', class: 'mono' });
  const previewButton = h('button', { type: 'button', class: 'button', id: 'draft-preview', t: 'preview.submit' });
  const previewResult = h('div', { class: 'preview-result', id: 'draft-preview-result', 'aria-live': 'polite' });
  const previewPanel = h('section', { class: 'panel', id: 'draft-preview-panel', 'aria-labelledby': 'draft-preview-title' },
    h('h2', { id: 'draft-preview-title', t: 'form.preview.title' }),
    h('div', { class: 'inline-form' },
      field({ id: 'draft-preview-customer', labelKey: 'form.preview.customer', input: previewInput, hintKey: 'form.preview.hint' }),
      previewButton),
    previewResult);

  const save = h('button', { type: 'submit', class: 'button primary', id: 'save', t: 'form.save' });
  const cancel = h('a', { class: 'button ghost', href: editing ? `#/sources/${enc(id)}` : '#/sources', t: 'form.cancel' });

  const form = h('form', { class: 'source-form', novalidate: true },
    h('section', { class: 'panel', 'aria-labelledby': 'general-title' },
      h('h2', { id: 'general-title', t: 'form.general' }),
      field({ id: 'f-name', labelKey: 'form.name', input: inputs.name, hintKey: 'form.nameHint' }),
      field({ id: 'f-description', labelKey: 'form.description', input: inputs.description, hintKey: 'form.descriptionHint' }),
      h('div', { id: 'node-field' }, field({ id: 'f-node', labelKey: 'form.node', input: inputs.node, hintKey: 'form.nodeHint' }))),
    h('section', { class: 'panel', 'aria-labelledby': 'provider-title' },
      h('h2', { id: 'provider-title', t: 'form.provider' }),
      h('p', { class: 'hint', t: editing ? 'form.providerIntroEdit' : 'form.providerIntro' }),
      h('div', { class: 'grid-3' },
        field({ id: 'f-userKey', labelKey: 'form.userKey', input: inputs.userKey }),
        field({ id: 'f-apiKey', labelKey: 'form.apiKey', input: inputs.apiKey }),
        field({ id: 'f-userDb', labelKey: 'form.userDb', input: inputs.userDb })),
      h('div', { class: 'actions left' }, showButton, testButton, showStatus),
      testResult),
    mappingPanel,
    subsPanel,
    policy,
    unmatchable,
    previewPanel,
    h('div', { class: 'actions form-actions' }, save, cancel));

  const title = pageTitle(editing ? 'form.editTitle' : 'form.newTitle');
  ctx.main.append(
    h('p', { class: 'breadcrumb' }, h('a', { href: '#/sources', t: 'nav.backToSources' })),
    title, alert, form);

  // --- subscription rows -------------------------------------------------

  function systemLabel(sys) { return `${sys.name} (${sys.id})`; }

  function fillSystems(select, selected) {
    const value = selected ?? select.value;
    clear(select).append(h('option', { value: '', t: 'form.subs.choose' }));
    for (const sys of state.systems) select.append(h('option', { value: String(sys.id), text: systemLabel(sys) }));
    if (value && !state.systems.some((s) => String(s.id) === String(value))) {
      select.append(h('option', { value: String(value), text: `${value} — ${t('form.subs.unknownSystem')}` }));
    }
    select.value = value ? String(value) : '';
  }

  function addSubRow(values = {}, focus = false) {
    const key = state.nextSubKey++;
    const hub = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', list: 'f-sub-hub-options', value: values.hubSubscriptionId ?? '' });
    const system = h('select');
    const webform = h('input', { type: 'text', autocomplete: 'off', inputmode: 'numeric', class: 'mono', value: values.webformCode ?? '' });
    fillSystems(system, values.sendSubscriptionId ? String(values.sendSubscriptionId) : '');
    const row = { key, hub, system, webform, autoWebform: !values.webformCode };
    const remove = h('button', { type: 'button', class: 'button ghost danger remove', label: 'form.subs.remove', t: 'form.subs.removeShort' });
    system.addEventListener('change', () => {
      const sys = state.systems.find((s) => String(s.id) === system.value);
      if (sys && (row.autoWebform || webform.value === '')) {
        webform.value = sys.webformCode;
        row.autoWebform = true;
      }
    });
    webform.addEventListener('input', () => { row.autoWebform = false; });
    remove.addEventListener('click', () => {
      const index = state.subRows.indexOf(row);
      state.subRows.splice(index, 1);
      row.el.remove();
      renumberSubRows();
      announce(t('form.subs.removed'));
      const next = state.subRows[index] ?? state.subRows[index - 1];
      (next ? next.hub : addSub).focus();
    });
    row.remove = remove;
    row.el = h('fieldset', { class: 'sub-row', data: { key: String(key) } },
      h('legend', { class: 'visually-hidden', t: 'form.subs.row', args: { n: 0 } }),
      field({ id: `sub-${key}-hub`, labelKey: 'form.subs.hub', input: hub }),
      field({ id: `sub-${key}-system`, labelKey: 'form.subs.system', input: system }),
      field({ id: `sub-${key}-webform`, labelKey: 'form.subs.webform', input: webform }),
      h('div', { class: 'sub-remove' }, remove));
    state.subRows.push(row);
    subsList.append(row.el);
    renumberSubRows();
    if (focus) hub.focus();
    return row;
  }

  function renumberSubRows() {
    state.subRows.forEach((row, i) => {
      const legend = row.el.querySelector('legend');
      legend.dataset.i18nArgs = JSON.stringify({ n: i + 1 });
      legend.textContent = t('form.subs.row', { n: i + 1 });
      row.remove.dataset.i18nArgs = JSON.stringify({ n: i + 1 });
      row.remove.setAttribute('aria-label', t('form.subs.remove', { n: i + 1 }));
    });
    subsEmpty.hidden = state.subRows.length > 0;
  }

  addSub.addEventListener('click', () => {
    addSubRow({}, true);
    announce(t('form.subs.added', { n: state.subRows.length }));
  });

  // --- field mapping -----------------------------------------------------

  function currentMapping() {
    if (!state.mappingShown) {
      const map = new Map();
      for (const m of state.original?.properties.fieldMapping ?? []) map.set(m.hubField, m);
      return map;
    }
    const map = new Map();
    for (const tr of mappingBody.children) {
      const select = tr.querySelector('select');
      if (!select.value) continue;
      map.set(tr.dataset.path, {
        hubField: tr.dataset.path,
        sendField: select.value,
        match: tr.querySelector('.match').checked,
        clearOnNull: tr.querySelector('.clear').checked,
      });
    }
    return map;
  }

  function renderMapping() {
    const chosen = currentMapping();
    clear(mappingBody);
    const db = state.options.userDb;
    const info = document.getElementById('mapping-userdb');
    info.dataset.i18n = 'form.mapping.userdb';
    info.dataset.i18nArgs = JSON.stringify({ id: db.id, name: db.name || '' });
    info.textContent = t('form.mapping.userdb', { id: db.id, name: db.name || '' });
    state.options.hubFields.forEach((f, i) => {
      const previous = chosen.get(f.path);
      const select = h('select', { class: 'send' }, h('option', { value: '', t: 'form.mapping.none' }));
      for (const o of f.options) select.append(h('option', { value: o.name, text: `${o.name} · ${o.type}` }));
      if (previous && !f.options.some((o) => o.name === previous.sendField)) {
        select.append(h('option', { value: previous.sendField, text: `${previous.sendField} — ${t('form.mapping.notOffered')}` }));
      }
      if (f.options.length === 0 && !previous) {
        select.disabled = true;
        select.firstChild.dataset.i18n = 'form.mapping.noOption';
        select.firstChild.textContent = t('form.mapping.noOption');
      }
      select.value = previous?.sendField ?? '';
      const match = h('input', { type: 'checkbox', class: 'match', checked: previous?.match });
      const clearBox = h('input', { type: 'checkbox', class: 'clear', checked: previous?.clearOnNull });
      const sync = () => {
        const mapped = select.value !== '';
        match.disabled = !mapped;
        clearBox.disabled = !mapped || match.checked;
        if (!mapped) { match.checked = false; clearBox.checked = false; }
        if (match.checked) clearBox.checked = false;
        tr.classList.toggle('mapped', mapped);
      };
      // Contacthub labels its standard fields in English; the console
      // has them in every language. A workspace's own fields keep theirs.
      const labelKey = `hubField.${f.path}`;
      const known = has(labelKey);
      const name = known ? t(labelKey) : (f.label || f.path);
      const tr = h('tr', { data: { path: f.path, search: `${name} ${f.label ?? ''} ${f.path}`.toLowerCase() } },
        h('th', { scope: 'row' },
          known ? h('div', { class: 'hub-label', t: labelKey }) : h('div', { class: 'hub-label', text: name }),
          h('div', { class: 'muted small' }, h('code', { text: f.path }), ' · ', f.type),
          // A real customer's value, when the API sends one (sample).
          f.sample !== undefined && f.sample !== null && f.sample !== ''
            ? h('div', { class: 'sample small', t: 'form.mapping.sample', args: { value: String(f.sample) } }) : null,
          h('span', { class: 'badge badge-info suggested-mark', t: 'form.mapping.suggested' })),
        h('td', { cell: 'form.mapping.sendField' }, field({ id: `map-${i}-send`, labelKey: 'form.mapping.sendFieldFor', input: select, hiddenLabel: true, className: 'field compact' })),
        h('td', { class: 'center', cell: 'form.mapping.match' }, field({ id: `map-${i}-match`, labelKey: 'form.mapping.matchFor', input: match, hiddenLabel: true, className: 'field compact' })),
        h('td', { class: 'center', cell: 'form.mapping.clearOnNull' }, field({ id: `map-${i}-clear`, labelKey: 'form.mapping.clearFor', input: clearBox, hiddenLabel: true, className: 'field compact' })));
      tr.sync = sync;
      // The hidden labels name the Contacthub field they belong to.
      for (const label of tr.querySelectorAll('label')) {
        label.dataset.i18nArgs = JSON.stringify({ field: name });
        label.textContent = t(label.dataset.i18n, { field: name });
      }
      // A choice the admin makes is theirs, no longer a suggestion.
      select.addEventListener('change', () => { tr.classList.remove('suggested'); sync(); filterRows(); });
      match.addEventListener('change', () => { tr.classList.remove('suggested'); sync(); });
      sync();
      mappingBody.append(tr);
    });
    state.mappingShown = true;
    mappingPanel.hidden = false;
    filterRows();
  }

  // applySuggestions fills the rows left empty with the obvious pairs (same
  // name or meaning, a compatible type, a Contactsend field not chosen
  // yet), and proposes the e-mail as match field when none is chosen. It
  // returns how many rows it filled.
  function applySuggestions() {
    const rows = [...mappingBody.children];
    const taken = new Set(rows.map((tr) => tr.querySelector('select').value).filter(Boolean));
    const hasMatch = rows.some((tr) => tr.querySelector('.match').checked);
    const fields = state.options.hubFields.filter((f) => !rows.find((tr) => tr.dataset.path === f.path)?.querySelector('select').value);
    const suggestions = suggestMapping(fields, taken, { proposeMatch: !hasMatch });
    let filled = 0;
    for (const tr of rows) {
      const s = suggestions.get(tr.dataset.path);
      if (!s) continue;
      tr.querySelector('select').value = s.sendField;
      tr.querySelector('.match').checked = s.match;
      tr.classList.add('suggested');
      tr.sync();
      filled++;
    }
    filterRows();
    return filled;
  }

  suggestButton.addEventListener('click', () => {
    const n = applySuggestions();
    announce(t(n ? 'form.mapping.suggestedN' : 'form.mapping.suggestedNone', { n }));
  });

  function filterRows() {
    const words = filterInput.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    let total = 0;
    for (const tr of mappingBody.children) {
      total++;
      const text = `${tr.dataset.search} ${tr.querySelector('select').value.toLowerCase()}`;
      const visible = (!mappedOnly.checked || tr.classList.contains('mapped')) && words.every((w) => text.includes(w));
      tr.hidden = !visible;
      if (visible) shown++;
    }
    const mapped = mappingBody.querySelectorAll('tr.mapped').length;
    const args = { shown, total, mapped };
    filterCount.dataset.i18n = 'form.mapping.count';
    filterCount.dataset.i18nArgs = JSON.stringify(args);
    filterCount.textContent = t('form.mapping.count', args);
  }
  filterInput.addEventListener('input', filterRows);
  mappedOnly.addEventListener('change', filterRows);

  // --- show fields to map ------------------------------------------------

  function keysChanged() {
    return inputs.userKey.value !== '' || inputs.apiKey.value !== '';
  }

  function userDbValue() {
    const raw = inputs.userDb.value.trim();
    if (raw === '') return 0;
    return /^[0-9]{1,15}$/.test(raw) ? Number(raw) : NaN;
  }

  function providerDraft() {
    const properties = { userDbId: userDbValue() };
    if (inputs.userKey.value !== '') properties.userKey = inputs.userKey.value;
    if (inputs.apiKey.value !== '') properties.apiKey = inputs.apiKey.value;
    const draft = { properties };
    if (editing) draft.sourceId = id;
    return draft;
  }

  async function showFields({ quiet = false } = {}) {
    for (const fid of ['f-userKey', 'f-apiKey', 'f-userDb']) setFieldError(fid, '');
    if (Number.isNaN(userDbValue())) {
      setFieldError('f-userDb', t('form.userDbInvalid'));
      inputs.userDb.focus();
      return false;
    }
    if (!quiet) hideAlert(alert);
    showButton.disabled = true;
    showStatus.dataset.i18n = 'form.loadingFields';
    showStatus.textContent = t('form.loadingFields');
    const saved = editing && !keysChanged() && userDbValue() === state.original?.properties.userDbId;
    const draft = providerDraft();
    const [fields, systems] = await Promise.allSettled(saved
      ? [call('GET', `/v1/sources/${enc(id)}/field-options`, { signal: ctx.signal }),
        call('GET', `/v1/sources/${enc(id)}/subscription-systems`, { signal: ctx.signal })]
      : [call('POST', '/v1/field-options', { body: draft, signal: ctx.signal }),
        call('POST', '/v1/subscription-systems', { body: draft, signal: ctx.signal })]);
    showButton.disabled = false;
    delete showStatus.dataset.i18n;
    showStatus.textContent = '';
    if (fields.status === 'rejected') {
      if (fields.reason.name === 'AbortError') return false;
      reportError(fields.reason, 'form.error.fieldsNotShown');
      return false;
    }
    state.options = fields.value.data;
    renderMapping();
    // A new mapping starts from the obvious pairs, marked as suggested.
    let suggested = 0;
    if (!editing && !mappingBody.querySelector('tr.mapped')) suggested = applySuggestions();
    state.systems = systems.status === 'fulfilled' ? systems.value.data.elements : [];
    for (const row of state.subRows) fillSystems(row.system);
    subsPanel.hidden = false;
    if (!quiet) {
      announce(t(suggested ? 'form.fieldsShownSuggested' : 'form.fieldsShown', { n: state.options.hubFields.length, suggested }));
      mappingPanel.querySelector('select:not([disabled])')?.focus();
    }
    return true;
  }
  showButton.addEventListener('click', () => showFields());

  // --- test connection -------------------------------------------------------

  async function testConnection() {
    for (const fid of ['f-userKey', 'f-apiKey', 'f-userDb']) setFieldError(fid, '');
    if (Number.isNaN(userDbValue())) {
      setFieldError('f-userDb', t('form.userDbInvalid'));
      inputs.userDb.focus();
      return;
    }
    hideAlert(alert);
    testButton.disabled = true;
    clear(testResult).append(h('p', { class: 'muted', t: 'form.testing' }));
    const draft = providerDraft();
    const node = nodeValue();
    if (node) draft.nodes = [node];
    try {
      const { data } = await call('POST', '/v1/connection-tests', { body: draft, signal: ctx.signal });
      clear(testResult).append(
        h('p', { class: data.ok ? 'alert-title ok' : 'alert-title bad', t: data.ok ? 'form.testOk' : 'form.testFailed' }),
        h('ul', { class: 'checks' }, (data.checks ?? []).map((c) => h('li', { class: c.ok ? 'check-ok' : 'check-bad', data: { check: c.name } },
          h('span', { class: 'check-mark', 'aria-hidden': 'true', text: c.ok ? '✓' : '✗' }),
          h('strong', { t: `form.check.${c.name}` }), ' ',
          h('span', { class: 'visually-hidden', t: c.ok ? 'form.check.passed' : 'form.check.failed' }), ' ',
          c.message))));
      testResult.className = `connection-result ${data.ok ? 'alert alert-success' : 'alert alert-error'}`;
    } catch (err) {
      if (err.name === 'AbortError') return;
      clear(testResult);
      testResult.className = '';
      reportError(err, 'form.error.notTested');
    } finally {
      testButton.disabled = false;
    }
  }
  testButton.addEventListener('click', testConnection);

  // --- errors --------------------------------------------------------------

  // fieldFor finds the input that an API problem path is about.
  function fieldFor(path) {
    const simple = {
      name: 'f-name', description: 'f-description', nodes: 'f-node', 'nodes[0]': 'f-node',
      'properties.userKey': 'f-userKey', 'properties.apiKey': 'f-apiKey', 'properties.userDbId': 'f-userDb',
      'properties.onCustomerDeleted': 'ocd', 'properties.onUnmatchable': 'oum',
      'properties.fieldMapping': 'mapping', 'properties.subscriptions': 'subs',
      customerId: 'draft-preview-customer', email: 'draft-preview-customer',
    };
    if (path in simple) return simple[path];
    let m = path.match(/^properties\.fieldMapping\[(\d+)\](?:\.(\w+))?$/);
    if (m) {
      const hubPath = state.sentMapping[Number(m[1])];
      const tr = hubPath && [...mappingBody.children].find((r) => r.dataset.path === hubPath);
      if (!tr) return 'mapping';
      const part = { match: '.match', clearOnNull: '.clear' }[m[2]] ?? 'select';
      return tr.querySelector(part).id;
    }
    m = path.match(/^properties\.subscriptions\[(\d+)\](?:\.(\w+))?$/);
    if (m) {
      const key = state.sentSubs[Number(m[1])];
      const row = state.subRows.find((r) => r.key === key);
      if (!row) return 'subs';
      return { hubSubscriptionId: row.hub.id, sendSubscriptionId: row.system.id, webformCode: row.webform.id }[m[2]] ?? row.hub.id;
    }
    return null;
  }

  function placeProblem(p) {
    const target = fieldFor(p.path || '');
    if (!target) return false;
    if (target === 'mapping' || target === 'subs' || target === 'ocd' || target === 'oum') {
      const el = document.getElementById(`${target}-error`);
      if (!el) return false;
      if (target === 'mapping') mappingPanel.hidden = false;
      if (target === 'subs') subsPanel.hidden = false;
      el.textContent = el.hidden ? p.message : `${el.textContent} ${p.message}`;
      el.hidden = false;
      return true;
    }
    return setFieldError(target, p.message);
  }

  // reportError shows what went wrong; invalidKey titles a 400/422, which
  // is about the source not saved unless another action says otherwise.
  function reportError(err, invalidKey = 'form.error.invalid') {
    if (!(err instanceof ApiError)) {
      showAlert(alert, 'error', err.message);
      alert.focus();
      return;
    }
    if (err.status === 409 && err.requirements.length) {
      showRefused(err);
      return;
    }
    const unplaced = err.problems.filter((p) => !placeProblem(p));
    let titleKey = null;
    if (err.status === 400 || err.status === 422) titleKey = invalidKey;
    if (err.status === 412) titleKey = 'form.error.stale';
    const title = titleKey ? h('p', { class: 'alert-title', t: titleKey }) : h('p', { class: 'alert-title', text: err.message });
    const details = unplaced.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message));
    if (titleKey && err.problems.length === 0) details.push(err.message);
    showAlert(alert, 'error', title, details);
    if (err.status === 412) {
      alert.append(h('button', { type: 'button', class: 'button', t: 'form.reload', on: { click: () => ctx.navigate(location.hash) } }));
    }
    alert.focus();
  }

  function showRefused(err) {
    clear(alert);
    alert.className = 'alert alert-error refused';
    alert.id = 'refused';
    alert.append(h('p', { class: 'alert-title', t: 'form.refused.title' }));
    const changes = err.body.changes ?? [];
    if (changes.length) {
      alert.append(h('p', null, h('span', { t: 'form.refused.changes' }), ' ',
        changes.map((c, i) => [i ? ', ' : '', has(`change.${c}`) ? h('span', { t: `change.${c}` }) : c])));
    }
    alert.append(h('p', { t: 'form.refused.needs' }));
    alert.append(h('ul', { class: 'requirements' }, err.requirements.map((r) => h('li', { data: { requirement: r.requirement } },
      has(`req.${r.requirement}`) ? h('span', { t: `req.${r.requirement}` }) : r.message))));
    alert.append(h('p', { class: 'hint', t: 'form.refused.help' }));
    alert.hidden = false;
    alert.focus();
  }

  // --- save ----------------------------------------------------------------

  function sourceBody() {
    const properties = {
      userDbId: userDbValue(),
      fieldMapping: [],
      subscriptions: [],
      onCustomerDeleted: [policyUnsubscribe, policyKeep, policyRemove].find((r) => r.checked)?.value ?? 'unsubscribe',
    };
    // A policy this form does not offer is kept as it is unless changed.
    const stored = state.original?.properties.onCustomerDeleted;
    if (stored && !['keep', 'remove'].includes(stored) && !state.policyTouched) properties.onCustomerDeleted = stored;
    if (inputs.userKey.value !== '') properties.userKey = inputs.userKey.value;
    if (inputs.apiKey.value !== '') properties.apiKey = inputs.apiKey.value;
    if (state.original) properties.maxInFlight = state.original.properties.maxInFlight;
    properties.onUnmatchable = unmatchableSkip.checked ? 'skip' : 'fail';
    // An unset stored policy (the default, fail) stays unset unless changed.
    if (state.original && !state.original.properties.onUnmatchable && unmatchableFail.checked) properties.onUnmatchable = '';
    state.sentMapping = [];
    for (const m of currentMapping().values()) {
      const entry = { hubField: m.hubField, sendField: m.sendField, match: Boolean(m.match) };
      if (m.clearOnNull && !m.match) entry.clearOnNull = true;
      properties.fieldMapping.push(entry);
      state.sentMapping.push(m.hubField);
    }
    state.sentSubs = [];
    if (state.mappingShown || !state.original) {
      for (const row of state.subRows) {
        const hub = row.hub.value.trim();
        const webform = row.webform.value.trim();
        if (!hub && !row.system.value && !webform) continue; // an untouched row is no row
        properties.subscriptions.push({ hubSubscriptionId: hub, sendSubscriptionId: Number(row.system.value) || 0, webformCode: webform });
        state.sentSubs.push(row.key);
      }
    } else {
      properties.subscriptions = state.original.properties.subscriptions;
    }
    const node = nodeValue();
    const body = {
      name: inputs.name.value.trim(),
      description: inputs.description.value.trim(),
      nodes: node ? [node] : [],
      properties,
    };
    // A new source starts disabled: enabling it is the switch on its page,
    // which also starts the first backfill.
    if (!editing) body.enabled = false;
    return body;
  }

  // --- preview of the draft ---------------------------------------------------

  async function previewDraft() {
    clearFieldErrors(form);
    hideAlert(alert);
    const who = previewInput.value.trim();
    if (!who) {
      setFieldError('draft-preview-customer', t('form.preview.required'));
      previewInput.focus();
      return;
    }
    if (Number.isNaN(userDbValue())) {
      setFieldError('f-userDb', t('form.userDbInvalid'));
      inputs.userDb.focus();
      return;
    }
    const { name, description, enabled, ...draft } = sourceBody();
    if (editing) draft.sourceId = id;
    // An address finds the customer through Contacthub's search; anything
    // else is a customer id.
    if (who.includes('@')) draft.email = who; else draft.customerId = who;
    previewButton.disabled = true;
    clear(previewResult).append(h('p', { class: 'muted', t: 'form.preview.running' }));
    try {
      const { data } = await call('POST', '/v1/preview', { body: draft, signal: ctx.signal });
      append(clear(previewResult), previewView(data));
    } catch (err) {
      if (err.name === 'AbortError') return;
      clear(previewResult);
      if (err instanceof ApiError && err.status === 404 && err.problems.some((p) => p.path === 'email')) {
        setFieldError('draft-preview-customer', err.message);
        previewInput.focus();
        return;
      }
      reportError(err, 'form.error.notPreviewed');
    } finally {
      previewButton.disabled = false;
    }
  }
  previewButton.addEventListener('click', previewDraft);
  previewInput.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault();
      previewDraft();
    }
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    hideAlert(alert);
    alert.removeAttribute('id');
    clearFieldErrors(form);
    if (Number.isNaN(userDbValue())) {
      setFieldError('f-userDb', t('form.userDbInvalid'));
      inputs.userDb.focus();
      return;
    }
    save.disabled = true;
    try {
      const body = sourceBody();
      const res = editing
        ? await call('PUT', `/v1/sources/${enc(id)}`, { body, ifMatch: state.etag, signal: ctx.signal })
        : await call('POST', '/v1/sources', { body, signal: ctx.signal });
      ctx.navigate(`#/sources/${enc(res.data.id)}`, { kind: 'success', key: editing ? 'form.saved' : 'form.created', args: { name: res.data.name } });
    } catch (err) {
      if (err.name !== 'AbortError') reportError(err);
    } finally {
      save.disabled = false;
    }
  });

  // --- start -----------------------------------------------------------------

  function nodeValue() {
    return (nodeText.isConnected ? nodeText : nodeSelect).value.trim();
  }

  // nodesReady fills the node choice, and resolves once the choice can
  // take the source's node. served maps a source id to its name, for the
  // nodes other sources serve.
  const nodesReady = (async () => {
    let nodes;
    let served = new Map();
    try {
      const [nodeList, sources] = await Promise.all([
        call('GET', '/v1/nodes', { signal: ctx.signal }),
        listAll('/v1/sources', ctx.signal).catch(() => []),
      ]);
      nodes = nodeList.data.elements;
      served = new Map(sources.map((src) => [src.id, src.name]));
      fillHubSubscriptionIds(sources);
    } catch (err) {
      if (err.name === 'AbortError') return;
      // Without the list (no Contacthub connection yet, or it failed) the
      // node is typed as its id.
      const box = document.getElementById('node-field');
      nodeText.value = nodeSelect.value;
      box.replaceChildren(field({ id: 'f-node', labelKey: 'form.node', input: nodeText, hintKey: 'form.nodeHintId' }),
        h('p', { class: 'hint', id: 'f-node-unlisted', t: 'form.nodeUnlisted', args: { reason: err.message } }));
      return;
    }
    clear(nodeSelect).append(h('option', { value: '', t: 'form.nodeChoose' }));
    const groups = [['ENTRY', 'form.nodeEntries'], ['AGGREGATE', 'form.nodeAggregates']];
    for (const [kind, labelKey] of groups) {
      const members = nodes.filter((n) => (n.kind === 'AGGREGATE' ? 'AGGREGATE' : 'ENTRY') === kind);
      if (!members.length) continue;
      const group = h('optgroup', { label: t(labelKey), data: { i18nOptgroup: labelKey } });
      for (const node of members) {
        const other = node.sourceId && node.sourceId !== id;
        group.append(other
          ? h('option', { value: node.id, disabled: true, t: 'form.nodeServedBy', args: { node: node.name, source: served.get(node.sourceId) ?? node.sourceId } })
          : h('option', { value: node.id, text: node.name }));
      }
      nodeSelect.append(group);
    }
  })();

  function fillHubSubscriptionIds(sources) {
    const ids = new Set();
    for (const src of sources) for (const sub of src.properties?.subscriptions ?? []) ids.add(sub.hubSubscriptionId);
    clear(hubSubOptions).append([...ids].sort().map((v) => h('option', { value: v })));
  }

  // setNode shows the source's node as chosen, even one the workspace no
  // longer lists.
  function setNode(nodeId) {
    if (nodeText.isConnected) {
      nodeText.value = nodeId;
      return;
    }
    if (nodeId && ![...nodeSelect.options].some((o) => o.value === nodeId)) {
      nodeSelect.append(h('option', { value: nodeId, t: 'form.nodeMissing', args: { id: nodeId } }));
    }
    nodeSelect.value = nodeId;
  }

  policyKeep.addEventListener('change', () => { state.policyTouched = true; });
  policyRemove.addEventListener('change', () => { state.policyTouched = true; });

  async function load() {
    if (!editing) {
      ctx.focus();
      return;
    }
    form.hidden = true;
    try {
      const { data, etag } = await call('GET', `/v1/sources/${enc(id)}`, { signal: ctx.signal });
      state.original = data;
      state.etag = etag;
      title.dataset.i18nArgs = JSON.stringify({ name: data.name });
      title.textContent = t('form.editTitle', { name: data.name });
      cancel.href = `#/sources/${enc(id)}`;
      inputs.name.value = data.name;
      inputs.description.value = data.description;
      await nodesReady;
      setNode(data.nodes[0] ?? '');
      inputs.userKey.placeholder = data.properties.userKey;
      inputs.apiKey.placeholder = data.properties.apiKey;
      inputs.userDb.value = String(data.properties.userDbId || '');
      ({ keep: policyKeep, remove: policyRemove }[data.properties.onCustomerDeleted] ?? policyUnsubscribe).checked = true;
      (data.properties.onUnmatchable === 'skip' ? unmatchableSkip : unmatchableFail).checked = true;
      for (const s of data.properties.subscriptions) addSubRow(s);
      form.hidden = false;
      ctx.focus();
      await showFields({ quiet: true });
    } catch (err) {
      if (err.name === 'AbortError') return;
      form.hidden = false;
      reportError(err);
    }
  }
  load();
}
