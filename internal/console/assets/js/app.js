// The console's entry point: language, sign-in and the hash router that
// picks a screen. Screens live in their own modules and render into <main>.

import { loadDictionaries, setLanguage, language, translate, t } from './i18n.js';
import { token, setToken, role } from './api.js';
import { loadSettings, complete, resume, forget, signOut } from './auth.js';
import { clear, h } from './dom.js';
import { renderSignIn, check } from './signin.js';
import { renderAudit } from './audit.js';
import { renderList } from './list.js';
import { renderForm } from './form.js';
import { renderSource } from './source.js';
import { renderCustomer } from './history.js';
import { renderWorkspace } from './workspace.js';

const routes = [
  { pattern: /^#?\/?$/, nav: 'sources', render: (ctx) => renderList(ctx) },
  { pattern: /^#\/sources\/?$/, nav: 'sources', render: (ctx) => renderList(ctx) },
  { pattern: /^#\/sources\/new$/, nav: 'sources', render: (ctx) => renderForm(ctx, null) },
  { pattern: /^#\/sources\/([^/]+)\/edit$/, nav: 'sources', render: (ctx, id) => renderForm(ctx, id) },
  { pattern: /^#\/sources\/([^/]+)$/, nav: 'sources', render: (ctx, id) => renderSource(ctx, id) },
  { pattern: /^#\/sources\/([^/]+)\/customers\/([^/]+)$/, nav: 'sources', render: (ctx, id, customer) => renderCustomer(ctx, id, customer) },
  { pattern: /^#\/workspace$/, nav: 'workspace', render: (ctx) => renderWorkspace(ctx) },
  { pattern: /^#\/history$/, nav: 'history', render: (ctx) => renderAudit(ctx, '') },
  { pattern: /^#\/history\/([^/]+)$/, nav: 'history', render: (ctx, id) => renderAudit(ctx, id) },
];

let controller = null;
// flash is a message for the next screen ("source saved").
let flash = null;

function navigate(hash, message) {
  flash = message ?? null;
  if (location.hash === hash) route();
  else location.hash = hash;
}

function route() {
  controller?.abort();
  controller = new AbortController();
  const main = document.getElementById('main');
  clear(main);
  const signedIn = Boolean(token());
  document.getElementById('nav').hidden = !signedIn;
  document.getElementById('sign-out').hidden = !signedIn;
  // Styles and screens read the role to leave out what a viewer cannot do.
  document.body.dataset.role = signedIn ? role() : '';
  const ctx = { main, signal: controller.signal, navigate, flash, focus: () => focusTitle(main) };
  flash = null;
  if (!signedIn) {
    renderSignIn(ctx, () => route());
    return;
  }
  let hash = location.hash || '#/sources';
  // A viewer's address for a form shows the list: saving would be refused.
  if (role() !== 'admin' && /^#\/sources\/(new|[^/]+\/edit)$/.test(hash)) hash = '#/sources';
  for (const r of routes) {
    const m = hash.match(r.pattern);
    if (!m) continue;
    for (const link of document.querySelectorAll('#nav a')) {
      if (link.dataset.route === r.nav) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    r.render(ctx, ...m.slice(1).map(decodeURIComponent));
    return;
  }
  main.append(h('h1', { t: 'app.notFound', tabindex: '-1', class: 'page-title' }),
    h('p', null, h('a', { href: '#/sources', t: 'nav.backToSources' })));
  focusTitle(main);
}

// focusTitle moves focus to the new screen's heading, so keyboard and
// screen reader users start at the top of what just appeared.
function focusTitle(main) {
  const title = main.querySelector('h1');
  if (title) title.focus({ preventScroll: false });
  document.title = title ? `${title.textContent} · hubsend` : 'hubsend';
}

async function start() {
  try {
    await loadDictionaries();
  } catch (err) {
    const main = document.getElementById('main');
    clear(main).append(h('p', { class: 'alert alert-error', text: `The console could not load its texts: ${err.message}` }));
    return;
  }
  const select = document.getElementById('language');
  select.value = language();
  select.addEventListener('change', () => {
    setLanguage(select.value);
    const title = document.querySelector('main h1');
    document.title = title ? `${title.textContent} · hubsend` : 'hubsend';
  });
  document.getElementById('sign-out').addEventListener('click', async () => {
    if (!(await signOut())) navigate('#/sources', { kind: 'success', key: 'signin.signedOut' });
  });
  window.addEventListener('hubsend:unauthorized', () => {
    setToken('');
    flash = { kind: 'error', key: 'signin.expired' };
    route();
  });
  window.addEventListener('hashchange', route);
  translate(document);
  await loadSettings();
  try {
    // Back from the identity provider's sign-in page, or reloaded?
    if (await complete()) await check(token());
    else if (await resume()) return;
  } catch (err) {
    setToken('');
    forget();
    flash = { kind: 'error', key: 'signin.providerFailed', args: { reason: err.message } };
  }
  document.body.dataset.ready = 'true';
  route();
}

start();
