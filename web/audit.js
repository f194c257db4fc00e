// The organization's audit log: filters, newest-first pages, and CSV export.

import { get, p, withQuery } from './api.js';
import { h, replace } from './dom.js';
import { dataTable, field, button, alertBox, badge, timeEl } from './ui.js';
import { toDate, formatDateTime, parseIsoDate } from './time.js';

export function renderAudit(container, { org }) {
  let events = [];
  let continuation;
  let query = {};
  const area = h('div', { class: 'table-area', 'aria-busy': 'true' });
  const more = h('div', { class: 'more' });
  const error = h('div', { class: 'form-error-slot' });

  const eventInput = h('input', { type: 'text', class: 'input', autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. member-added' });
  const userInput = h('input', { type: 'text', class: 'input', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'none', placeholder: 'login or org/token-name' });
  const fromInput = h('input', { type: 'date', class: 'input' });
  const toInput = h('input', { type: 'date', class: 'input' });
  const exportLink = h('a', { class: 'btn', download: `${org}-audit-log.csv` }, 'Export CSV');

  function readFilters() {
    const q = { eventFilter: eventInput.value.trim(), userFilter: userInput.value.trim() };
    const from = parseIsoDate(fromInput.value);
    const to = parseIsoDate(toInput.value, { hours: 23, minutes: 59, seconds: 59 });
    if (from) q.startTime = Math.floor(from.getTime() / 1000);
    if (to) q.endTime = Math.floor(to.getTime() / 1000);
    if (from && to && q.startTime > q.endTime) throw new Error('“From” must not be after “To”.');
    return q;
  }

  function updateExport() {
    exportLink.href = withQuery(p`/api/orgs/${org}/auditlogs/v2/export`, query);
  }

  async function load(append = false) {
    area.setAttribute('aria-busy', 'true');
    try {
      const page = await get(p`/api/orgs/${org}/auditlogs/v2`, { ...query, continuationToken: append ? continuation : undefined });
      events = append ? events.concat(page.auditLogEvents || []) : page.auditLogEvents || [];
      continuation = page.continuationToken;
      replace(
        area,
        dataTable({
          caption: `Audit log of ${org}`,
          empty: 'No events match.',
          rows: events,
          columns: [
            { label: 'Time', className: 'col-time', cell: (e) => timeEl(toDate(e.timestamp), formatDateTime(toDate(e.timestamp))) },
            { label: 'Event', className: 'col-event', cell: (e) => h('span', { class: 'mono' }, e.event) },
            { label: 'User', cell: (e) => (e.user && e.user.githubLogin) || e.actorName || '' },
            { label: 'Description', className: 'col-desc', cell: (e) => h('span', { class: 'break' }, e.description || '') },
            { label: 'Source IP', cell: (e) => h('span', { class: 'mono' }, e.sourceIP || '') },
            { label: 'Result', cell: (e) => (e.authFailure ? badge('refused', 'warn') : badge('ok', 'ok')) },
          ],
        }),
      );
      replace(more, continuation ? button('Load older events', () => load(true)) : null);
    } catch (e) {
      replace(area, alertBox(e.message));
      replace(more);
    } finally {
      area.setAttribute('aria-busy', 'false');
    }
  }

  const form = h(
    'form',
    { class: 'filters', 'aria-label': 'Filter the audit log' },
    field('Event', eventInput),
    field('User', userInput),
    field('From', fromInput),
    field('To', toInput),
    h('div', { class: 'filter-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply'), h('button', { type: 'reset', class: 'btn' }, 'Reset')),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    replace(error);
    try {
      query = readFilters();
    } catch (err) {
      replace(error, alertBox(err.message));
      return;
    }
    updateExport();
    load();
  });
  form.addEventListener('reset', () => {
    replace(error);
    query = {};
    updateExport();
    load();
  });

  updateExport();
  container.append(
    h(
      'section',
      { class: 'panel' },
      h(
        'div',
        { class: 'toolbar' },
        h('h2', { class: 'section-title' }, 'Audit log'),
        h('div', { class: 'toolbar-end' }, exportLink),
      ),
      h('p', { class: 'hint' }, 'Newest first. The export holds up to 10,000 events matching the filters, as CSV.'),
      form,
      error,
      area,
      more,
    ),
  );
  load();
}
