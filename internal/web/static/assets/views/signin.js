// Sign in with an API key. The input has no name, so even if the form were
// ever submitted without JavaScript the key would not end up in a URL.

import { signIn } from '../api.js';
import { h, field, showProblem, clearErrors, isQuiet, problemBox } from '../ui.js';

export function signInView(root, { onSignedIn, reason }) {
  const key = h('input', {
    type: 'password', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off',
    required: true, 'data-testid': 'signin-key',
  });
  const submit = h('button', { type: 'submit', class: 'btn primary', id: 'signin-submit' }, 'Sign in');
  const errSlot = h('div', { class: 'problem-slot', id: 'signin-error' });
  const form = h('form', { id: 'signin-form', class: 'stack', novalidate: true },
    field({
      id: 'signin-key', name: 'key', label: 'API key', input: key,
      hint: 'The key stays in this tab’s memory only. Reloading or closing the tab signs you out.',
    }),
    errSlot,
    h('div', { class: 'actions' }, submit));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form, errSlot);
    const value = key.value.trim();
    if (!value) {
      const slot = form.querySelector('#signin-key-error');
      slot.textContent = 'Enter your API key.';
      slot.hidden = false;
      key.setAttribute('aria-invalid', 'true');
      key.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    try {
      await signIn(value);
      key.value = '';
      onSignedIn();
    } catch (err) {
      if (isQuiet(err)) return;
      submit.disabled = false;
      submit.textContent = 'Sign in';
      showProblem(form, err, errSlot);
      key.setAttribute('aria-invalid', 'true');
      key.focus();
    }
  });

  if (reason) {
    // The API stopped accepting the key during the session.
    errSlot.append(problemBox(reason), h('p', { class: 'hint' }, 'You were signed out. Sign in with a valid key.'));
  }
  root.append(h('div', { class: 'signin' },
    h('div', { class: 'signin-card' },
      h('p', { class: 'brand-large', 'aria-hidden': 'true' }, h('span', { class: 'brand-mark' }, '◆'), ' Cellar'),
      h('h1', { id: 'page-title', tabindex: '-1' }, 'Sign in'),
      h('p', { class: 'muted' }, 'Managed PostgreSQL and MariaDB databases. Sign in with an API key.'),
      form)));
  key.focus();
}
