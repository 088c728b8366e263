// Translation: two dictionaries with the same keys, loaded once. Elements
// carry their key in data-i18n attributes so a language switch can
// retranslate the page in place without losing what the user typed.

const languages = ['en', 'it'];
const storageKey = 'hubsend.language';
const dictionaries = {};
let current = 'en';

export async function loadDictionaries() {
  await Promise.all(languages.map(async (lang) => {
    const res = await fetch(`/console/i18n/${lang}.json`, { cache: 'no-cache' });
    if (!res.ok) throw new Error(`dictionary ${lang}: HTTP ${res.status}`);
    dictionaries[lang] = await res.json();
  }));
  current = initialLanguage();
  document.documentElement.lang = current;
}

function initialLanguage() {
  let saved = null;
  try { saved = localStorage.getItem(storageKey); } catch { /* storage may be disabled */ }
  if (languages.includes(saved)) return saved;
  const preferred = (navigator.languages && navigator.languages[0]) || navigator.language || 'en';
  return preferred.toLowerCase().startsWith('it') ? 'it' : 'en';
}

export function language() { return current; }

export function setLanguage(lang) {
  if (!languages.includes(lang)) return;
  current = lang;
  document.documentElement.lang = lang;
  try { localStorage.setItem(storageKey, lang); } catch { /* not remembered, still applied */ }
  translate(document);
}

// t returns the text for key in the current language, with {name}
// placeholders replaced from params.
export function t(key, params) {
  const text = dictionaries[current]?.[key] ?? dictionaries.en?.[key] ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

export function has(key) { return key in (dictionaries[current] ?? {}); }

function argsOf(el) {
  const raw = el.dataset.i18nArgs;
  if (!raw) return undefined;
  try { return JSON.parse(raw); } catch { return undefined; }
}

// translate rewrites every translatable text, label, placeholder and date
// under root in the current language.
export function translate(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n, argsOf(el));
  for (const el of root.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel, argsOf(el)));
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle, argsOf(el));
  for (const el of root.querySelectorAll('[data-i18n-optgroup]')) el.label = t(el.dataset.i18nOptgroup);
  for (const el of root.querySelectorAll('[data-i18n-cell]')) el.dataset.label = t(el.dataset.i18nCell);
  for (const el of root.querySelectorAll('[data-date]')) el.textContent = formatDate(el.dataset.date);
  for (const el of root.querySelectorAll('[data-duration]')) el.textContent = formatDuration(Number(el.dataset.duration));
}

export function formatDate(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(current === 'it' ? 'it-IT' : 'en-GB', { dateStyle: 'medium', timeStyle: 'medium' }).format(d);
}

// formatTime shows the time of day only, for what happens within minutes.
export function formatTime(date) {
  return new Intl.DateTimeFormat(current === 'it' ? 'it-IT' : 'en-GB', { timeStyle: 'medium' }).format(date);
}

export function formatDuration(seconds) {
  if (!Number.isFinite(seconds)) return '—';
  if (seconds < 60) return t('unit.seconds', { n: seconds });
  if (seconds < 3600) return t('unit.minutes', { n: Math.round(seconds / 60) });
  if (seconds < 86400) return t('unit.hours', { n: Math.round(seconds / 360) / 10 });
  return t('unit.days', { n: Math.round(seconds / 8640) / 10 });
}

export function formatNumber(n) {
  if (n === undefined || n === null) return '—';
  return new Intl.NumberFormat(current === 'it' ? 'it-IT' : 'en-GB').format(n);
}
