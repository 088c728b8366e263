// Building the DOM node by node: values from the API are always text, never markup.

import { t, formatDate, formatDuration } from './i18n.js';

// h makes an element. Special props: t (translation key for the text),
// args (its parameters), label (translation key for aria-label),
// placeholderKey, titleKey, on (event listeners), date (ISO time shown in
// the current language), duration (seconds), cell (translation key of the
// column a cell belongs to) and data (dataset entries).
// Other props become attributes (true → present, false/null → absent).
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    switch (name) {
      case 't':
        el.dataset.i18n = value;
        el.textContent = t(value, props.args);
        break;
      case 'args':
        el.dataset.i18nArgs = JSON.stringify(value);
        break;
      case 'label':
        el.dataset.i18nLabel = value;
        el.setAttribute('aria-label', t(value, props.args));
        break;
      case 'placeholderKey':
        el.dataset.i18nPlaceholder = value;
        el.placeholder = t(value);
        break;
      case 'titleKey':
        el.dataset.i18nTitle = value;
        el.title = t(value, props.args);
        break;
      case 'on':
        for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
        break;
      case 'cell':
        // The column name a table cell shows before its value when the
        // table is laid out as cards on a narrow screen.
        el.dataset.i18nCell = value;
        el.dataset.label = t(value);
        break;
      case 'date':
        el.dataset.date = value;
        el.textContent = formatDate(value);
        break;
      case 'duration':
        el.dataset.duration = String(value);
        el.textContent = formatDuration(value);
        break;
      case 'data':
        Object.assign(el.dataset, value);
        break;
      case 'text':
        el.textContent = value;
        break;
      case 'value':
        el.value = value;
        break;
      case 'checked':
      case 'selected':
        el[name] = Boolean(value);
        break;
      default:
        el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  appendList(el, children);
  return el;
}

// append adds children to el, flattening arrays and skipping null,
// undefined and false, as h does.
export function append(el, ...children) {
  appendList(el, children);
  return el;
}

function appendList(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) appendList(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

let announceTimer = 0;

// announce tells screen reader users about something that changed away
// from their focus (a save, a switch, a copied secret).
export function announce(message) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => { region.textContent = message; }, 50);
}

// field makes a labelled input with room for a hint and an error, wired
// with aria-describedby so both are read with the input.
export function field({ id, labelKey, input, hintKey, hintArgs, hiddenLabel = false, className = 'field' }) {
  input.id = id;
  const describedBy = [];
  let hint = null;
  if (hintKey) {
    hint = h('p', { class: 'hint', id: `${id}-hint`, t: hintKey, args: hintArgs });
    describedBy.push(hint.id);
  }
  const error = h('p', { class: 'field-error', id: `${id}-error`, hidden: true });
  describedBy.push(error.id);
  input.setAttribute('aria-describedby', describedBy.join(' '));
  const label = h('label', { for: id, t: labelKey, class: hiddenLabel ? 'visually-hidden' : null });
  return h('div', { class: className }, label, input, hint, error);
}

// setFieldError shows message under the input with id (or clears it).
export function setFieldError(id, message) {
  const input = document.getElementById(id);
  const error = document.getElementById(`${id}-error`);
  if (!input || !error) return false;
  if (message) {
    error.textContent = message;
    error.hidden = false;
    input.setAttribute('aria-invalid', 'true');
  } else {
    error.textContent = '';
    error.hidden = true;
    input.removeAttribute('aria-invalid');
  }
  return true;
}

export function clearFieldErrors(root) {
  for (const el of root.querySelectorAll('.field-error')) {
    el.textContent = '';
    el.hidden = true;
  }
  for (const el of root.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

// alertBox is the message area on top of a form; role=alert makes screen
// readers announce it as soon as it is filled.
export function alertBox() {
  return h('div', { class: 'alert', role: 'alert', tabindex: '-1', hidden: true });
}

export function showAlert(box, kind, title, details = []) {
  clear(box);
  box.className = `alert alert-${kind}`;
  box.append(title instanceof Node ? title : h('p', { class: 'alert-title', text: title }));
  if (details.length) box.append(h('ul', null, details.map((d) => h('li', null, d))));
  box.hidden = false;
}

export function hideAlert(box) {
  clear(box);
  box.hidden = true;
}

// badge is a small coloured state label.
export function badge(kind, key, args) {
  return h('span', { class: `badge badge-${kind}`, t: key, args });
}

export function pageTitle(key, args) {
  return h('h1', { t: key, args, tabindex: '-1', class: 'page-title' });
}
