// The workspace's Contacthub nodes, shown by the names admins know them by.

import { call } from './api.js';
import { h } from './dom.js';

// fetchNodes reads the workspace's nodes into a map by id.
export async function fetchNodes(signal) {
  const { data } = await call('GET', '/v1/nodes', { signal });
  return new Map(data.elements.map((node) => [node.id, node]));
}

// nodeView shows a node by name, with its id in small type when withId is
// set (the id is what the API and Contacthub's own console use). A node
// the workspace no longer has shows as its id.
export function nodeView(nodes, id, { withId = false } = {}) {
  if (!id) return h('span', { text: '—' });
  const node = nodes?.get(id);
  if (!node) return h('code', { class: 'node-id', text: id });
  return h('span', { class: 'node', title: id },
    h('span', { class: 'node-name', text: node.name }),
    withId ? h('code', { class: 'node-id muted small', text: id }) : null);
}
