// The sign-in form: login and password, or an access token.

import { h, replace } from './dom.js';
import { field, segmented, alertBox } from './ui.js';
import { signInWithPassword, signInWithToken } from './session.js';

/** notice: an optional message shown above the form (session ended, signed out). */
export function renderSignIn(root, { notice } = {}) {
  let mode = 'password';
  const login = h('input', { type: 'text', class: 'input', name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { type: 'password', class: 'input', name: 'password', autocomplete: 'current-password', required: true });
  const token = h('input', { type: 'password', class: 'input mono', name: 'token', autocomplete: 'off', spellcheck: 'false', placeholder: 'pul-…' });
  const passwordFields = h('div', { class: 'mode-fields' }, field('Login', login), field('Password', password));
  const tokenFields = h('div', { class: 'mode-fields', hidden: true }, field('Access token', token, { hint: 'A personal access token; the console session lasts at most 12 hours.' }));
  const error = h('div', { class: 'form-error-slot' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Sign in');

  const modes = segmented({
    legend: 'Sign in with',
    options: [
      { value: 'password', label: 'Login and password' },
      { value: 'token', label: 'Token' },
    ],
    value: mode,
    onChange: (v) => {
      mode = v;
      passwordFields.hidden = v !== 'password';
      tokenFields.hidden = v !== 'token';
      login.required = password.required = v === 'password';
      token.required = v === 'token';
      replace(error);
    },
  });

  const form = h('form', { class: 'signin-form', 'aria-labelledby': 'signin-title' }, modes.node, passwordFields, tokenFields, error, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(error);
    submit.disabled = true;
    form.setAttribute('aria-busy', 'true');
    try {
      if (mode === 'password') await signInWithPassword(login.value.trim(), password.value);
      else await signInWithToken(token.value.trim());
      // The session listener replaces this page.
    } catch (err) {
      replace(error, alertBox(err.message));
      if (mode === 'password') {
        password.value = '';
        password.focus();
      } else {
        token.select();
        token.focus();
      }
    } finally {
      submit.disabled = false;
      form.removeAttribute('aria-busy');
    }
  });

  replace(
    root,
    h(
      'main',
      { class: 'signin', id: 'main' },
      h(
        'div',
        { class: 'signin-card' },
        h('div', { class: 'brand brand-large' }, h('img', { src: '/console/logo.svg', alt: '', width: '36', height: '36' }), h('span', {}, 'Tessera')),
        h('h1', { id: 'signin-title', tabindex: '-1' }, 'Sign in'),
        notice ? alertBox(notice, 'info') : null,
        form,
      ),
    ),
  );
  document.title = 'Sign in · Tessera';
  login.focus();
}
