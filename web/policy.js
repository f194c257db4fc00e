// The organization's token-lifetime policy (setMaxAccessTokenExpiryDays).

import { get, patch, p } from './api.js';
import { h, replace } from './dom.js';
import { field, alertBox, toast } from './ui.js';

function describe(days) {
  if (!days) return 'Currently no limit: tokens of any lifetime may be used with this organization.';
  return `Currently tokens used with this organization must expire within ${days} day${days === 1 ? '' : 's'}.`;
}

export function renderPolicy(container, { org }) {
  const current = h('p', { class: 'policy-current', role: 'status' }, 'Loading…');
  const input = h('input', { type: 'number', class: 'input input-narrow', min: '0', max: '3650', step: '1', required: true, inputmode: 'numeric' });
  const error = h('div', { class: 'form-error-slot' });
  const save = h('button', { type: 'submit', class: 'btn btn-primary', disabled: true }, 'Save');
  const form = h(
    'form',
    { class: 'policy-form' },
    field('Maximum token lifetime (days)', input, {
      hint: '1–3650 days; 0 removes the limit. Organization and team tokens must then be created with an expiry within it, and any token that never expires or expires later is refused on this organization’s routes (the console’s 12-hour session is fine).',
    }),
    error,
    h('div', { class: 'form-actions' }, save),
  );

  function show(meta) {
    const days = meta && meta.maxAccessTokenExpiryDays ? meta.maxAccessTokenExpiryDays : 0;
    current.textContent = describe(days);
    input.value = String(days);
    save.disabled = false;
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(error);
    const days = Number(input.value);
    if (!Number.isInteger(days) || days < 0 || days > 3650) {
      replace(error, alertBox('Enter a whole number of days from 0 to 3650.'));
      input.focus();
      return;
    }
    save.disabled = true;
    try {
      show(await patch(p`/api/orgs/${org}`, { setMaxAccessTokenExpiryDays: days }));
      toast('Token policy saved.');
    } catch (err) {
      replace(error, alertBox(err.message));
    } finally {
      save.disabled = false;
    }
  });

  container.append(h('section', { class: 'panel' }, h('h2', { class: 'section-title' }, 'Token lifetime policy'), current, form));
  get(p`/api/orgs/${org}/metadata`).then(show, (e) => {
    current.textContent = '';
    replace(error, alertBox(e.message));
  });
}
