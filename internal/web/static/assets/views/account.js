// Account: who the key is, quota and cost estimate, the history of every
// database (deleted ones included) and, for internal keys, usage events.

import { api, can, session, customerQuery } from '../api.js';
import {
  h, append, replace, clear, problemBox, loading, empty, card, pageHeader, dl, fmtGB, fmtNumber, fmtMoney, timeEl, cellTime,
  isQuiet, statusBadge, engineBadge, ENGINE_LABEL, busy, dataTable, permTag,
} from '../ui.js';
import { timeline } from './database.js';
import { customerPicker } from './databases.js';

// bar is a labelled usage bar; limit 0 or null means unlimited.
export function bar({ id, label, used, limit, format = (v) => fmtNumber(v) }) {
  const unlimited = !limit;
  const pct = unlimited ? 0 : Math.min(100, (used / limit) * 100);
  const fill = h('div', { class: `bar-fill${pct >= 90 ? ' high' : pct >= 70 ? ' mid' : ''}` });
  fill.style.width = `${pct.toFixed(1)}%`; // CSSOM, allowed by the CSP
  const text = unlimited ? `${format(used)} used · no limit` : `${format(used)} of ${format(limit)}`;
  return h('div', { class: 'bar', id },
    h('div', { class: 'bar-label' }, h('span', {}, label), h('span', { class: 'bar-text' }, text)),
    unlimited ? null : h('div', {
      class: 'bar-track', role: 'progressbar', 'aria-label': label,
      'aria-valuemin': '0', 'aria-valuemax': String(limit), 'aria-valuenow': String(used), 'aria-valuetext': text,
    }, fill));
}

export function quotaContent(q) {
  return h('div', { class: 'quota' },
    bar({ id: 'quota-databases', label: 'Databases', used: q.used, limit: q.limit }),
    q.engines.map((e) => bar({ id: `quota-${e.db_type}`, label: `${ENGINE_LABEL[e.db_type] || e.db_type} databases`, used: e.used, limit: e.limit })),
    bar({ id: 'quota-storage', label: 'Storage', used: q.storage_used_gb, limit: q.storage_limit_gb, format: fmtGB }),
    dl([['Snapshots stored', fmtGB(q.backup_used_gb)]]),
    h('h3', {}, 'Estimated monthly cost'),
    h('div', { class: 'table-wrap' },
      h('table', { class: 'table cost', id: 'cost-table' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Item'), h('th', { scope: 'col', class: 'num' }, 'Quantity'), h('th', { scope: 'col', class: 'num' }, 'Unit price'), h('th', { scope: 'col', class: 'num' }, 'Amount'))),
        h('tbody', {}, q.estimated_monthly_cost.lines.map((l) => h('tr', {},
          h('td', { 'data-label': 'Item' }, l.item),
          h('td', { class: 'num', 'data-label': 'Quantity' }, fmtNumber(l.quantity, 3)),
          h('td', { class: 'num', 'data-label': 'Unit price' }, fmtMoney(l.unit_price, q.estimated_monthly_cost.currency)),
          h('td', { class: 'num', 'data-label': 'Amount' }, fmtMoney(l.amount, q.estimated_monthly_cost.currency))))),
        h('tfoot', {}, h('tr', {}, h('th', { scope: 'row', colspan: '3' }, 'Total'),
          h('td', { class: 'num total', id: 'cost-total', 'data-label': 'Total' }, fmtMoney(q.estimated_monthly_cost.total, q.estimated_monthly_cost.currency)))))));
}

export function accountView(root, ctx) {
  const { signal } = ctx;
  const me = session.me;
  const page = h('div', { class: 'page' },
    pageHeader('Account', customerPicker({ onChange: () => window.dispatchEvent(new HashChangeEvent('hashchange')), refreshHeader: ctx.refreshHeader })));
  root.append(page);

  page.append(card({
    id: 'key-card', title: 'This API key',
    children: [dl([
      ['Key prefix', h('code', {}, me.key_prefix), 'me-prefix'],
      ['Customer', h('code', {}, me.customer_id), 'me-customer'],
      ['Permissions', h('span', { class: 'tags' }, me.permissions.map(permTag)), 'me-permissions'],
      ['Internal', me.internal ? 'yes: may act for any customer' : 'no'],
    ])],
  }));

  if (!can('database:read')) {
    page.append(h('p', { class: 'empty' }, 'Quota and history need the database:read permission.'));
    return;
  }

  // ---- quota
  const quotaSlot = h('div', {}, loading('Loading quota…'));
  page.append(card({ id: 'quota', title: `Quota${session.customer && session.customer !== me.customer_id ? ` of ${session.customer}` : ''}`, children: [quotaSlot] }));
  (async () => {
    try {
      const q = await api('GET', '/v1/quota', { query: customerQuery(), signal });
      replace(quotaSlot, quotaContent(q));
    } catch (err) {
      if (isQuiet(err)) return;
      replace(quotaSlot, problemBox(err));
    }
  })();

  // ---- history, paginated
  const histList = h('div', { id: 'history-list' });
  const histErr = h('div', { class: 'problem-slot', id: 'history-error' });
  const more = h('button', { type: 'button', class: 'btn', id: 'history-more', hidden: true }, 'Load more');
  const includeDeleted = h('input', { type: 'checkbox', id: 'history-deleted', checked: true });
  let cursor = null;
  let count = 0;
  async function loadHistory(reset) {
    if (reset) {
      cursor = null;
      count = 0;
      replace(histList, loading('Loading history…'));
    }
    try {
      const res = await busy(more, 'Loading…', () => api('GET', '/v1/databases/history', {
        query: { limit: 20, cursor, include_deleted: includeDeleted.checked, ...customerQuery() }, signal,
      }));
      if (reset) clear(histList);
      for (const e of res.databases) {
        count++;
        histList.append(h('details', { class: `hist-entry hist-${e.status}`, 'data-db': e.db_name },
          h('summary', {},
            h('span', { class: 'mono hist-name' }, e.db_name), ' ',
            engineBadge(e.db_type), ' ', statusBadge(e.status), ' ',
            h('span', { class: 'muted small' }, 'created ', timeEl(e.created_at), e.deleted_at ? [' · deleted ', timeEl(e.deleted_at)] : null,
              // events_cursor: older events exist; the newest are shown.
              ` · ${e.events.length}${e.events_cursor ? '+' : ''} event${e.events.length === 1 && !e.events_cursor ? '' : 's'}`)),
          timeline(e.events)));
      }
      if (count === 0) histList.append(empty('No databases yet.', 'history-empty'));
      cursor = res.next_cursor;
      more.hidden = !cursor;
      clear(histErr);
    } catch (err) {
      if (isQuiet(err)) return;
      replace(histErr, problemBox(err));
    }
  }
  more.addEventListener('click', () => loadHistory(false));
  includeDeleted.addEventListener('change', () => loadHistory(true));
  page.append(card({
    id: 'account-history', title: 'Database history',
    description: 'Every database this customer has had, with what happened to it.',
    actions: [h('label', { for: 'history-deleted', class: 'check-label' }, includeDeleted, ' Include deleted')],
    children: [histErr, histList, h('div', { class: 'actions' }, more)],
  }));
  loadHistory(true);

  // ---- usage events (internal keys)
  if (me.internal) {
    const usageSlot = h('div', {}, loading('Loading usage events…'));
    const usageErr = h('div', { class: 'problem-slot', id: 'usage-error' });
    const usageMore = h('button', { type: 'button', class: 'btn', id: 'usage-more', hidden: true }, 'Load more');
    let ucursor = null;
    let events = [];
    const table = dataTable({
      id: 'usage-table', caption: 'Usage events',
      columns: [
        { key: 'seq', label: '#', class: 'num', sort: (r) => r.seq },
        { key: 'type', label: 'Type', sort: (r) => r.type, render: (r) => h('code', {}, r.type) },
        { key: 'customer_id', label: 'Customer', sort: (r) => r.customer_id },
        { key: 'occurred_at', label: 'When', sort: (r) => r.occurred_at, render: (r) => cellTime(r.occurred_at) },
        { key: 'data', label: 'Data', render: (r) => h('code', { class: 'small wrap' }, JSON.stringify(r.data)) },
      ],
      sortKey: 'seq', sortDir: 'desc', emptyText: 'No usage events.',
    });
    async function loadUsage() {
      try {
        const res = await busy(usageMore, 'Loading…', () => api('GET', '/v1/usage', { query: { limit: 50, cursor: ucursor, ...customerQuery() }, signal }));
        events = events.concat(res.events);
        table.setRows(events);
        replace(usageSlot, table.el);
        ucursor = res.next_cursor;
        usageMore.hidden = !ucursor;
      } catch (err) {
        if (isQuiet(err)) return;
        clear(usageSlot);
        replace(usageErr, problemBox(err));
      }
    }
    usageMore.addEventListener('click', loadUsage);
    page.append(card({
      id: 'usage', title: 'Usage events',
      description: 'Billable events, as sent to the billing endpoint (internal keys only).',
      children: [usageErr, usageSlot, h('div', { class: 'actions' }, usageMore)],
    }));
    loadUsage();
  }
}
