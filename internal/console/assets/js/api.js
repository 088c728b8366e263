// The config API on this origin, called with the bearer token the user
// signed in with. Every failure is an ApiError carrying the API's
// {message, errors[{path, message}], requirements[]} body.

import { language } from './i18n.js';

// The token and the caller's role live in memory only: no script of
// another tab, no extension reading storage, no page left open on a shared
// machine after it is closed keeps them.
let current = '';
let currentRole = '';

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body ?? {};
    this.problems = Array.isArray(body?.errors) ? body.errors : [];
    this.requirements = Array.isArray(body?.requirements) ? body.requirements : [];
  }

  // unavailable says the endpoint is not part of this deployment (yet), so
  // the panel that needs it is hidden rather than shown broken.
  get unavailable() {
    // The API answers in the console's language (Accept-Language).
    return this.status === 501 || (this.status === 404 && ['Not Found', 'no such endpoint', 'endpoint inesistente'].includes(this.body.message));
  }
}

export function token() {
  return current;
}

export function setToken(value) {
  current = value || '';
  if (!current) currentRole = '';
}

// role is what GET /v1/workspace said the caller may do: admin or viewer.
export function role() {
  return currentRole;
}

export function setRole(value) {
  currentRole = value || '';
}

// canChange says whether to offer controls that change something: a
// viewer's would only be refused.
export function canChange() {
  return currentRole === 'admin';
}

// call sends one request. body is sent as JSON; ifMatch sets If-Match.
// It resolves to {status, data, etag}.
export async function call(method, path, { body, ifMatch, signal, bearer } = {}) {
  // The API writes its messages in the language the console shows.
  const headers = { Accept: 'application/json', 'Accept-Language': language(), Authorization: `Bearer ${bearer ?? token()}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (ifMatch) headers['If-Match'] = ifMatch;
  let res;
  try {
    res = await fetch(path, {
      method, headers, signal, cache: 'no-store', credentials: 'omit',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, { message: `network error: ${err.message}` });
  }
  let data = null;
  if (res.status !== 204 && (res.headers.get('Content-Type') || '').includes('json')) {
    try { data = await res.json(); } catch { data = null; }
  }
  if (!res.ok) {
    const error = new ApiError(res.status, data ?? { message: res.statusText });
    if (res.status === 401 && bearer === undefined) {
      window.dispatchEvent(new CustomEvent('hubsend:unauthorized'));
    }
    throw error;
  }
  return { status: res.status, data, etag: res.headers.get('ETag') };
}

// listAll reads every page of a list endpoint and returns its elements.
export async function listAll(path, signal) {
  const elements = [];
  let cursor = '';
  do {
    const query = cursor ? `?limit=100&cursor=${encodeURIComponent(cursor)}` : '?limit=100';
    const { data } = await call('GET', path + query, { signal });
    elements.push(...(data.elements ?? []));
    cursor = data.nextCursor || '';
  } while (cursor);
  return elements;
}

export const enc = encodeURIComponent;
