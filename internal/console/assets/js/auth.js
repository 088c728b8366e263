// Signing in as any modern web app does: the OpenID Connect authorization
// code flow with PKCE (S256) against the deployment's identity provider
// (a Cognito user pool, another OIDC issuer, or make run's local one).
// Tokens stay in memory; only the PKCE verifier and state wait in
// sessionStorage for the trip to the sign-in page and back. The session is
// renewed with the refresh token five minutes before the ID token expires.

import { setToken } from './api.js';

const pendingKey = 'hubsend.signin';
// sessionKey marks a tab signed in through the identity provider (no
// token: a flag). A reload loses the tokens; the mark sends the tab
// straight back to the provider, whose own session signs it in again
// without a question.
const sessionKey = 'hubsend.session';
let settings = null;
let endpoints = null;
let refreshToken = '';
let idToken = '';
let renewal = 0;

// loadSettings reads /console/config.json once; {} means the deployment
// has no sign-in configured (the console then asks for a token).
export async function loadSettings() {
  if (settings) return settings;
  try {
    const res = await fetch('/console/config.json', { cache: 'no-store', credentials: 'omit' });
    settings = res.ok ? await res.json() : {};
  } catch {
    settings = {};
  }
  return settings;
}

export function configured() {
  return Boolean(settings?.clientId && (settings.authorizeUrl || settings.issuer));
}

// discover fills in what config.json leaves out from the issuer's
// discovery document (a Cognito pool's names its hosted domain's
// endpoints through config.json instead).
async function discover() {
  if (endpoints) return endpoints;
  endpoints = { authorize: settings.authorizeUrl, token: settings.tokenUrl, logout: settings.logoutUrl, cognito: Boolean(settings.logoutUrl) };
  if (!endpoints.authorize || !endpoints.token) {
    const res = await fetch(`${settings.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, { credentials: 'omit' });
    if (!res.ok) throw new Error(`the identity provider's discovery document answered ${res.status}`);
    const doc = await res.json();
    endpoints.authorize ||= doc.authorization_endpoint;
    endpoints.token ||= doc.token_endpoint;
    endpoints.logout ||= doc.end_session_endpoint;
  }
  return endpoints;
}

function redirectUri() {
  return `${location.origin}/`;
}

function randomString(bytes) {
  const data = crypto.getRandomValues(new Uint8Array(bytes));
  return base64url(data);
}

function base64url(bytes) {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// begin leaves for the identity provider's sign-in page.
export async function begin() {
  const ep = await discover();
  const verifier = randomString(32);
  const state = randomString(16);
  const nonce = randomString(16);
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  sessionStorage.setItem(pendingKey, JSON.stringify({ verifier, state, nonce, hash: location.hash }));
  const query = new URLSearchParams({
    response_type: 'code', client_id: settings.clientId, redirect_uri: redirectUri(),
    scope: settings.scope || 'openid email profile', state, nonce,
    code_challenge: base64url(new Uint8Array(digest)), code_challenge_method: 'S256',
  });
  location.assign(`${ep.authorize}?${query}`);
}

// complete finishes a sign-in when the page is the identity provider's
// redirect back. It resolves to false when it is not one, and throws when
// the sign-in failed.
export async function complete() {
  const query = new URLSearchParams(location.search);
  if (!query.has('code') && !query.has('error')) return false;
  let pending = null;
  try { pending = JSON.parse(sessionStorage.getItem(pendingKey) || 'null'); } catch { pending = null; }
  sessionStorage.removeItem(pendingKey);
  // The code is single-use; the address should not keep it.
  history.replaceState(null, '', `${location.pathname}${pending?.hash || ''}`);
  if (query.has('error')) throw new Error(query.get('error_description') || query.get('error'));
  if (!pending || query.get('state') !== pending.state) throw new Error('the sign-in answer does not match the request made from this tab');
  const ep = await discover();
  const tokens = await tokenRequest(ep.token, {
    grant_type: 'authorization_code', client_id: settings.clientId, code: query.get('code'),
    redirect_uri: redirectUri(), code_verifier: pending.verifier,
  });
  if (claims(tokens.id_token).nonce !== pending.nonce) throw new Error('the ID token was not issued for this sign-in');
  refreshToken = tokens.refresh_token || '';
  use(tokens);
  sessionStorage.setItem(sessionKey, '1');
  return true;
}

// resume signs a reloaded tab in again; it resolves to true when it left
// for the identity provider.
export async function resume() {
  if (!configured() || sessionStorage.getItem(sessionKey) !== '1') return false;
  await begin();
  return true;
}

// forget drops the mark, so a failed sign-in is not retried by itself.
export function forget() {
  sessionStorage.removeItem(sessionKey);
}

async function tokenRequest(url, form) {
  const res = await fetch(url, {
    method: 'POST', credentials: 'omit', cache: 'no-store',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok || !data.id_token) throw new Error(data.error_description || data.error || `the token endpoint answered ${res.status}`);
  return data;
}

// claims reads a JWT's payload. The API verifies it; the console only
// reads its expiry and nonce.
function claims(jwt) {
  try {
    const payload = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(payload));
  } catch {
    return {};
  }
}

// The API is called with the ID token: it carries the e-mail the audit
// trail records, and its audience is the console's client.
function use(tokens) {
  idToken = tokens.id_token;
  setToken(idToken);
  clearTimeout(renewal);
  const exp = claims(idToken).exp;
  const left = exp ? exp * 1000 - Date.now() : (tokens.expires_in || 3600) * 1000;
  if (refreshToken) renewal = setTimeout(renew, Math.max(10_000, left - 5 * 60_000));
}

// renew gets fresh tokens before the current ones expire; when it cannot,
// the session ends as an expired token would end it.
async function renew() {
  try {
    const ep = await discover();
    use(await tokenRequest(ep.token, { grant_type: 'refresh_token', client_id: settings.clientId, refresh_token: refreshToken }));
  } catch {
    refreshToken = '';
    setToken('');
    window.dispatchEvent(new CustomEvent('hubsend:unauthorized'));
  }
}

// signOut forgets the tokens and ends the identity provider's session too
// (Cognito's /logout, or the issuer's end_session_endpoint); it resolves
// to false when there is no such session to end.
export async function signOut() {
  const hint = idToken;
  clearTimeout(renewal);
  refreshToken = '';
  idToken = '';
  setToken('');
  forget();
  if (!configured() || !hint) return false;
  const ep = await discover().catch(() => null);
  if (!ep?.logout) return false;
  const query = ep.cognito
    ? new URLSearchParams({ client_id: settings.clientId, logout_uri: redirectUri() })
    : new URLSearchParams({ client_id: settings.clientId, post_logout_redirect_uri: redirectUri(), id_token_hint: hint });
  location.assign(`${ep.logout}?${query}`);
  return true;
}
