// Hash routes, so the server only ever serves "/":
//   #/tokens                      personal tokens (the default)
//   #/orgs/ORG/SECTION            tokens | teams | members | policy | oidc | audit
//   #/orgs/ORG/teams/TEAM         one team: its members and tokens

export function currentRoute() {
  let parts;
  try {
    parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    parts = [];
  }
  if (parts[0] === 'orgs' && parts[1]) {
    return { page: 'org', org: parts[1], section: parts[2] || 'tokens', team: parts[2] === 'teams' ? parts[3] : undefined };
  }
  return { page: 'tokens' };
}

/** '#/orgs/acme/teams' from ('orgs', 'acme', 'teams'), each segment encoded. */
export function href(...segments) {
  return '#/' + segments.map((s) => encodeURIComponent(s)).join('/');
}

export function onRouteChange(fn) {
  window.addEventListener('hashchange', fn);
}
