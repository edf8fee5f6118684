// api.js: the only place that knows the API key. It lives in this module's
// memory: never in the URL, Web Storage, cookies or logs. Reloading or
// closing the tab ends the session; signOut() drops it.

let apiKey = null;
// generation changes at every sign-in and sign-out, so that an answer to a
// request made by an earlier session is thrown away, not shown.
let generation = 0;

// session describes the signed-in key (GET /v1/me) and, for internal keys,
// the customer the dashboard acts for.
export const session = { me: null, customer: null };

export const PERMS = ['database:create', 'database:read', 'database:update', 'database:delete', 'admin'];

// ApiError is an RFC 9457 problem answered by the API, or a network failure
// presented the same way.
export class ApiError extends Error {
  constructor(status, problem) {
    const p = problem && typeof problem === 'object' ? problem : {};
    super(p.detail || p.title || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.title = p.title || (status ? `Request failed (HTTP ${status})` : 'Request failed');
    this.detail = p.detail || '';
    this.fieldErrors = Array.isArray(p.errors) ? p.errors : [];
    this.requestId = p.request_id || '';
  }
}

// SessionEnded is thrown for an answer that arrives after sign-out (or a
// new sign-in): callers ignore it.
export class SessionEnded extends Error {
  constructor() {
    super('session ended');
    this.name = 'SessionEnded';
  }
}

// onUnauthorized runs when the API rejects the key during a session (it
// was revoked or expired): the dashboard then signs out.
let onUnauthorized = null;
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export function signedIn() {
  return apiKey !== null && session.me !== null;
}

export function can(perm) {
  return !!session.me && session.me.permissions.includes(perm);
}

// customerQuery returns the customer_id parameter internal keys pass to act
// for another customer (empty for other keys: the API ignores it anyway).
export function customerQuery() {
  if (session.me && session.me.internal && session.customer && session.customer !== session.me.customer_id) {
    return { customer_id: session.customer };
  }
  return {};
}

// signIn checks the key with GET /v1/me and keeps it only if the API
// accepts it.
export async function signIn(key) {
  generation++;
  apiKey = key;
  session.me = null;
  session.customer = null;
  try {
    const me = await api('GET', '/v1/me');
    session.me = me;
    session.customer = me.customer_id;
    return me;
  } catch (err) {
    apiKey = null;
    throw err;
  }
}

export function signOut() {
  generation++;
  apiKey = null;
  session.me = null;
  session.customer = null;
}

// api sends one request with the key and returns the decoded JSON body, or
// throws an ApiError with the problem's title, detail and field errors.
export async function api(method, path, { body, query, signal } = {}) {
  if (apiKey === null) {
    throw new SessionEnded();
  }
  const gen = generation;
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') {
      url.searchParams.set(k, String(v));
    }
  }
  const headers = { 'X-API-Key': apiKey, Accept: 'application/json, application/problem+json' };
  const init = { method, headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer', signal };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(url, init);
  } catch (err) {
    if (gen !== generation) throw new SessionEnded();
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, { title: 'Cannot reach Cellar', detail: 'The request did not get an answer. Check your connection and try again.' });
  }
  let text = '';
  try {
    text = await resp.text();
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
  }
  if (gen !== generation) throw new SessionEnded();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!resp.ok) {
    const err = new ApiError(resp.status, data || { title: resp.statusText || `HTTP ${resp.status}`, detail: '' });
    if (resp.status === 401 && session.me !== null && onUnauthorized) {
      // Only for a key that was good at sign-in; let the caller stay quiet.
      queueMicrotask(() => onUnauthorized(err));
      throw new SessionEnded();
    }
    throw err;
  }
  return data;
}

// dbPath builds /v1/databases/{type}/{name}{suffix} with escaped segments.
export function dbPath(type, name, suffix = '') {
  return `/v1/databases/${encodeURIComponent(type)}/${encodeURIComponent(name)}${suffix}`;
}
