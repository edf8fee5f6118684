// Admin: API keys (create, list, revoke) and per-customer quota overrides.

import { api, session, PERMS } from '../api.js';
import {
  h, replace, clear, field, checkField, showProblem, clearErrors, problemBox, loading, dataTable, card, pageHeader,
  showSecret, openDialog, announce, timeEl, cellTime, isQuiet, busy, copyLine, permTag,
} from '../ui.js';
import { quotaContent } from './account.js';

export function adminView(root, ctx) {
  const { signal } = ctx;
  const page = h('div', { class: 'page' }, pageHeader('Admin'));
  root.append(page);
  // A customer's own admin key manages its customer's keys only; quotas and
  // internal keys are the operators' (internal admin keys).
  const operator = !!(session.me && session.me.internal);
  page.append(keysCard(signal, operator));
  if (operator) page.append(quotaCard(signal));
}

function keysCard(signal, operator) {
  const secretSlot = h('div', { class: 'secret-slot', id: 'key-secret' });
  const listSlot = h('div', {}, loading('Loading keys…', 'keys-loading'));
  const listErr = h('div', { class: 'problem-slot', id: 'keys-error' });
  const filter = h('input', { type: 'search', id: 'keys-filter', autocomplete: 'off', placeholder: 'Filter by prefix, name or customer' });
  let keys = [];
  let table = null;

  // ---- create
  const name = h('input', { type: 'text', maxlength: '100', autocomplete: 'off' });
  const customer = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', placeholder: 'e.g. acme42' });
  const permBoxes = PERMS.map((p) => checkField({ id: `key-perm-${p.replace(':', '-')}`, name: `perm-${p}`, label: p, checked: p.startsWith('database:') }));
  const internal = checkField({ id: 'key-internal', name: 'internal', label: 'Internal key (may act for any customer)' });
  if (!operator) {
    internal.hidden = true;
    customer.value = session.me.customer_id;
    customer.readOnly = true;
    // It may grant only what it holds itself.
    PERMS.forEach((p, i) => {
      const box = permBoxes[i].querySelector('input');
      if (!session.me.permissions.includes(p)) Object.assign(box, { checked: false, disabled: true });
    });
  }
  const errSlot = h('div', { class: 'problem-slot', id: 'key-create-error' });
  const submit = h('button', { type: 'submit', class: 'btn primary', id: 'key-create-submit' }, 'Create key');
  const form = h('form', { id: 'key-form', class: 'stack', novalidate: true },
    h('div', { class: 'form-grid' },
      field({ id: 'key-name', name: 'name', label: 'Name', input: name, optional: true, hint: 'What the key is for, e.g. “billing service”.' }),
      field({ id: 'key-customer', name: 'customer_id', label: 'Customer', input: customer, hint: '1 to 24 lowercase letters and digits.' })),
    h('fieldset', { class: 'checks', 'data-field': 'permissions' },
      h('legend', {}, 'Permissions'),
      permBoxes,
      h('p', { class: 'field-error', id: 'key-permissions-error', hidden: true })),
    internal,
    errSlot,
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form, errSlot);
    const body = {
      customer_id: customer.value.trim(),
      permissions: PERMS.filter((p, i) => permBoxes[i].querySelector('input').checked),
      internal: internal.querySelector('input').checked,
    };
    if (name.value.trim()) body.name = name.value.trim();
    try {
      const k = await busy(submit, 'Creating…', () => api('POST', '/v1/admin/keys', { body, signal }));
      name.value = '';
      showSecret(secretSlot, {
        heading: `API key ${k.prefix} created`,
        label: 'API key',
        secret: k.key,
        warning: 'This key will not be shown again.',
        extra: [h('p', { class: 'hint' }, `Customer ${k.customer_id}; permissions: ${k.permissions.join(', ') || 'none'}${k.internal ? '; internal' : ''}.`)],
      });
      announce(`Key ${k.prefix} created`);
      load();
    } catch (err) {
      if (isQuiet(err)) return;
      showProblem(form, err, errSlot);
    }
  });

  // ---- list
  function revoke(k) {
    openDialog({
      title: `Revoke key ${k.prefix}?`,
      body: [h('p', {}, 'Requests with this key fail from now on. ', h('strong', {}, 'This cannot be undone.'))],
      confirmLabel: 'Revoke key',
      danger: true,
      onConfirm: () => api('DELETE', `/v1/admin/keys/${encodeURIComponent(k.id)}`, { signal }),
    }).then((res) => {
      if (!res) return;
      announce(`Key ${k.prefix} revoked`);
      load();
    });
  }
  const columns = [
    { key: 'prefix', label: 'Prefix', sort: (r) => r.prefix, render: (r) => h('code', {}, r.prefix) },
    { key: 'name', label: 'Name', sort: (r) => r.name, render: (r) => r.name || h('span', { class: 'muted' }, '—') },
    { key: 'customer_id', label: 'Customer', sort: (r) => r.customer_id, render: (r) => h('code', {}, r.customer_id) },
    { key: 'permissions', label: 'Permissions', render: (r) => h('span', { class: 'tags' }, r.permissions.map(permTag), r.internal ? h('span', { class: 'tag internal' }, 'internal') : null) },
    { key: 'created_at', label: 'Created', sort: (r) => r.created_at, render: (r) => cellTime(r.created_at) },
    { key: 'last_used_at', label: 'Last used', sort: (r) => r.last_used_at || '', render: (r) => cellTime(r.last_used_at) },
    {
      key: 'status', label: 'Status', sort: (r) => (r.revoked_at ? 'revoked' : 'active'),
      render: (r) => (r.revoked_at ? h('span', { class: 'badge status-deleted', title: r.revoked_at }, 'revoked') : h('span', { class: 'badge status-active' }, 'active')),
    },
    {
      key: 'actions', label: 'Actions', class: 'actions-cell',
      render: (r) => {
        if (r.revoked_at) return h('span', { class: 'muted' }, '—');
        if (r.prefix === session.me.key_prefix) return h('span', { class: 'muted small' }, 'this key');
        return h('button', { type: 'button', class: 'btn small danger-outline', 'data-action': 'revoke', 'data-prefix': r.prefix, 'aria-label': `Revoke key ${r.prefix}`, onclick: () => revoke(r) }, 'Revoke');
      },
    },
  ];
  function applyFilter() {
    if (!table) return;
    const q = filter.value.trim().toLowerCase();
    table.setRows(q ? keys.filter((k) => k.prefix.toLowerCase().includes(q) || (k.name || '').toLowerCase().includes(q) || k.customer_id.includes(q)) : keys);
  }
  filter.addEventListener('input', applyFilter);
  async function load() {
    try {
      const res = await api('GET', '/v1/admin/keys', { signal });
      keys = res.keys;
      clear(listErr);
      if (!table) {
        table = dataTable({
          id: 'keys-table', caption: 'API keys', columns, rows: keys, sortKey: 'created_at', sortDir: 'desc',
          rowAttrs: (r) => ({ 'data-prefix': r.prefix, 'data-revoked': r.revoked_at ? 'true' : 'false' }),
          emptyText: 'No keys match.',
        });
        replace(listSlot, table.el);
      }
      applyFilter();
    } catch (err) {
      if (isQuiet(err)) return;
      replace(listErr, problemBox(err));
      if (!table) clear(listSlot);
    }
  }
  load();
  return card({
    id: 'keys', title: 'API keys',
    actions: [h('label', { for: 'keys-filter', class: 'visually-hidden' }, 'Filter keys'), filter],
    children: [secretSlot, h('details', { class: 'create-details', open: true }, h('summary', {}, 'Create a key'), form), listErr, listSlot],
  });
}

function quotaCard(signal) {
  const customer = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', placeholder: 'e.g. acme42' });
  const num = (step) => h('input', { type: 'number', min: '0', step, inputmode: 'decimal', placeholder: 'default' });
  const maxDb = num('1');
  const maxStorage = num('any');
  const maxPg = num('1');
  const maxMy = num('1');
  const errSlot = h('div', { class: 'problem-slot', id: 'quota-error' });
  const result = h('div', { id: 'quota-result' });
  const submit = h('button', { type: 'submit', class: 'btn primary', id: 'quota-submit' }, 'Save override');
  const show = h('button', { type: 'button', class: 'btn', id: 'quota-show', hidden: !session.me.internal }, 'Show current quota');
  const value = (input) => {
    const v = input.value.trim();
    if (v === '') return null;
    const n = Number(v);
    return Number.isFinite(n) ? n : v;
  };
  const form = h('form', { id: 'quota-form', class: 'stack', novalidate: true },
    field({ id: 'quota-customer', name: 'customer_id', label: 'Customer', input: customer }),
    h('div', { class: 'form-grid' },
      field({ id: 'quota-max-databases', name: 'max_databases', label: 'Databases', input: maxDb }),
      field({ id: 'quota-max-storage', name: 'max_storage_gb', label: 'Storage (GB)', input: maxStorage }),
      field({ id: 'quota-max-postgresql', name: 'max_postgresql', label: 'PostgreSQL databases', input: maxPg }),
      field({ id: 'quota-max-mariadb', name: 'max_mariadb', label: 'MariaDB databases', input: maxMy })),
    h('p', { class: 'hint' }, 'Empty fields use the configured defaults. Storage 0 means unlimited.'),
    errSlot,
    h('div', { class: 'actions' }, submit, show));
  function needCustomer() {
    const c = customer.value.trim();
    if (!c) {
      const slot = form.querySelector('#quota-customer-error');
      slot.textContent = 'Enter the customer id.';
      slot.hidden = false;
      customer.setAttribute('aria-invalid', 'true');
      customer.focus();
      return null;
    }
    return c;
  }
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form, errSlot);
    const c = needCustomer();
    if (!c) return;
    const body = { max_databases: value(maxDb), max_storage_gb: value(maxStorage), max_postgresql: value(maxPg), max_mariadb: value(maxMy) };
    try {
      const q = await busy(submit, 'Saving…', () => api('PUT', `/v1/admin/quotas/${encodeURIComponent(c)}`, { body, signal }));
      replace(result, h('h3', {}, `Quota of ${q.customer_id} now`), quotaContent(q));
      announce(`Quota of ${q.customer_id} saved`);
    } catch (err) {
      if (isQuiet(err)) return;
      showProblem(form, err, errSlot);
    }
  });
  show.addEventListener('click', async () => {
    clearErrors(form, errSlot);
    const c = needCustomer();
    if (!c) return;
    try {
      const q = await busy(show, 'Loading…', () => api('GET', '/v1/quota', { query: { customer_id: c }, signal }));
      replace(result, h('h3', {}, `Quota of ${q.customer_id}`), quotaContent(q));
    } catch (err) {
      if (isQuiet(err)) return;
      showProblem(form, err, errSlot);
    }
  });
  return card({
    id: 'quotas', title: 'Quota overrides',
    description: 'Set a customer’s limits; they replace the configured defaults for that customer.',
    children: [form, result],
  });
}

export { copyLine };
