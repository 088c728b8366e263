// The sign-in screen. With an identity provider configured (the stack's
// Cognito user pool, another OIDC issuer, make run's local one) it sends
// the person to its sign-in page; a bearer token can still be pasted
// (a token from curl or a script), and is the only way without one.
// Either way, GET /v1/workspace checks the token and says the caller's role.

import { call, setToken, setRole, ApiError } from './api.js';
import { configured, begin } from './auth.js';
import { h, field, alertBox, showAlert, pageTitle } from './dom.js';
import { t } from './i18n.js';

// check asks the API who the token belongs to, and keeps it when it answers.
export async function check(value, signal) {
  const { data } = await call('GET', '/v1/workspace', { bearer: value, signal });
  setToken(value);
  setRole(data?.caller?.role);
}

export function renderSignIn(ctx, done) {
  const input = h('input', { type: 'password', autocomplete: 'off', spellcheck: 'false', required: true });
  const alert = alertBox();
  const submit = configured()
    ? h('button', { type: 'submit', class: 'button', t: 'signin.submitToken' })
    : h('button', { type: 'submit', class: 'button primary', t: 'signin.submit' });
  const tokenForm = h('form', { class: 'token-signin', novalidate: true },
    field({ id: 'token', labelKey: 'signin.token', input, hintKey: 'signin.tokenHint' }),
    h('div', { class: 'actions' }, submit));
  const panel = h('div', { class: 'panel signin' }, pageTitle('signin.title'), alert);
  if (configured()) {
    const start = h('button', { type: 'button', class: 'button primary', id: 'sign-in', t: 'signin.withProvider' });
    start.addEventListener('click', async () => {
      start.disabled = true;
      try {
        await begin();
      } catch (err) {
        showAlert(alert, 'error', t('signin.providerFailed', { reason: err.message }));
        start.disabled = false;
      }
    });
    panel.append(h('p', { class: 'lead', t: 'signin.introProvider' }), h('div', { class: 'actions' }, start),
      h('details', { id: 'token-signin' }, h('summary', { t: 'signin.withToken' }), tokenForm));
  } else {
    panel.append(h('p', { class: 'lead', t: 'signin.intro' }), tokenForm);
  }
  if (ctx.flash?.key) showAlert(alert, ctx.flash.kind, t(ctx.flash.key, ctx.flash.args));
  tokenForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) {
      showAlert(alert, 'error', t('signin.empty'));
      input.focus();
      return;
    }
    submit.disabled = true;
    try {
      await check(value, ctx.signal);
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
  ctx.main.append(panel);
  (configured() ? panel.querySelector('#sign-in') : input).focus();
  document.title = `${t('signin.title')} · hubsend`;
}
