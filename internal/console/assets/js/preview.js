// The answer of a preview (a saved source's or a draft's): what the sync
// would do for one customer and the Contactsend attributes it would write.

import { h, badge } from './dom.js';

export function previewView(p) {
  const changed = new Set(p.changed ?? []);
  const actionKey = `preview.action.${p.action}`;
  return [
    h('p', null, h('strong', { t: 'preview.action' }), ' ',
      ['add', 'update', 'none', 'skip', 'keep', 'remove', 'unsubscribe', 'fail'].includes(p.action) ? h('span', { t: actionKey }) : String(p.action ?? '—'),
      p.subscriberId ? [' · ', h('span', { t: 'preview.subscriber', args: { id: p.subscriberId } })] : null),
    p.note ? h('p', { class: 'hint', text: p.note }) : null,
    (p.problems ?? []).length ? h('ul', { class: 'alert alert-warn compact' }, p.problems.map((x) => h('li', null, x.path ? `${x.path}: ${x.message}` : x.message))) : null,
    h('table', { class: 'table cards' },
      h('caption', { class: 'visually-hidden', t: 'preview.caption', args: { customer: p.customerId } }),
      h('thead', null, h('tr', null, ['preview.field', 'preview.type', 'preview.value'].map((k) => h('th', { scope: 'col', t: k })), h('th', { scope: 'col', t: 'preview.changed' }))),
      h('tbody', null, (p.attributes ?? []).map((a) => h('tr', { class: changed.has(a.field) ? 'changed' : '' },
        h('th', { scope: 'row' }, h('code', { text: a.field })),
        h('td', { cell: 'preview.type', text: a.type ?? '' }),
        h('td', { class: 'mono', cell: 'preview.value' }, a.clear ? h('span', { class: 'muted', t: 'preview.cleared' }) : String(a.value ?? '')),
        h('td', { cell: 'preview.changed' }, changed.has(a.field) ? badge('info', 'preview.yes') : ''))))),
  ];
}
