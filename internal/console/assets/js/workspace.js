// Workspace settings: how hubsend reaches the workspace's Contacthub. The
// token is write-only: it is shown masked and sent only when replaced.

import { call, ApiError, canChange } from './api.js';
import { h, append, field, setFieldError, clearFieldErrors, alertBox, showAlert, hideAlert, announce, pageTitle } from './dom.js';
import { t } from './i18n.js';

export function renderWorkspace(ctx) {
  const alert = alertBox();
  const baseUrl = h('input', { type: 'url', autocomplete: 'off', spellcheck: 'false', class: 'mono' });
  const workspaceId = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', class: 'mono' });
  const token = h('input', { type: 'password', autocomplete: 'off', spellcheck: 'false' });
  const save = h('button', { type: 'submit', class: 'button primary', t: 'workspace.save' });
  const workspaceName = h('code');
  const form = h('form', { class: 'panel', novalidate: true },
    h('p', { class: 'hint' }, h('span', { t: 'workspace.id' }), ' ', workspaceName),
    field({ id: 'w-baseUrl', labelKey: 'workspace.baseUrl', input: baseUrl, hintKey: 'workspace.baseUrlHint' }),
    field({ id: 'w-workspaceId', labelKey: 'workspace.hubWorkspace', input: workspaceId }),
    field({ id: 'w-token', labelKey: 'workspace.token', input: token, hintKey: 'workspace.tokenHint' }),
    canChange() ? h('div', { class: 'actions' }, save) : null);
  if (!canChange()) {
    for (const input of [baseUrl, workspaceId, token]) input.readOnly = true;
  }
  append(ctx.main, pageTitle('workspace.title'), h('p', { class: 'lead', t: 'workspace.intro' }),
    canChange() ? null : h('p', { class: 'alert alert-info', id: 'viewer-note', t: 'role.viewer' }), alert, form);
  ctx.focus();

  const paths = { 'contacthub.baseUrl': 'w-baseUrl', 'contacthub.workspaceId': 'w-workspaceId', 'contacthub.token': 'w-token' };

  function fill(data) {
    workspaceName.textContent = data.id;
    baseUrl.value = data.contacthub?.baseUrl ?? '';
    workspaceId.value = data.contacthub?.workspaceId ?? '';
    token.value = '';
    token.placeholder = data.contacthub?.token ?? '';
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    hideAlert(alert);
    clearFieldErrors(form);
    const contacthub = { baseUrl: baseUrl.value.trim(), workspaceId: workspaceId.value.trim() };
    if (token.value !== '') contacthub.token = token.value;
    save.disabled = true;
    try {
      const { data } = await call('PUT', '/v1/workspace', { body: { contacthub }, signal: ctx.signal });
      fill(data);
      showAlert(alert, 'success', t('workspace.saved'));
      announce(t('workspace.saved'));
    } catch (err) {
      if (err.name === 'AbortError') return;
      const problems = err instanceof ApiError ? err.problems : [];
      const unplaced = problems.filter((p) => !(paths[p.path] && setFieldError(paths[p.path], p.message)));
      showAlert(alert, 'error', err.message, unplaced.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)));
      alert.focus();
    } finally {
      save.disabled = false;
    }
  });

  call('GET', '/v1/workspace', { signal: ctx.signal })
    .then(({ data }) => fill(data))
    .catch((err) => { if (err.name !== 'AbortError') showAlert(alert, 'error', err.message); });
}
