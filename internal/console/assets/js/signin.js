// The sign-in screen: the workspace's bearer token (printed by the local
// stack; a JWT in AWS), checked against the API and kept for this tab only.

import { call, setToken, ApiError } from './api.js';
import { h, field, alertBox, showAlert, pageTitle } from './dom.js';
import { t } from './i18n.js';

export function renderSignIn(ctx, done) {
  const input = h('input', { type: 'password', autocomplete: 'off', spellcheck: 'false', required: true });
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'button primary', t: 'signin.submit' });
  const form = h('form', { class: 'panel signin', novalidate: true },
    pageTitle('signin.title'),
    h('p', { class: 'lead', t: 'signin.intro' }),
    alert,
    field({ id: 'token', labelKey: 'signin.token', input, hintKey: 'signin.tokenHint' }),
    h('div', { class: 'actions' }, submit));
  if (ctx.flash?.key) showAlert(alert, ctx.flash.kind, t(ctx.flash.key));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) {
      showAlert(alert, 'error', t('signin.empty'));
      input.focus();
      return;
    }
    submit.disabled = true;
    try {
      await call('GET', '/v1/workspace', { bearer: value, signal: ctx.signal });
      setToken(value);
      done();
    } catch (err) {
      if (err.name === 'AbortError') return;
      const refused = err instanceof ApiError && (err.status === 401 || err.status === 403);
      showAlert(alert, 'error', refused ? t('signin.refused') : err.message);
      input.focus();
    } finally {
      submit.disabled = false;
    }
  });
  ctx.main.append(form);
  input.focus();
  document.title = `${t('signin.title')} · hubsend`;
}
