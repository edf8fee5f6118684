// ui.js: small DOM helpers shared by the views. Everything is built with
// createElement and textContent: no HTML strings, no inline styles.

import { ApiError, SessionEnded } from './api.js';

// h creates an element. attrs: class, text, on<event> handlers, booleans
// (true sets the attribute, false or null leaves it out), value and checked
// as properties; everything else as attributes. Children may be nodes,
// strings, numbers, arrays, or null/false (skipped).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'value') value = v;
    else if (k === 'checked') el.checked = !!v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, ...children);
  if (value !== undefined) el.value = value;
  return el;
}

export function append(el, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, ...children);
}

// announce speaks a short status message to screen readers and shows it
// briefly as a toast.
let toastTimer = null;
export function announce(message) {
  const live = document.getElementById('status');
  if (live) live.textContent = message;
  const toast = document.getElementById('toast');
  if (toast) {
    toast.textContent = message;
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      toast.hidden = true;
    }, 4000);
  }
}

// ---- formatting

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const shortDateFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

export function fmtDate(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : dateFmt.format(d);
}

const secondsFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

export function fmtClock(ms, spanMs) {
  const d = new Date(ms);
  if (spanMs > 36 * 3600 * 1000) return shortDateFmt.format(d);
  if (spanMs < 15 * 60 * 1000) return secondsFmt.format(d);
  return timeFmt.format(d);
}

// shortPerm shows database:read as read (the full name in the title).
export function permTag(p) {
  return h('span', { class: `tag${p === 'admin' ? ' internal' : ''}`, title: p }, p.replace(/^database:/, ''));
}

// timeEl renders a date as <time> with the exact instant as its title.
export function timeEl(iso, short = false) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  const text = short && !Number.isNaN(d.getTime()) ? shortDateFmt.format(d) : fmtDate(iso);
  return h('time', { datetime: iso, title: fmtDate(iso) }, text);
}

// cellTime is timeEl in the compact form tables use.
export const cellTime = (iso) => timeEl(iso, true);

export function relTime(iso) {
  if (!iso) return '';
  const s = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
  const abs = Math.abs(s);
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  if (abs < 60) return rtf.format(s, 'second');
  if (abs < 3600) return rtf.format(Math.round(s / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(s / 3600), 'hour');
  return rtf.format(Math.round(s / 86400), 'day');
}

export function fmtBytes(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = Number(n);
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function fmtMB(mb) {
  if (mb === null || mb === undefined) return '—';
  return fmtBytes(Number(mb) * 1024 * 1024);
}

export function fmtGB(gb) {
  if (gb === null || gb === undefined) return '—';
  return fmtBytes(Number(gb) * 1024 * 1024 * 1024);
}

export function fmtNumber(n, digits = 0) {
  if (n === null || n === undefined) return '—';
  return Number(n).toLocaleString(undefined, { maximumFractionDigits: digits });
}

export function fmtMoney(amount, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(amount);
  } catch {
    return `${Number(amount).toFixed(2)} ${currency}`;
  }
}

export const ENGINE_LABEL = { postgresql: 'PostgreSQL', mariadb: 'MariaDB' };
export const ENGINE_SHORT = { postgresql: 'pg', mariadb: 'my' };

export function engineBadge(type) {
  return h('span', { class: `badge engine engine-${type}` }, ENGINE_LABEL[type] || type);
}

export function statusBadge(status) {
  return h('span', { class: `badge status status-${status}`, 'data-status': status }, status);
}

// ---- states

export function loading(text = 'Loading…', id) {
  return h('p', { class: 'loading', role: 'status', id }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text);
}

export function empty(text, id) {
  return h('p', { class: 'empty', id }, text);
}

// problemBox shows an API problem: title, detail, field errors that have no
// field on screen, and the request id for support.
export function problemBox(err, unmatched) {
  if (err instanceof SessionEnded) return null;
  const e = err instanceof ApiError ? err : new ApiError(0, { title: 'Something went wrong', detail: String(err && err.message ? err.message : err) });
  const fields = unmatched || e.fieldErrors;
  return h('div', { class: 'problem', role: 'alert' },
    h('strong', { class: 'problem-title' }, e.title),
    e.detail ? h('span', { class: 'problem-detail' }, ' ', e.detail) : null,
    fields.length ? h('ul', {}, fields.map((f) => h('li', {}, h('code', {}, f.field), ': ', f.message))) : null,
    e.requestId ? h('small', { class: 'problem-id' }, `Request ${e.requestId}`) : null);
}

// ---- forms

let fieldSeq = 0;

// field builds a labelled control with an optional hint and an error slot
// that showProblem fills with the API's message for the field `name`.
export function field({ id, label, name, input, hint, optional }) {
  const fid = id || `f${++fieldSeq}`;
  input.id = fid;
  const hintId = `${fid}-hint`;
  const errId = `${fid}-error`;
  const described = [hint ? hintId : null, errId].filter(Boolean).join(' ');
  input.setAttribute('aria-describedby', described);
  const hintEl = hint ? h('p', { class: 'hint', id: hintId }, hint) : null;
  return h('div', { class: 'field', 'data-field': name || fid },
    h('label', { for: fid }, label, optional ? h('span', { class: 'optional' }, ' (optional)') : null),
    input,
    hintEl,
    h('p', { class: 'field-error', id: errId, hidden: true }));
}

// checkField is a checkbox with its label after it.
export function checkField({ id, label, name, checked, hint }) {
  const input = h('input', { type: 'checkbox', id, checked });
  const hintId = hint ? `${id}-hint` : null;
  if (hintId) input.setAttribute('aria-describedby', hintId);
  return h('div', { class: 'field check', 'data-field': name || id },
    h('label', { for: id, class: 'check-label' }, input, ' ', label),
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    h('p', { class: 'field-error', id: `${id}-error`, hidden: true }));
}

export function clearErrors(root, generalSlot) {
  root.querySelectorAll('.field-error').forEach((e) => {
    e.textContent = '';
    e.hidden = true;
  });
  root.querySelectorAll('[aria-invalid]').forEach((i) => i.removeAttribute('aria-invalid'));
  if (generalSlot) clear(generalSlot);
}

// showProblem puts each field error next to its field (by data-field) and
// the problem's title and detail in generalSlot, then focuses the first
// invalid field. Errors for fields not on screen are listed in generalSlot.
export function showProblem(root, err, generalSlot) {
  if (err instanceof SessionEnded || (err && err.name === 'AbortError')) return;
  clearErrors(root, generalSlot);
  const unmatched = [];
  let first = null;
  const fieldErrors = err instanceof ApiError ? err.fieldErrors : [];
  for (const fe of fieldErrors) {
    const wrap = root.querySelector(`[data-field="${CSS.escape(fe.field)}"]`);
    const slot = wrap && wrap.querySelector('.field-error');
    if (!slot) {
      unmatched.push(fe);
      continue;
    }
    slot.textContent = slot.textContent ? `${slot.textContent} ${fe.message}` : fe.message;
    slot.hidden = false;
    const input = wrap.querySelector('input, select, textarea');
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      if (!first) first = input;
    }
  }
  if (generalSlot) append(generalSlot, problemBox(err, unmatched));
  if (first) first.focus();
}

// busy disables a button while an action runs and shows it is working.
export async function busy(button, labelWhileBusy, fn) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  if (labelWhileBusy) button.textContent = labelWhileBusy;
  try {
    return await fn();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.textContent = label;
  }
}

// ---- copying

export async function copyText(text, sourceEl) {
  try {
    if (!navigator.clipboard || !window.isSecureContext) throw new Error('no clipboard');
    await navigator.clipboard.writeText(text);
    announce('Copied to the clipboard');
  } catch {
    if (sourceEl) {
      const range = document.createRange();
      range.selectNodeContents(sourceEl);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
    }
    announce('Selected: press Ctrl+C (⌘C) to copy');
  }
}

export function copyButton(getText, sourceEl, { id, label = 'Copy', what } = {}) {
  return h('button', {
    type: 'button', class: 'btn small', id,
    'aria-label': what ? `Copy ${what}` : null,
    onclick: () => copyText(typeof getText === 'function' ? getText() : getText, sourceEl),
  }, label);
}

// copyLine is a labelled read-only value with a copy button.
export function copyLine(label, value, { id, what } = {}) {
  const code = h('code', { class: 'copy-value', id }, value);
  return h('div', { class: 'copy-line' },
    h('span', { class: 'copy-label' }, label),
    h('div', { class: 'copy-row' }, code, copyButton(value, code, { what: what || label })));
}

// secretBox shows a secret once (a new password or API key) with a copy
// button and the plain warning that it will not be shown again. Dismissing
// it removes the secret from the page.
export function secretBox({ heading, label, secret, warning, extra = [], onDismiss }) {
  const value = h('code', { class: 'copy-value secret-value', id: 'secret-value', 'data-testid': 'secret-value' }, secret);
  const box = h('section', { class: 'secret-box', id: 'secret-box', 'aria-labelledby': 'secret-heading', tabindex: '-1' },
    h('h2', { id: 'secret-heading' }, heading),
    h('p', { class: 'secret-warning', id: 'secret-warning' }, h('strong', {}, warning || 'This password will not be shown again.'), ' Copy it now and keep it somewhere safe.'),
    h('div', { class: 'copy-line' },
      h('span', { class: 'copy-label' }, label || 'Password'),
      h('div', { class: 'copy-row' }, value, copyButton(secret, value, { id: 'secret-copy', what: (label || 'password').toLowerCase() }))),
    extra,
    h('div', { class: 'actions' },
      h('button', {
        type: 'button', class: 'btn', id: 'secret-dismiss',
        onclick: () => {
          box.remove();
          if (onDismiss) onDismiss();
        },
      }, 'I have saved it')));
  return box;
}

export function showSecret(slot, opts) {
  replace(slot, secretBox({ ...opts, onDismiss: () => clear(slot) }));
  const box = slot.querySelector('#secret-box');
  box.scrollIntoView({ block: 'nearest' });
  box.focus();
}

// ---- dialogs

// openDialog shows a modal <dialog>. With requireText, the confirm button
// stays disabled until that exact text is typed. onConfirm runs while the
// dialog is open; its problem is shown inside the dialog (field errors at
// their fields), and on success the dialog closes and resolves with its
// result. Cancel or Escape resolves undefined. Focus returns to the control
// that opened it.
export function openDialog({ id = 'confirm-dialog', title, body = [], confirmLabel = 'Confirm', danger = false, requireText, onConfirm }) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const errSlot = h('div', { class: 'problem-slot', id: `${id.replace(/-dialog$/, '')}-error` });
    const ok = h('button', { type: 'submit', class: danger ? 'btn danger' : 'btn primary', id: 'confirm-ok' }, confirmLabel);
    const cancel = h('button', { type: 'button', class: 'btn', id: 'confirm-cancel' }, 'Cancel');
    let confirmInput = null;
    if (requireText) {
      confirmInput = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', 'data-testid': 'confirm-input' });
      ok.disabled = true;
      confirmInput.addEventListener('input', () => {
        ok.disabled = confirmInput.value !== requireText;
      });
    }
    const form = h('form', { method: 'dialog', novalidate: true },
      h('h2', { id: `${id}-title` }, title),
      h('div', { class: 'dialog-body' }, body),
      confirmInput ? field({ id: 'confirm-input', name: 'confirm', label: h('span', {}, 'Type ', h('code', {}, requireText), ' to confirm'), input: confirmInput }) : null,
      errSlot,
      h('div', { class: 'actions' }, cancel, ok));
    const dlg = h('dialog', { id, class: 'dialog', 'aria-labelledby': `${id}-title` }, form);
    let result;
    let running = false;
    cancel.addEventListener('click', () => dlg.close());
    dlg.addEventListener('cancel', (ev) => {
      if (running) ev.preventDefault();
    });
    dlg.addEventListener('close', () => {
      dlg.remove();
      if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
      resolve(result);
    });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (requireText && confirmInput.value !== requireText) return;
      running = true;
      clearErrors(form, errSlot);
      const label = ok.textContent;
      ok.disabled = true;
      cancel.disabled = true;
      ok.setAttribute('aria-busy', 'true');
      ok.textContent = 'Working…';
      try {
        result = onConfirm ? await onConfirm(form) : true;
        if (result === undefined) result = true;
        running = false;
        dlg.close();
      } catch (err) {
        running = false;
        ok.textContent = label;
        ok.disabled = false;
        cancel.disabled = false;
        ok.removeAttribute('aria-busy');
        if (err instanceof SessionEnded) {
          dlg.close();
          return;
        }
        showProblem(form, err, errSlot);
      }
    });
    document.body.append(dlg);
    dlg.showModal();
    const first = dlg.querySelector('input:not([type=hidden]), select, textarea');
    (first || cancel).focus();
  });
}

export function closeDialogs() {
  document.querySelectorAll('dialog').forEach((d) => {
    if (d.open) d.close();
    d.remove();
  });
}

// ---- tables

// dataTable renders a sortable table. columns: {key, label, sort(row) (a
// comparable value; omit for unsortable), render(row) (node or text),
// class}. Rows get attributes from rowAttrs(row). On narrow screens the CSS
// turns rows into cards using each cell's data-label.
export function dataTable({ id, caption, columns, rows = [], sortKey, sortDir = 'asc', rowAttrs, emptyText = 'Nothing here yet.' }) {
  let current = rows;
  let key = sortKey;
  let dir = sortDir;
  const headRow = h('tr');
  const tbody = h('tbody');
  const table = h('table', { class: 'table', id }, caption ? h('caption', { class: 'visually-hidden' }, caption) : null, h('thead', {}, headRow), tbody);
  const emptyEl = empty(emptyText, id ? `${id}-empty` : undefined);
  // On narrow screens the header is hidden and this select sorts instead.
  const sortable = columns.filter((c) => c.sort);
  const sortSelect = sortable.length
    ? h('select', { id: id ? `${id}-sort` : undefined, class: 'sort-select' },
      sortable.map((c) => [h('option', { value: `${c.key}:asc` }, `${c.label} ↑`), h('option', { value: `${c.key}:desc` }, `${c.label} ↓`)]))
    : null;
  if (sortSelect) {
    sortSelect.addEventListener('change', () => {
      [key, dir] = sortSelect.value.split(':');
      render();
    });
  }
  const sortBar = sortSelect
    ? h('div', { class: 'sort-bar' }, h('label', { for: sortSelect.id || null }, 'Sort by'), sortSelect)
    : null;
  if (sortSelect && !sortSelect.id) sortBar.querySelector('label').append(sortSelect);
  const wrap = h('div', { class: 'table-wrap' }, sortBar, table, emptyEl);

  function renderHead() {
    clear(headRow);
    for (const c of columns) {
      const th = h('th', { scope: 'col', class: c.class });
      if (c.sort) {
        const active = c.key === key;
        th.setAttribute('aria-sort', active ? (dir === 'asc' ? 'ascending' : 'descending') : 'none');
        th.append(h('button', {
          type: 'button', class: 'sort', 'data-sort': c.key,
          onclick: () => {
            if (key === c.key) dir = dir === 'asc' ? 'desc' : 'asc';
            else {
              key = c.key;
              dir = 'asc';
            }
            render();
          },
        }, c.label, h('span', { class: 'sort-mark', 'aria-hidden': 'true' }, active ? (dir === 'asc' ? ' ▲' : ' ▼') : ' ↕')));
      } else {
        th.append(c.label);
      }
      headRow.append(th);
    }
  }

  function cellsFor(tr, row) {
    clear(tr);
    for (const c of columns) {
      const v = c.render ? c.render(row) : row[c.key];
      tr.append(h('td', { class: c.class, 'data-label': c.label, 'data-col': c.key }, v));
    }
  }

  function sorted() {
    const col = columns.find((c) => c.key === key && c.sort);
    if (!col) return current.slice();
    const m = dir === 'asc' ? 1 : -1;
    return current.slice().sort((a, b) => {
      const x = col.sort(a);
      const y = col.sort(b);
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      if (typeof x === 'string') return x.localeCompare(y) * m;
      return (x < y ? -1 : 1) * m;
    });
  }

  const trs = new Map();
  function render() {
    renderHead();
    if (sortSelect) sortSelect.value = `${key}:${dir}`;
    clear(tbody);
    trs.clear();
    for (const row of sorted()) {
      const tr = h('tr', rowAttrs ? rowAttrs(row) : {});
      cellsFor(tr, row);
      trs.set(row, tr);
      tbody.append(tr);
    }
    table.hidden = current.length === 0;
    emptyEl.hidden = current.length !== 0;
    if (sortBar) sortBar.hidden = current.length < 2;
  }
  render();
  return {
    el: wrap,
    table,
    setRows(r) {
      current = r;
      render();
    },
    setEmptyText(t) {
      emptyEl.textContent = t;
    },
    // refreshRow re-renders one row's cells in place, keeping focus elsewhere.
    refreshRow(row) {
      const tr = trs.get(row);
      if (!tr) return;
      const focused = tr.contains(document.activeElement) ? document.activeElement.dataset.action : null;
      cellsFor(tr, row);
      if (focused) {
        const again = tr.querySelector(`[data-action="${focused}"]`);
        if (again) again.focus();
      }
    },
  };
}

// card is a titled section of a page.
export function card({ id, title, actions, children = [], description }) {
  const hid = id ? `${id}-heading` : undefined;
  return h('section', { class: 'card', id, 'aria-labelledby': hid },
    h('div', { class: 'card-head' }, h('h2', { id: hid }, title), actions ? h('div', { class: 'card-actions' }, actions) : null),
    description ? h('p', { class: 'card-desc' }, description) : null,
    children);
}

// pageHeader is the page's h1; the router focuses it after navigation.
export function pageHeader(title, ...extra) {
  return h('div', { class: 'page-head' }, h('h1', { id: 'page-title', tabindex: '-1' }, title), extra);
}

export function dl(pairs, cls = 'facts') {
  return h('dl', { class: cls }, pairs.filter(Boolean).map(([k, v, id]) => h('div', { class: 'fact' }, h('dt', {}, k), h('dd', { id }, v))));
}

// every runs fn every ms until the signal aborts; fn may return false to stop.
export function poll(signal, ms, fn) {
  let timer = null;
  const tick = async () => {
    if (signal.aborted) return;
    let again = true;
    try {
      again = (await fn()) !== false;
    } catch {
      again = true;
    }
    if (again && !signal.aborted) timer = setTimeout(tick, ms);
  };
  signal.addEventListener('abort', () => clearTimeout(timer));
  timer = setTimeout(tick, ms);
  return () => clearTimeout(timer);
}

// isQuiet tells errors that need no message: the session ended, or the
// view was left while a request was running.
export function isQuiet(err) {
  return err instanceof SessionEnded || (err && err.name === 'AbortError');
}
