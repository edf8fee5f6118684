// Databases: one list for both engines, the create form and delete.

import { api, can, session, customerQuery, dbPath } from '../api.js';
import {
  h, append, replace, clear, field, showProblem, clearErrors, problemBox, loading, dataTable, card, pageHeader,
  showSecret, openDialog, announce, statusBadge, engineBadge, fmtMB, fmtNumber, timeEl, cellTime, isQuiet, ENGINE_LABEL, ENGINE_SHORT, busy, copyLine,
} from '../ui.js';

const ENGINES = ['postgresql', 'mariadb'];

// customerPicker lets internal keys act for another customer.
export function customerPicker({ onChange, refreshHeader }) {
  if (!session.me || !session.me.internal) return null;
  const input = h('input', { type: 'text', value: session.customer || '', autocomplete: 'off', spellcheck: 'false', size: '16' });
  const errSlot = h('div', { class: 'problem-slot' });
  const form = h('form', { class: 'inline-form customer-picker', id: 'customer-form', novalidate: true },
    field({ id: 'customer-input', name: 'customer_id', label: 'Acting for customer', input, hint: 'Internal key: you may act for any customer.' }),
    h('button', { type: 'submit', class: 'btn' }, 'Switch'),
    errSlot);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearErrors(form, errSlot);
    const v = input.value.trim().toLowerCase();
    if (!/^[a-z0-9]{1,24}$/.test(v)) {
      const slot = form.querySelector('.field-error');
      slot.textContent = 'A customer id is 1 to 24 lowercase letters and digits.';
      slot.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    session.customer = v;
    if (refreshHeader) refreshHeader();
    onChange();
  });
  return form;
}

function namePreview(engine, name) {
  const customer = session.customer || (session.me && session.me.customer_id) || '{customer}';
  const suffix = name ? name.toLowerCase() : '{name}';
  return `cust_${customer}_${ENGINE_SHORT[engine]}_${suffix}`;
}

export function databasesView(root, ctx) {
  const { signal } = ctx;
  const secretSlot = h('div', { id: 'secret-slot' });
  const listSlot = h('div', { id: 'db-list' });
  const listError = h('div', { class: 'problem-slot', id: 'db-list-error' });
  const search = h('input', { type: 'search', autocomplete: 'off', placeholder: 'Filter by name or description', 'data-testid': 'db-search' });
  const refresh = h('button', { type: 'button', class: 'btn small', id: 'db-refresh', onclick: () => load() }, 'Refresh');
  let rows = [];
  let table = null;

  const page = h('div', { class: 'page' },
    pageHeader('Databases', customerPicker({ onChange: () => { rerenderCreate(); load(); }, refreshHeader: ctx.refreshHeader })),
    secretSlot);
  root.append(page);

  // ---- create
  const createSlot = h('div');
  page.append(createSlot);
  function rerenderCreate() {
    clear(createSlot);
    if (can('database:create')) createSlot.append(createCard());
  }
  function createCard() {
    const engine = h('select', {}, ENGINES.map((e) => h('option', { value: e }, ENGINE_LABEL[e])));
    const name = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', placeholder: 'e.g. orders' });
    const preview = h('code', { id: 'create-preview' }, namePreview('postgresql', ''));
    const hint = h('span', {}, 'Letters, digits and underscores, up to 30; becomes ', preview,
      '. Leave empty for a generated name.');
    const submit = h('button', { type: 'submit', class: 'btn primary', id: 'create-submit' }, 'Create database');
    const errSlot = h('div', { class: 'problem-slot', id: 'create-error' });
    const update = () => { preview.textContent = namePreview(engine.value, name.value.trim()); };
    engine.addEventListener('change', update);
    name.addEventListener('input', update);
    const form = h('form', { id: 'create-form', class: 'form-grid', novalidate: true },
      field({ id: 'create-engine', name: 'db_type', label: 'Engine', input: engine }),
      field({ id: 'create-name', name: 'requested_name', label: 'Name', input: name, hint, optional: true }),
      h('div', { class: 'actions' }, submit),
      errSlot);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearErrors(form, errSlot);
      const body = { db_type: engine.value };
      const n = name.value.trim();
      if (n) body.requested_name = n;
      if (session.me.internal && session.customer) body.customer_id = session.customer;
      try {
        const out = await busy(submit, 'Creating…', () => api('POST', '/v1/databases', { body, signal }));
        name.value = '';
        update();
        if (out.password) {
          showSecret(secretSlot, {
            heading: `Database ${out.db_name} created`,
            secret: out.password,
            extra: [
              h('div', { class: 'copy-line' },
                h('span', { class: 'copy-label' }, 'Database'),
                h('div', { class: 'copy-row' }, h('code', { id: 'secret-db', 'data-testid': 'secret-db' }, out.db_name))),
              copyLine('Connection string (with password)', out.connection_string, { id: 'secret-conn', what: 'connection string' }),
              h('p', { class: 'hint' }, 'The user name is the database name. ',
                h('a', { href: `#/databases/${out.db_type}/${encodeURIComponent(out.db_name)}` }, 'Open the database'),
                ' for connection commands.'),
            ],
          });
          announce(`Database ${out.db_name} created`);
        } else {
          announce(out.message || `Database ${out.db_name} already exists`);
        }
        load();
      } catch (err) {
        if (isQuiet(err)) return;
        showProblem(form, err, errSlot);
      }
    });
    return card({ id: 'create-card', title: 'New database', children: [form] });
  }
  rerenderCreate();

  // ---- list
  search.addEventListener('input', () => applyFilter());
  page.append(card({
    id: 'list-card', title: 'Your databases',
    actions: [h('label', { class: 'visually-hidden', for: 'db-search' }, 'Filter databases'), withId(search, 'db-search'), refresh],
    children: [listError, listSlot],
  }));

  function withId(el, id) {
    el.id = id;
    return el;
  }

  function applyFilter() {
    if (!table) return;
    const q = search.value.trim().toLowerCase();
    const shown = q ? rows.filter((r) => r.db_name.toLowerCase().includes(q) || (r.description || '').toLowerCase().includes(q) || r.db_type.includes(q)) : rows;
    table.setEmptyText(q ? `No database matches “${search.value.trim()}”.` : 'No databases yet. Create one above.');
    table.setRows(shown);
  }

  function deleteDatabase(row) {
    openDialog({
      id: 'delete-dialog',
      title: `Delete ${row.db_name}?`,
      body: [h('p', {}, 'This drops the ', ENGINE_LABEL[row.db_type], ' database, its user and its stored password. Open sessions are ended. ',
        h('strong', {}, 'This cannot be undone'), ' (snapshots of it are kept until you delete them).')],
      requireText: row.db_name,
      confirmLabel: 'Delete database',
      danger: true,
      onConfirm: () => api('DELETE', dbPath(row.db_type, row.db_name), { signal }),
    }).then((res) => {
      if (!res) return;
      announce(`Database ${row.db_name} deleted`);
      load();
    });
  }

  const columns = [
    {
      key: 'db_name', label: 'Name', sort: (r) => r.db_name,
      render: (r) => h('div', { class: 'name-cell' },
        h('a', { href: `#/databases/${r.db_type}/${encodeURIComponent(r.db_name)}`, class: 'mono', 'data-testid': 'db-link' }, r.db_name),
        r.description ? h('span', { class: 'muted small' }, r.description) : null),
    },
    { key: 'db_type', label: 'Engine', sort: (r) => r.db_type, render: (r) => engineBadge(r.db_type) },
    { key: 'status', label: 'Status', sort: (r) => r.status, render: (r) => statusBadge(r.status) },
    {
      key: 'size', label: 'Size', class: 'num', sort: (r) => (r.info ? r.info.size_mb : null),
      render: (r) => (r.info ? fmtMB(r.info.size_mb) : r.infoError ? h('span', { class: 'muted', title: r.infoError }, 'n/a') : h('span', { class: 'muted' }, '…')),
    },
    {
      key: 'connections', label: 'Connections', class: 'num', sort: (r) => (r.info ? r.info.connection_count : null),
      render: (r) => (r.info ? fmtNumber(r.info.connection_count) : r.infoError ? h('span', { class: 'muted' }, 'n/a') : h('span', { class: 'muted' }, '…')),
    },
    {
      key: 'connection_limit', label: 'Limit', class: 'num', sort: (r) => r.connection_limit,
      render: (r) => (r.connection_limit === null ? h('span', { class: 'muted' }, 'unlimited') : fmtNumber(r.connection_limit)),
    },
    { key: 'created_at', label: 'Created', sort: (r) => r.created_at, render: (r) => cellTime(r.created_at) },
    {
      key: 'actions', label: 'Actions', class: 'actions-cell',
      render: (r) => h('div', { class: 'row-actions' },
        h('a', { class: 'btn small', href: `#/databases/${r.db_type}/${encodeURIComponent(r.db_name)}`, 'aria-label': `Open ${r.db_name}` }, 'Open'),
        can('database:delete') && r.status === 'active'
          ? h('button', { type: 'button', class: 'btn small danger-outline', 'data-action': 'delete', 'data-db': r.db_name, 'aria-label': `Delete ${r.db_name}`, onclick: () => deleteDatabase(r) }, 'Delete')
          : null),
    },
  ];

  let loadSeq = 0;
  async function load() {
    const seq = ++loadSeq;
    clear(listError);
    if (!table) replace(listSlot, loading('Loading databases…', 'db-loading'));
    const results = await Promise.allSettled(ENGINES.map((e) => api('GET', `/v1/databases/${e}`, { query: customerQuery(), signal })));
    if (seq !== loadSeq || signal.aborted) return;
    const next = [];
    results.forEach((res, i) => {
      if (res.status === 'fulfilled') {
        next.push(...res.value.databases);
      } else if (!isQuiet(res.reason)) {
        append(listError, h('p', { class: 'muted' }, `${ENGINE_LABEL[ENGINES[i]]} databases could not be listed:`), problemBox(res.reason));
      }
    });
    if (results.every((r) => r.status === 'rejected' && isQuiet(r.reason))) return;
    rows = next;
    table = dataTable({
      id: 'db-table', caption: 'Databases', columns, rows, sortKey: 'created_at', sortDir: 'desc',
      rowAttrs: (r) => ({ 'data-db': r.db_name, 'data-engine': r.db_type, 'data-status': r.status }),
      emptyText: 'No databases yet.',
    });
    replace(listSlot, table.el);
    applyFilter();
    loadInfo(seq, next);
  }

  // loadInfo fills size and connections from …/info, a few at a time.
  async function loadInfo(seq, list) {
    const queue = list.filter((r) => r.status === 'active');
    const worker = async () => {
      while (queue.length) {
        const r = queue.shift();
        try {
          r.info = await api('GET', dbPath(r.db_type, r.db_name, '/info'), { signal });
        } catch (err) {
          if (isQuiet(err)) return;
          r.infoError = err.detail || err.title || 'unavailable';
        }
        if (seq !== loadSeq || signal.aborted) return;
        if (table) table.refreshRow(r);
      }
    };
    await Promise.all([worker(), worker(), worker()]);
  }

  if (can('database:read')) load();
  else replace(listSlot, h('p', { class: 'empty' }, 'This key cannot list databases (it lacks database:read).'));
}
