// Database page: connection details, password rotation, settings, firewall
// rules, snapshots and restore, backup policy, metrics and history.

import { api, can, session, dbPath } from '../api.js';
import {
  h, append, replace, clear, field, checkField, showProblem, clearErrors, problemBox, loading, empty, dataTable, card,
  pageHeader, showSecret, openDialog, announce, statusBadge, engineBadge, fmtMB, fmtGB, fmtBytes, fmtNumber, timeEl, cellTime, relTime,
  isQuiet, ENGINE_LABEL, copyLine, dl, busy, poll, fmtDate,
} from '../ui.js';
import { lineChart } from '../charts.js';

export const EVENT_LABEL = {
  created: 'Created',
  rotated: 'Password rotated',
  updated: 'Settings changed',
  restarted: 'Sessions terminated',
  deleted: 'Deleted',
  access_rule_added: 'Firewall rule added',
  access_rule_deleted: 'Firewall rule removed',
  access_rules_applied: 'Firewall rules applied',
  snapshot_created: 'Snapshot taken',
  snapshot_deleted: 'Snapshot deleted',
  restored: 'Restored from snapshot',
  backup_policy_set: 'Backup policy changed',
};

// customerOfName reads the customer out of cust_{customer}_{pg|my}_{name}.
function customerOfName(name) {
  const m = /^cust_([a-z0-9]+)_(?:pg|my)_/.exec(name);
  return m ? m[1] : null;
}

function ownerQuery(name) {
  if (!session.me || !session.me.internal) return {};
  const c = customerOfName(name);
  return c ? { customer_id: c } : {};
}

function detailText(details) {
  const parts = [];
  for (const [k, v] of Object.entries(details || {})) {
    if (v === null || v === undefined || v === '') continue;
    const text = typeof v === 'object' ? JSON.stringify(v) : String(v);
    parts.push(`${k.replace(/_/g, ' ')}: ${text.length > 80 ? `${text.slice(0, 77)}…` : text}`);
  }
  return parts.join(' · ');
}

// timeline renders history events, newest first.
export function timeline(events, id) {
  if (!events.length) return empty('No events recorded.');
  const sorted = events.slice().sort((a, b) => (a.occurred_at < b.occurred_at ? 1 : -1));
  return h('ol', { class: 'timeline', id },
    sorted.map((ev) => h('li', { class: `tl-item tl-${ev.kind}`, 'data-kind': ev.kind },
      h('span', { class: 'tl-dot', 'aria-hidden': 'true' }),
      h('div', { class: 'tl-body' },
        h('div', { class: 'tl-head' }, h('strong', {}, EVENT_LABEL[ev.kind] || ev.kind), ' ', h('span', { class: 'muted small' }, timeEl(ev.occurred_at))),
        h('div', { class: 'muted small' }, `by key ${ev.actor || '—'}`, ev.remote_addr ? ` from ${ev.remote_addr}` : ''),
        detailText(ev.details) ? h('div', { class: 'tl-details small' }, detailText(ev.details)) : null))));
}

export function databaseView(root, ctx) {
  const { signal } = ctx;
  const [type, name] = ctx.params;
  const path = (suffix = '') => dbPath(type, name, suffix);
  const page = h('div', { class: 'page' });
  root.append(page);

  const headerActions = h('div', { class: 'head-actions' });
  const headerNote = h('div', { class: 'problem-slot', id: 'head-result', role: 'status' });
  const statusSlot = h('span', { id: 'db-status' });
  page.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/databases', id: 'back-link' }, '← All databases')),
    h('div', { class: 'page-head' },
      h('div', {},
        h('h1', { id: 'page-title', tabindex: '-1', class: 'mono db-title' }, name),
        h('p', { class: 'subtitle' }, engineBadge(type), ' ', statusSlot)),
      headerActions),
    headerNote);

  const body = h('div', { class: 'db-body' }, loading('Loading database…', 'db-loading'));
  page.append(body);

  let record = null;
  async function loadRecord() {
    const list = await api('GET', `/v1/databases/${encodeURIComponent(type)}`, { query: ownerQuery(name), signal });
    return list.databases.find((d) => d.db_name === name) || null;
  }

  (async () => {
    try {
      record = await loadRecord();
    } catch (err) {
      if (isQuiet(err)) return;
      replace(body, problemBox(err));
      return;
    }
    if (!record) {
      replace(body, h('div', { class: 'card' }, h('p', { id: 'db-missing' }, 'There is no database called ', h('code', {}, name), ' for this customer. It may have been deleted.'),
        h('p', {}, h('a', { href: '#/databases' }, 'Back to the list'))));
      return;
    }
    replace(statusSlot, statusBadge(record.status));
    if (record.status !== 'active') {
      replace(body, h('div', { class: 'card' }, h('p', {}, `This database is ${record.status}. Details are available once it is active.`)));
      return;
    }
    renderHeaderActions();
    clear(body);
    append(body,
      h('div', { class: 'grid-2' }, connectionCard(), overviewCard()),
      metricsCard(),
      h('div', { class: 'grid-2' }, firewallCard(), backupCard()),
      snapshotsCard(),
      historyCard());
  })();

  // The history card reloads after every change made on this page.
  let reloadHistory = () => {};
  const changed = () => reloadHistory();

  // Only one secret on the page at a time.
  function showOnce(slot, opts) {
    page.querySelectorAll('.secret-slot').forEach((s) => clear(s));
    showSecret(slot, opts);
  }

  // ---- header actions: terminate sessions, delete
  function renderHeaderActions() {
    clear(headerActions);
    if (can('database:update')) {
      headerActions.append(h('button', {
        type: 'button', class: 'btn', id: 'restart',
        onclick: () => openDialog({
          title: 'Terminate all sessions?',
          body: [h('p', {}, 'Every open connection to ', h('code', {}, name), ' is ended now. Clients reconnect with the same password. Other databases are not affected.')],
          confirmLabel: 'Terminate sessions',
          danger: true,
          onConfirm: () => api('POST', path('/restart'), { signal }),
        }).then((res) => {
          if (!res) return;
          const msg = `${res.sessions_terminated} session${res.sessions_terminated === 1 ? '' : 's'} terminated.`;
          replace(headerNote, h('p', { class: 'notice' }, msg));
          announce(msg); changed();
        }),
      }, 'Terminate sessions'));
    }
    if (can('database:delete')) {
      headerActions.append(h('button', {
        type: 'button', class: 'btn danger-outline', id: 'delete-db',
        onclick: () => openDialog({
          id: 'delete-dialog',
          title: `Delete ${name}?`,
          body: [h('p', {}, 'This drops the database, its user and its stored password, and ends open sessions. ', h('strong', {}, 'This cannot be undone.'))],
          requireText: name,
          confirmLabel: 'Delete database',
          danger: true,
          onConfirm: () => api('DELETE', path(), { signal }),
        }).then((res) => {
          if (!res) return;
          announce(`Database ${name} deleted`);
          window.location.hash = '#/databases';
        }),
      }, 'Delete database'));
    }
  }

  // ---- connection details and rotation
  function connectionCard() {
    const secretSlot = h('div', { class: 'secret-slot', id: 'rotate-secret' });
    const content = h('div', {}, loading('Loading connection details…'));
    const actions = can('database:update')
      ? h('button', { type: 'button', class: 'btn', id: 'rotate', onclick: rotate }, 'Rotate password')
      : null;
    (async () => {
      try {
        const c = await api('GET', path('/credentials'), { signal });
        const cli = type === 'postgresql'
          ? `psql "postgresql://${c.username}@${c.host}:${c.port}/${c.database}"`
          : `mariadb -h ${c.host} -P ${c.port} -u ${c.username} -p ${c.database}`;
        replace(content,
          dl([
            ['Host', h('code', {}, c.host), 'conn-host'],
            ['Port', h('code', {}, String(c.port)), 'conn-port'],
            ['Database', h('code', {}, c.database), 'conn-database'],
            ['User', h('code', {}, c.username), 'conn-user'],
            ['Password', h('span', { class: 'muted' }, 'Not shown. It was shown once at creation; rotate to get a new one.')],
          ]),
          copyLine(type === 'postgresql' ? 'psql' : 'mariadb client', cli, { id: 'conn-cli', what: 'command' }),
          copyLine('Connection string', c.connection_string, { id: 'conn-string', what: 'connection string' }),
          h('p', { class: 'hint' }, 'The command asks for the password. The connection string has no password in it.'));
      } catch (err) {
        if (isQuiet(err)) return;
        replace(content, problemBox(err));
      }
    })();

    function rotate() {
      const terminate = checkField({ id: 'rotate-terminate', name: 'terminate_sessions', label: 'Also end sessions opened with the old password' });
      openDialog({
        id: 'rotate-dialog',
        title: 'Rotate the password?',
        body: [h('p', {}, 'A new password is generated and the old one stops working for new connections. The new password is shown once.'), terminate],
        confirmLabel: 'Rotate password',
        onConfirm: () => api('POST', path('/credentials/rotate'), {
          body: { terminate_sessions: terminate.querySelector('input').checked }, signal,
        }),
      }).then((res) => {
        if (!res) return;
        showOnce(secretSlot, {
          heading: 'New password',
          secret: res.password,
          extra: [
            copyLine('Connection string (with password)', res.connection_string, { id: 'secret-conn', what: 'connection string' }),
            res.sessions_terminated ? h('p', { class: 'hint' }, `${res.sessions_terminated} session(s) using the old password were ended.`) : null,
          ],
        });
        announce('Password rotated'); changed();
      });
    }
    return card({ id: 'connection', title: 'Connection', actions, children: [secretSlot, content] });
  }

  // ---- overview and settings
  function overviewCard() {
    const facts = h('div', { id: 'overview-facts' }, loading('Loading…'));
    const children = [facts];
    async function loadInfo() {
      try {
        const info = await api('GET', path('/info'), { signal });
        replace(facts, dl([
          ['Size', fmtMB(info.size_mb), 'info-size'],
          ['Connections', `${fmtNumber(info.connection_count)} of ${info.connection_limit === null ? 'unlimited' : fmtNumber(info.connection_limit)}`, 'info-connections'],
          ['Owner', h('code', {}, info.owner)],
          ['Server', h('code', {}, record.server)],
          ['Created', timeEl(info.created_at)],
          ['Description', record.description ? record.description : h('span', { class: 'muted' }, 'none'), 'info-description'],
        ]));
      } catch (err) {
        if (isQuiet(err)) return;
        replace(facts, problemBox(err));
      }
    }
    loadInfo();
    if (can('database:update')) {
      const limit = h('input', { type: 'number', min: '10', max: '1000', step: '1', inputmode: 'numeric', value: record.connection_limit === null ? '' : String(record.connection_limit) });
      const desc = h('textarea', { rows: '2', maxlength: '1000' });
      desc.value = record.description || '';
      const errSlot = h('div', { class: 'problem-slot', id: 'settings-error' });
      const submit = h('button', { type: 'submit', class: 'btn primary', id: 'settings-submit' }, 'Save settings');
      const form = h('form', { id: 'settings-form', class: 'stack', novalidate: true },
        h('h3', {}, 'Settings'),
        field({ id: 'settings-limit', name: 'connection_limit', label: 'Connection limit', input: limit, hint: 'Most sessions the database’s user may hold at once: 10 to 1000.' }),
        field({ id: 'settings-description', name: 'description', label: 'Description', input: desc, optional: true }),
        errSlot,
        h('div', { class: 'actions' }, submit));
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        clearErrors(form, errSlot);
        const bodyJSON = { description: desc.value.trim() === '' ? null : desc.value.trim() };
        if (limit.value.trim() !== '') {
          const n = Number(limit.value);
          bodyJSON.connection_limit = Number.isInteger(n) ? n : limit.value;
        }
        try {
          await busy(submit, 'Saving…', () => api('PATCH', path(), { body: bodyJSON, signal }));
          record = (await loadRecord()) || record;
          loadInfo();
          announce('Settings saved'); changed();
          replace(errSlot, h('p', { class: 'notice', role: 'status' }, 'Saved.'));
        } catch (err) {
          if (isQuiet(err)) return;
          showProblem(form, err, errSlot);
        }
      });
      children.push(form);
    }
    return card({ id: 'overview', title: 'Overview', children });
  }

  // ---- metrics
  function metricsCard() {
    const range = h('select', { id: 'metrics-range' },
      h('option', { value: '3600' }, 'Last hour'),
      h('option', { value: '21600' }, 'Last 6 hours'),
      h('option', { value: '86400' }, 'Last 24 hours'),
      h('option', { value: '604800' }, 'Last 7 days'));
    range.value = '86400';
    const content = h('div', { id: 'metrics-content' }, loading('Loading metrics…'));
    const refresh = h('button', { type: 'button', class: 'btn small', id: 'metrics-refresh', onclick: () => load() }, 'Refresh');
    range.addEventListener('change', () => load());
    // Redraw for the phone layout (and back) when the width changes.
    const narrow = window.matchMedia('(max-width: 640px)');
    const redraw = () => load();
    narrow.addEventListener('change', redraw);
    signal.addEventListener('abort', () => narrow.removeEventListener('change', redraw));
    async function load() {
      const since = new Date(Date.now() - Number(range.value) * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
      try {
        const m = await api('GET', path('/metrics'), { query: { since }, signal });
        const samples = (m.samples || []).filter((x) => x.measured_at);
        const series = (f) => samples.map((x) => ({ t: new Date(x.measured_at).getTime(), v: f(x) }));
        replace(content,
          dl([
            ['Storage', fmtGB(m.storage_gb)],
            ['Connections', m.active_connections === null ? '—' : `${fmtNumber(m.active_connections)}${m.max_connections ? ` of ${fmtNumber(m.max_connections)}` : ''}`],
            ['Queries / s', m.queries_per_sec === null ? '—' : fmtNumber(m.queries_per_sec, 2)],
            ['Cache hit ratio', m.cache_hit_ratio === null ? '—' : `${fmtNumber(m.cache_hit_ratio, 1)} %`],
            ['Snapshots stored', fmtGB(m.backup_gb)],
            ['Measured', m.measured_at ? h('span', { title: m.measured_at }, relTime(m.measured_at)) : h('span', { class: 'muted' }, 'not yet')],
          ], 'facts tiles'),
          h('div', { class: 'charts' },
            lineChart({ id: 'chart-connections', title: 'Connections', points: series((x) => x.active_connections), format: (v) => fmtNumber(v), integer: true }),
            lineChart({ id: 'chart-qps', title: 'Queries per second', points: series((x) => x.queries_per_sec), format: (v) => fmtNumber(v, v < 10 ? 2 : 0) }),
            lineChart({ id: 'chart-storage', title: 'Storage', points: series((x) => (x.storage_gb === null ? null : x.storage_gb * 1024 * 1024 * 1024)), format: (v) => fmtBytes(v) }),
            lineChart({ id: 'chart-cache', title: 'Cache hit ratio', points: series((x) => x.cache_hit_ratio), format: (v) => `${fmtNumber(v, 1)} %`, fixedMax: 100 })));
      } catch (err) {
        if (isQuiet(err)) return;
        replace(content, problemBox(err));
      }
    }
    load();
    return card({
      id: 'metrics', title: 'Metrics',
      actions: [h('label', { for: 'metrics-range', class: 'visually-hidden' }, 'Time range'), range, refresh],
      children: [content],
    });
  }

  // ---- firewall
  function firewallCard() {
    const listSlot = h('div', {}, loading('Loading rules…'));
    const listErr = h('div', { class: 'problem-slot', id: 'fw-list-error' });
    const children = [];
    let table = null;
    const columns = [
      { key: 'ip_address', label: 'Source', sort: (r) => r.ip_address, render: (r) => h('code', {}, r.ip_address) },
      { key: 'description', label: 'Description', render: (r) => r.description || h('span', { class: 'muted' }, '—') },
      { key: 'created_at', label: 'Added', sort: (r) => r.created_at, render: (r) => cellTime(r.created_at) },
    ];
    if (can('database:update')) {
      columns.push({
        key: 'actions', label: 'Actions', class: 'actions-cell',
        render: (r) => h('button', {
          type: 'button', class: 'btn small danger-outline', 'data-action': 'delete-rule', 'data-ip': r.ip_address, 'aria-label': `Remove rule ${r.ip_address}`,
          onclick: () => openDialog({
            title: `Remove the rule for ${r.ip_address}?`,
            body: [h('p', {}, 'Clients from this source can no longer connect, unless another rule allows them.')],
            confirmLabel: 'Remove rule',
            danger: true,
            onConfirm: () => api('DELETE', path(`/firewall/${encodeURIComponent(r.rule_id)}`), { signal }),
          }).then((res) => {
            if (!res) return;
            announce(`Rule for ${r.ip_address} removed`); changed();
            load();
          }),
        }, 'Remove'),
      });
    }
    async function load() {
      try {
        const res = await api('GET', path('/firewall'), { signal });
        clear(listErr);
        if (!table) {
          table = dataTable({
            id: 'fw-table', caption: 'Firewall rules', columns, rows: res.rules, sortKey: 'created_at',
            rowAttrs: (r) => ({ 'data-ip': r.ip_address, 'data-rule': r.rule_id }),
            emptyText: 'No rules: the server’s default access policy applies (by default anyone who reaches the port may log in with the password).',
          });
          replace(listSlot, table.el);
        } else {
          table.setRows(res.rules);
        }
        listSlot.dataset.count = String(res.rules.length);
      } catch (err) {
        if (isQuiet(err)) return;
        replace(listErr, problemBox(err));
        if (!table) clear(listSlot);
      }
    }
    if (can('database:update')) {
      const ip = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', placeholder: '192.0.2.10 or 10.0.0.0/24', inputmode: 'text' });
      const desc = h('input', { type: 'text', maxlength: '200', autocomplete: 'off' });
      const errSlot = h('div', { class: 'problem-slot', id: 'fw-error' });
      const submit = h('button', { type: 'submit', class: 'btn primary', id: 'fw-submit' }, 'Add rule');
      const form = h('form', { id: 'fw-form', class: 'form-grid', novalidate: true },
        field({ id: 'fw-ip', name: 'ip_address', label: 'IP address or CIDR block', input: ip, hint: 'IPv4 or IPv6; a block without host bits, e.g. 10.0.0.0/24.' }),
        field({ id: 'fw-description', name: 'description', label: 'Description', input: desc, optional: true }),
        h('div', { class: 'actions' }, submit),
        errSlot);
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        clearErrors(form, errSlot);
        const bodyJSON = { ip_address: ip.value.trim() };
        if (desc.value.trim()) bodyJSON.description = desc.value.trim();
        try {
          const rule = await busy(submit, 'Adding…', () => api('POST', path('/firewall'), { body: bodyJSON, signal }));
          ip.value = '';
          desc.value = '';
          announce(`Rule for ${rule.ip_address} added`); changed();
          load();
        } catch (err) {
          if (isQuiet(err)) return;
          showProblem(form, err, errSlot);
        }
      });
      children.push(form);
    }
    children.push(listErr, listSlot);
    load();
    return card({
      id: 'firewall', title: 'Firewall rules',
      description: 'Sources allowed to connect. Loopback is always allowed.',
      children,
    });
  }

  // ---- snapshots and restore
  function snapshotsCard() {
    const secretSlot = h('div', { class: 'secret-slot', id: 'restore-secret' });
    const resultSlot = h('div', { id: 'restore-result', role: 'status' });
    const listSlot = h('div', {}, loading('Loading snapshots…'));
    const listErr = h('div', { class: 'problem-slot', id: 'snap-list-error' });
    let table = null;
    let polling = false;

    function progress(s) {
      switch (s.status) {
        case 'pending': return h('span', { class: 'progress' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Queued');
        case 'running': return h('span', { class: 'progress' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), `${fmtBytes(s.bytes_written)} written`);
        case 'failed': return h('span', { class: 'error-text' }, s.error || 'failed');
        default: return s.size_mb === null ? '—' : fmtMB(s.size_mb);
      }
    }

    function restore(s) {
      const inPlace = h('input', { type: 'radio', name: 'restore-mode', id: 'restore-inplace', value: 'inplace', checked: true });
      const toNew = h('input', { type: 'radio', name: 'restore-mode', id: 'restore-new', value: 'new' });
      const target = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', disabled: true });
      const targetField = field({ id: 'restore-target', name: 'target_db_name', label: 'New database name', input: target, hint: 'Letters, digits and underscores, up to 30; like a new database’s name.' });
      const sync = () => { target.disabled = !toNew.checked; };
      inPlace.addEventListener('change', sync);
      toNew.addEventListener('change', sync);
      openDialog({
        id: 'restore-dialog',
        title: 'Restore from snapshot',
        body: [
          h('p', {}, 'Snapshot taken ', timeEl(s.created_at), s.description ? ` (“${s.description}”)` : '', '.'),
          h('fieldset', { class: 'radios' },
            h('legend', {}, 'Restore to'),
            h('label', { for: 'restore-inplace', class: 'check-label' }, inPlace, ' ', h('span', {}, h('strong', {}, 'This database, in place. '), 'Its current data is replaced by the snapshot’s and open sessions are ended.')),
            h('label', { for: 'restore-new', class: 'check-label' }, toNew, ' ', h('span', {}, h('strong', {}, 'A new database. '), 'This database is left as it is.'))),
          targetField,
        ],
        confirmLabel: 'Restore',
        danger: true,
        onConfirm: () => {
          const bodyJSON = { snapshot_id: s.snapshot_id };
          if (toNew.checked) bodyJSON.target_db_name = target.value.trim();
          return api('POST', path('/restore'), { body: bodyJSON, signal });
        },
      }).then((res) => {
        if (!res) return;
        // The restore runs in the background (202): its credentials, for a
        // new database, come now and only now; the outcome is polled.
        if (res.password) {
          showOnce(secretSlot, {
            heading: `New database ${res.target_db_name}`,
            secret: res.password,
            extra: [
              h('p', {}, 'The snapshot is being restored into it; if the restore fails, the new database is deleted again.'),
              copyLine('Connection string (with password)', res.connection_string, { id: 'secret-conn', what: 'connection string' }),
              h('p', {}, h('a', { href: `#/databases/${type}/${encodeURIComponent(res.target_db_name)}` }, `Open ${res.target_db_name}`)),
            ],
          });
        }
        const showing = (r) => {
          switch (r.status) {
            case 'completed':
              replace(resultSlot, h('p', { class: 'notice', 'data-status': 'completed', 'data-snapshot': s.snapshot_id }, `Restored ${r.target_db_name} from the snapshot.`));
              announce(`Restored ${r.target_db_name}`); changed(); load();
              return false;
            case 'failed':
              replace(resultSlot, h('p', { class: 'error-text', role: 'alert', 'data-status': 'failed', 'data-snapshot': s.snapshot_id }, `Restore failed: ${r.error || 'unknown reason'}`));
              announce('Restore failed'); changed(); load();
              return false;
            default:
              replace(resultSlot, h('p', { class: 'progress', 'data-status': r.status },
                h('span', { class: 'spinner', 'aria-hidden': 'true' }), r.status === 'pending' ? 'Restore queued…' : `Restoring into ${r.target_db_name}…`));
              return true;
          }
        };
        showing(res);
        poll(signal, 1000, async () => showing(await api('GET', path(`/restores/${encodeURIComponent(res.restore_id)}`), { signal })));
      });
    }

    function remove(s) {
      openDialog({
        title: 'Delete this snapshot?',
        body: [h('p', {}, 'The snapshot taken ', timeEl(s.created_at), ' is deleted for good. It can no longer be restored.')],
        confirmLabel: 'Delete snapshot',
        danger: true,
        onConfirm: () => api('DELETE', path(`/snapshots/${encodeURIComponent(s.snapshot_id)}`), { signal }),
      }).then((res) => {
        if (!res) return;
        announce('Snapshot deleted'); changed();
        load();
      });
    }

    const columns = [
      { key: 'created_at', label: 'Taken', sort: (r) => r.created_at, render: (r) => cellTime(r.created_at) },
      { key: 'kind', label: 'Kind', sort: (r) => r.kind },
      { key: 'status', label: 'Status', sort: (r) => r.status, render: (r) => statusBadge(r.status) },
      { key: 'size', label: 'Size / progress', class: 'num', sort: (r) => r.size_mb, render: progress },
      { key: 'description', label: 'Description', render: (r) => r.description || h('span', { class: 'muted' }, '—') },
      {
        key: 'actions', label: 'Actions', class: 'actions-cell',
        render: (r) => h('div', { class: 'row-actions' },
          can('database:update') && r.status === 'completed'
            ? h('button', { type: 'button', class: 'btn small', 'data-action': 'restore', 'aria-label': `Restore snapshot taken ${fmtDate(r.created_at)}`, onclick: () => restore(r) }, 'Restore')
            : null,
          can('database:delete') && (r.status === 'completed' || r.status === 'failed')
            ? h('button', { type: 'button', class: 'btn small danger-outline', 'data-action': 'delete-snapshot', 'aria-label': `Delete snapshot taken ${fmtDate(r.created_at)}`, onclick: () => remove(r) }, 'Delete')
            : null),
      },
    ];

    async function load() {
      try {
        const res = await api('GET', path('/snapshots'), { signal });
        clear(listErr);
        if (!table) {
          table = dataTable({
            id: 'snap-table', caption: 'Snapshots', columns, rows: res.snapshots, sortKey: 'created_at', sortDir: 'desc',
            rowAttrs: (r) => ({ 'data-snapshot': r.snapshot_id, 'data-status': r.status }),
            emptyText: 'No snapshots yet.',
          });
          replace(listSlot, table.el);
        } else {
          table.setRows(res.snapshots);
        }
        const active = res.snapshots.some((s) => s.status === 'pending' || s.status === 'running');
        if (active && !polling) {
          polling = true;
          poll(signal, 1000, async () => {
            await load();
            const still = table && table.table.querySelector('tr[data-status="pending"], tr[data-status="running"]');
            if (!still) {
              polling = false;
              changed();
            }
            return !!still;
          });
        }
        return res.snapshots;
      } catch (err) {
        if (isQuiet(err)) return null;
        replace(listErr, problemBox(err));
        if (!table) clear(listSlot);
        return null;
      }
    }

    const children = [secretSlot, resultSlot];
    const desc = h('input', { type: 'text', maxlength: '500', autocomplete: 'off', placeholder: 'e.g. before the migration' });
    const errSlot = h('div', { class: 'problem-slot', id: 'snap-error' });
    const submit = h('button', { type: 'submit', class: 'btn primary', id: 'snap-submit' }, 'Take snapshot');
    const form = h('form', { id: 'snap-form', class: 'form-grid', novalidate: true },
      field({ id: 'snap-description', name: 'description', label: 'Description', input: desc, optional: true }),
      h('div', { class: 'actions' }, submit),
      errSlot);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearErrors(form, errSlot);
      const bodyJSON = {};
      if (desc.value.trim()) bodyJSON.description = desc.value.trim();
      try {
        await busy(submit, 'Queuing…', () => api('POST', path('/snapshots'), { body: bodyJSON, signal }));
        desc.value = '';
        announce('Snapshot queued'); changed();
        load();
      } catch (err) {
        if (isQuiet(err)) return;
        showProblem(form, err, errSlot);
      }
    });
    children.push(form, listErr, listSlot);
    load();
    return card({
      id: 'snapshots', title: 'Snapshots',
      description: 'A consistent copy of the database. Restore it in place or into a new database.',
      children,
    });
  }

  // ---- backup policy
  function backupCard() {
    const content = h('div', {}, loading('Loading backup policy…'));
    async function load() {
      try {
        const p = await api('GET', path('/backup-policy'), { signal });
        render(p);
      } catch (err) {
        if (isQuiet(err)) return;
        replace(content, problemBox(err));
      }
    }
    function render(p) {
      const facts = dl([
        ['Status', p.enabled ? h('span', { class: 'badge status-active' }, 'enabled') : h('span', { class: 'badge status-off' }, 'disabled'), 'bp-status'],
        ['Last backup', p.last_backup ? timeEl(p.last_backup) : h('span', { class: 'muted' }, 'none yet'), 'bp-last'],
        ['Next backup', p.next_backup ? timeEl(p.next_backup) : h('span', { class: 'muted' }, p.enabled ? 'not scheduled' : 'none (disabled)'), 'bp-next'],
      ]);
      if (!can('database:update')) {
        replace(content, facts, dl([['Frequency', p.frequency], ['Time', `${p.time_of_day} ${p.timezone}`], ['Retention', `${p.retention_days} days`]]));
        return;
      }
      const enabled = checkField({ id: 'bp-enabled', name: 'enabled', label: 'Take scheduled snapshots', checked: p.enabled });
      const freq = h('select', {}, ['hourly', 'daily', 'weekly'].map((f) => h('option', { value: f }, f)));
      freq.value = p.frequency;
      const time = h('input', { type: 'time', value: p.time_of_day });
      const tz = h('input', { type: 'text', value: p.timezone, autocomplete: 'off', spellcheck: 'false' });
      const retention = h('input', { type: 'number', min: '1', max: '365', value: String(p.retention_days), inputmode: 'numeric' });
      const errSlot = h('div', { class: 'problem-slot', id: 'bp-error' });
      const submit = h('button', { type: 'submit', class: 'btn primary', id: 'bp-submit' }, 'Save policy');
      const form = h('form', { id: 'bp-form', class: 'stack', novalidate: true },
        enabled,
        h('div', { class: 'form-grid tight' },
          field({ id: 'bp-frequency', name: 'frequency', label: 'Frequency', input: freq }),
          field({ id: 'bp-time', name: 'time_of_day', label: 'Time of day', input: time, hint: 'Hourly: the minute is used.' }),
          field({ id: 'bp-timezone', name: 'timezone', label: 'Time zone', input: tz, hint: 'IANA name, e.g. Europe/Berlin.' }),
          field({ id: 'bp-retention', name: 'retention_days', label: 'Keep for (days)', input: retention })),
        errSlot,
        h('div', { class: 'actions' }, submit));
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        clearErrors(form, errSlot);
        const n = Number(retention.value);
        const bodyJSON = {
          enabled: enabled.querySelector('input').checked,
          frequency: freq.value,
          retention_days: Number.isInteger(n) && retention.value !== '' ? n : retention.value,
          time_of_day: time.value || null,
          timezone: tz.value.trim() || null,
        };
        try {
          const saved = await busy(submit, 'Saving…', () => api('PUT', path('/backup-policy'), { body: bodyJSON, signal }));
          render(saved);
          announce('Backup policy saved'); changed();
        } catch (err) {
          if (isQuiet(err)) return;
          showProblem(form, err, errSlot);
        }
      });
      replace(content, facts, form);
    }
    load();
    return card({ id: 'backup', title: 'Backup policy', description: 'Scheduled snapshots, kept for the retention period.', children: [content] });
  }

  // ---- history
  function historyCard() {
    const content = h('div', {}, loading('Loading history…'));
    let seq = 0;
    reloadHistory = async () => {
      const mine = ++seq;
      try {
        const events = [];
        let cursor = null;
        for (let page = 0; page < 25; page++) {
          const res = await api('GET', '/v1/databases/history', {
            query: { db_type: type, limit: 200, events_limit: 100, include_deleted: true, cursor, ...ownerQuery(name) }, signal,
          });
          for (const e of res.databases) {
            if (e.db_name !== name) continue;
            events.push(...e.events);
            // Each entry carries its newest events; older ones are paged.
            let older = e.events_cursor;
            for (let p = 0; older && p < 50; p++) {
              const ev = await api('GET', '/v1/databases/history/events', { query: { cursor: older, limit: 100 }, signal });
              events.push(...ev.events);
              older = ev.next_cursor;
            }
          }
          cursor = res.next_cursor;
          if (!cursor) break;
        }
        if (mine !== seq) return;
        replace(content, timeline(events, 'timeline'));
      } catch (err) {
        if (isQuiet(err) || mine !== seq) return;
        replace(content, problemBox(err));
      }
    };
    reloadHistory();
    return card({ id: 'history', title: 'History', children: [content] });
  }
}

export { ENGINE_LABEL };
