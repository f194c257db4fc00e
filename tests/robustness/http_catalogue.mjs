// The socket-level bad-input catalogue: malformed HTTP/1.1 requests (request line, header lines,
// framing, chunking, bodies), each with what Tessera must answer. Built by code so that every
// byte class is tried where it matters, but each case is one fixed sequence of bytes with a name
// that says what is wrong with it.
//
// A case expects, unless it says otherwise, a 4xx with the JSON error shape. `status` pins the
// exact status; `close` says the server must close the connection after answering (framing the
// next request would be guesswork). A case with `mhd` is on the exception list: libmicrohttpd
// 0.9.75 answers it itself, with its own HTML page, before Tessera sees the request (MHD_EXCEPTIONS
// in http_framing.test.mjs checks each still behaves so; the list may only shrink). A case with
// `ok` is a control: valid, if unusual, and must succeed, so that the refusals above are not just a
// server refusing everything.

const CRLF = '\r\n';

/** A request: line, header lines (strings, joined with CRLF) and an optional body. */
export function request(line, headers = ['Host: a'], body = '') {
  return Buffer.concat([
    Buffer.from(line + CRLF + headers.map((h) => h + CRLF).join('') + CRLF, 'latin1'),
    Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1'),
  ]);
}

const hex2 = (c) => c.toString(16).padStart(2, '0');
const controls = [...Array(32).keys(), 0x7f].filter((c) => c !== 0x0a); // LF ends a line anyway

/**
 * The catalogue for a server where `token` is a valid personal token. Each case:
 * {id, bytes, status?, message?: RegExp, close?, mhd?: {status (0: no answer), note}, ok?: status,
 *  head?: a HEAD request (an answer without a body)}
 */
export function catalogue(token) {
  const auth = `Authorization: token ${token}`;
  const cases = [];
  const add = (id, bytes, expect = {}) => cases.push({ id, bytes, ...expect });
  const get = (path = '/healthz', headers = ['Host: a']) => request(`GET ${path} HTTP/1.1`, headers);
  const post = (headers, body) => request('POST /api/user/tokens HTTP/1.1', ['Host: a', auth, ...headers], body);

  // ---- controls
  add('control: plain GET', get(), { ok: 200 });
  add('control: LF-only line endings', Buffer.from('GET /healthz HTTP/1.1\nHost: a\n\n'), { ok: 200 });
  add('control: HTTP/1.0 without Host', request('GET /healthz HTTP/1.0', []), { ok: 200 });
  add('control: HEAD on a GET route', request('HEAD /healthz HTTP/1.1'), { ok: 200, head: true });
  add('control: header value with a tab', get('/healthz', ['Host: a', 'X-A: b\tc']), { ok: 200 });
  add('control: header value with obs-text', get('/healthz', ['Host: a', 'X-A: caf\xe9']), { ok: 200 });
  add('control: leading whitespace after the colon', get('/healthz', ['Host:   a']), { ok: 200 });
  // A body in chunks reaches the handler whole: its unknown field is named in the refusal.
  add('control: chunked body', post(['Transfer-Encoding: chunked'], '3\r\n{"x\r\n4\r\n":1}\r\n0\r\n\r\n'), { status: 400, message: /unknown field "x"/ });
  add('control: CHUNKED in capitals', post(['Transfer-Encoding: CHUNKED'], '7\r\n{"y":1}\r\n0\r\n\r\n'), { status: 400, message: /unknown field "y"/ });
  add('control: HTTP/1.2 is served as HTTP/1.1 (RFC 9110 2.5)', request('GET /healthz HTTP/1.2'), { ok: 200 });
  add('control: 32 query parameters', get('/healthz?' + Array.from({ length: 32 }, (_, i) => `p${i}=1`).join('&')), { ok: 200 });
  add('control: 96 header fields', get('/healthz', ['Host: a', ...Array.from({ length: 95 }, (_, i) => `X-${i}: v`)]), { ok: 200 });

  // ---- request line
  const lineCases = [
    ['method with a NUL', 'GE\0T /healthz HTTP/1.1'],
    ['method with a control byte', 'GE\x01T /healthz HTTP/1.1'],
    ['method with DEL', 'GET\x7f /healthz HTTP/1.1'],
    ['method with non-ASCII', 'G\xc9T /healthz HTTP/1.1'],
    ['method with a separator', 'GE(T /healthz HTTP/1.1'],
    ['two spaces after the method', 'GET  /healthz HTTP/1.1'],
    ['two spaces before the version', 'GET /healthz  HTTP/1.1'],
    ['space inside the URI', 'GET /heal thz HTTP/1.1'],
    ['NUL at the end of the URI', 'GET /healthz\0 HTTP/1.1'],
    ['bare CR inside the URI', 'GET /heal\rthz HTTP/1.1'],
    ['non-ASCII byte in the URI', 'GET /h\xe9althz HTTP/1.1'],
    ['invalid UTF-8 in the URI', 'GET /\xff\xfe HTTP/1.1'],
    ['ESC in the query', 'GET /healthz?a=\x1b[31m HTTP/1.1'],
    ['space in the query', 'GET /healthz?a=b c HTTP/1.1'],
    ['URI not starting with a slash', 'GET healthz HTTP/1.1'],
    ['asterisk-form URI on GET', 'GET * HTTP/1.1'],
    ['absolute-form URI', 'GET http://a/nowhere HTTP/1.1'],
    ['authority-form URI on GET', 'GET a:80 HTTP/1.1'],
    ['encoded NUL in the path', 'GET /api/user/tokens/%00 HTTP/1.1'],
    ['encoded slash in the path', 'GET /api/user%2ftokens HTTP/1.1'],
    ['encoded upper-case slash in the path', 'GET /api/user%2Ftokens HTTP/1.1'],
    ['dot segments', 'GET /api/../healthz HTTP/1.1'],
    ['unknown method', 'BREW /healthz HTTP/1.1'],
    ['lower-case method', 'get /healthz HTTP/1.1'],
    ['a token as the method', `${token} /healthz HTTP/1.1`],
    ['method of 300 letters', `${'G'.repeat(300)} /healthz HTTP/1.1`],
    ['URI of 4097 bytes', `GET /${'a'.repeat(4096)} HTTP/1.1`],
    ['percent-encoded URI over the limit', `GET /${'%41'.repeat(1400)} HTTP/1.1`],
    ['query of 33 parameters', 'GET /healthz?' + Array.from({ length: 33 }, (_, i) => `p${i}=1`).join('&') + ' HTTP/1.1'],
    ['query of 500 parameters', 'GET /healthz?' + Array.from({ length: 500 }, (_, i) => `a${i}=1`).join('&') + ' HTTP/1.1'],
    ['query of 1500 empty parameters', 'GET /healthz?' + '&'.repeat(1500) + ' HTTP/1.1'],
  ];
  for (const [what, line] of lineCases) add(`request line: ${what}`, request(line));
  // every byte a URI may not hold raw (RFC 3986 §2), in the path and in the query
  for (const b of [...controls, 0x80, 0xa0, 0xff]) {
    if (b === 0x0d) continue; // a bare CR is covered above
    add(`URI with byte 0x${hex2(b)} in the path`, request(`GET /heal${String.fromCharCode(b)}thz HTTP/1.1`));
    if (b < 0x20) add(`URI with byte 0x${hex2(b)} in the query`, request(`GET /healthz?a=${String.fromCharCode(b)} HTTP/1.1`));
  }
  // Versions libmicrohttpd refuses before Tessera sees the request.
  const mhdLines = [
    ['HTTP/2.0', 'GET /healthz HTTP/2.0', 505],
    ['HTTP/3.0', 'GET /healthz HTTP/3.0', 505],
    ['lower-case version', 'GET /healthz http/1.1', 400],
    ['version with trailing junk', 'GET /healthz HTTP/1.1x', 400],
    ['version without minor', 'GET /healthz HTTP/1', 400],
    ['no version', 'GET /healthz', 400],
    ['tab between method and URI', 'GET\t/healthz HTTP/1.1', 400],
    // Without a space there is no URI: libmicrohttpd drops the connection before any callback.
    ['no URI and no version', 'GET', 0],
    ['garbage request line', '\x16\x03\x01\x02\x00\x01\x00', 0],
  ];
  for (const [what, line, status] of mhdLines)
    add(`request line: ${what}`, request(line), { mhd: { status, note: 'libmicrohttpd parses the version itself' } });

  // ---- header names: every byte RFC 9110 keeps out of a token
  const nameBytes = [...controls, 0x20, ...'"(),/;<=>?@[\\]{}'.split('').map((c) => c.charCodeAt(0)), 0x80, 0xc3, 0xff];
  for (const b of nameBytes) {
    if (b === 0x0d) continue; // a CR in a name is covered below
    const name = `X-A${String.fromCharCode(b)}B`;
    const id = `header name with byte 0x${hex2(b)}`;
    if (b === 0x00) add(id, get('/healthz', ['Host: a', `${name}: v`]), { mhd: { status: 400, note: 'libmicrohttpd looks for the colon with strchr and stops at the NUL' } });
    else add(id, get('/healthz', ['Host: a', `${name}: v`]), { status: 400, close: true });
  }
  add('header name: space before the colon', get('/healthz', ['Host: a', 'Transfer-Encoding : chunked']), { status: 400, close: true });
  add('header name: tab before the colon', get('/healthz', ['Host: a', 'X-A\t: v']), { status: 400, close: true });
  add('header name: space before the colon of Content-Length', post(['Content-Length : 2'], '{}'), { status: 400, close: true });
  add('header name: empty', get('/healthz', ['Host: a', ': v']), { status: 400, close: true });
  add('header name: CR inside', get('/healthz', ['Host: a', 'X-\rA: v']), { status: 400, close: true });
  add('header line: no colon', get('/healthz', ['Host: a', 'NoColonHere']), { mhd: { status: 400, note: 'libmicrohttpd refuses a header line without a colon itself' } });
  add('header line: folded continuation', get('/healthz', ['Host: a', 'X-A: b', ' c']), { status: 400, close: true });
  add('header line: folded with a tab', get('/healthz', ['Host: a', 'X-A: b', '\tc']), { status: 400, close: true });
  add('header line: first line folded', get('/healthz', [' Host: a']), { status: 400, close: true });
  add('header line: folded Transfer-Encoding', request('POST /healthz HTTP/1.1', ['Host: a', 'Transfer-Encoding: chun', ' ked'], '0\r\n\r\n'), { status: 400, close: true });

  // ---- header values: every control byte but tab
  for (const b of controls) {
    if (b === 0x09) continue;
    const id = `header value with byte 0x${hex2(b)}`;
    add(id, get('/healthz', ['Host: a', `X-A: b${String.fromCharCode(b)}c`]), { status: 400, close: true });
    add(`${id} in Authorization`, get('/api/user', ['Host: a', `Authorization: token ${token}${String.fromCharCode(b)}`]), { status: 400, close: true });
  }
  add('header value: NUL hiding a second value', get('/healthz', ['Host: a', 'X-A: b\0Content-Length: 5']), { status: 400, close: true });
  add('header value: NUL at the very end', get('/healthz', ['Host: a', 'X-A: b\0']), { status: 400, close: true });
  add('header value: bare CR before CRLF', get('/healthz', ['Host: a', 'X-A: b\r']), { status: 400, close: true });
  add('header value: CR splitting two headers', get('/healthz', ['Host: a', 'X-A: b\rX-B: c']), { status: 400, close: true });

  // ---- headers that may appear once
  for (const [name, v1, v2] of [
    ['Host', 'a', 'b'],
    ['Host', 'a', 'a'],
    ['Authorization', `token ${token}`, 'token x'],
    ['Authorization', `token ${token}`, `token ${token}`],
    ['Content-Type', 'application/json', 'text/plain'],
    ['Content-Type', 'application/json', 'application/json'],
  ]) {
    add(`repeated ${name} (${v1 === v2 ? 'same' : 'different'} values)`, request('GET /api/user HTTP/1.1', name === 'Host' ? [`Host: ${v1}`, `host: ${v2}`, auth] : ['Host: a', `${name}: ${v1}`, `${name.toUpperCase()}: ${v2}`]), { status: 400, close: true });
  }
  add('HTTP/1.1 without Host', request('GET /healthz HTTP/1.1', []), { status: 400, close: true });
  add('HTTP/1.1 without Host but with a token', request('GET /api/user HTTP/1.1', [auth]), { status: 400, close: true });
  add('97 header fields', get('/healthz', ['Host: a', ...Array.from({ length: 96 }, (_, i) => `X-${i}: v`)]), { status: 431, close: true });
  add('200 header fields', get('/healthz', ['Host: a', ...Array.from({ length: 199 }, (_, i) => `X-${i}: v`)]), { status: 431, close: true });
  add('headers over 8 KiB', get('/healthz', ['Host: a', `X-Pad: ${'y'.repeat(9 * 1024)}`]), { status: 431, close: true });
  add('headers of 14 KiB', get('/healthz', ['Host: a', `X-Pad: ${'y'.repeat(14 * 1024)}`]), { status: 431, close: true });
  add('headers of 22 KiB', get('/healthz', ['Host: a', `X-Pad: ${'y'.repeat(22 * 1024)}`]), { status: 431, close: true });
  add('many header fields over the pool', get('/healthz', ['Host: a', ...Array.from({ length: 500 }, (_, i) => `X-${i}: v`)]), { mhd: { status: 431, note: 'each header costs a record in the fixed 24 KiB pool; libmicrohttpd answers before the head is whole' } });
  add('headers over 24 KiB', get('/healthz', ['Host: a', `X-Pad: ${'y'.repeat(25 * 1024)}`]), { mhd: { status: 431, note: 'the head no longer fits libmicrohttpd\'s read buffer' } });

  // ---- Content-Length
  for (const [what, values] of [
    ['two equal Content-Length', ['2', '2']],
    ['two differing Content-Length', ['2', '40']],
    ['three Content-Length', ['2', '2', '2']],
    ['Content-Length 0 and 2', ['0', '2']],
  ]) add(`framing: ${what}`, post(values.map((v) => `Content-Length: ${v}`), '{}'), { status: 400, close: true });
  for (const [what, value, status] of [
    ['list form', '2, 2', 400],
    ['plus sign', '+2', 400],
    ['minus sign', '-2', 400],
    ['hex', '0x2', 400],
    ['decimal point', '2.0', 400],
    ['trailing space', '2 ', 400],
    ['empty', '', 400],
    ['letters', 'abc', 400],
    ['beyond 64 bits', '99999999999999999999999', 413],
  ]) add(`framing: Content-Length ${what}`, post([`Content-Length: ${value}`], '{}'), { mhd: { status, note: 'libmicrohttpd parses Content-Length itself and refuses what is not plain digits' } });
  add('framing: Content-Length over the body limit', post(['Content-Length: 65537'], '{}'), { status: 413, close: true });
  add('framing: Content-Length of 2^63', post(['Content-Length: 9223372036854775808'], '{}'), { status: 413, close: true });

  // ---- Transfer-Encoding
  const te = (values, body = '0\r\n\r\n', extra = []) =>
    request('POST /api/user/tokens HTTP/1.1', ['Host: a', auth, ...values.map((v) => `Transfer-Encoding: ${v}`), ...extra], body);
  add('framing: Content-Length with chunked', te(['chunked'], '0\r\n\r\n', ['Content-Length: 5']), { status: 400, close: true });
  add('framing: Content-Length 0 with chunked', te(['chunked'], '0\r\n\r\n', ['Content-Length: 0']), { status: 400, close: true });
  add('framing: Content-Length with gzip', te(['gzip'], 'abcde', ['Content-Length: 5']), { status: 400, close: true });
  for (const coding of ['gzip', 'deflate', 'compress', 'identity', 'br', 'xchunked', 'chunkedx', 'chunked;ext=1', 'x', 'gzip, chunked', 'chunked, gzip', 'deflate, chunked'])
    add(`framing: transfer coding "${coding}"`, te([coding]), { status: 501, close: true });
  for (const [what, values] of [
    ['chunked, chunked', ['chunked, chunked']],
    ['chunked twice in two fields', ['chunked', 'chunked']],
    ['chunked with a trailing comma', ['chunked,']],
    ['chunked with a leading comma', [',chunked']],
    ['empty Transfer-Encoding', ['']],
    ['chunked with trailing space', ['chunked ']],
    ['chunked with trailing tab', ['chunked\t']],
  ]) add(`framing: ${what}`, te(values), { status: 400, close: true });
  add('framing: Transfer-Encoding in HTTP/1.0', request('POST /api/user/tokens HTTP/1.0', ['Host: a', auth, 'Transfer-Encoding: chunked'], '0\r\n\r\n'), { status: 400, close: true });

  // ---- chunked bodies (libmicrohttpd decodes chunks itself)
  const chunked = (body) => te(['chunked'], body, ['Content-Type: application/json']);
  for (const [what, body] of [
    ['non-hex chunk size', 'zz\r\n{}\r\n0\r\n\r\n'],
    ['negative chunk size', '-2\r\n{}\r\n0\r\n\r\n'],
    ['chunk data longer than its size', '1\r\n{}\r\n0\r\n\r\n'],
    ['no CRLF after chunk data', '2\r\n{}0\r\n\r\n'],
    ['space inside the chunk size', '2 2\r\n{}\r\n0\r\n\r\n'],
    ['empty chunk size line', '\r\n{}\r\n0\r\n\r\n'],
  ]) add(`chunked: ${what}`, chunked(body), { mhd: { status: 400, note: 'libmicrohttpd decodes chunks and answers malformed ones itself' } });
  add('chunked: chunk size beyond 64 bits', chunked('fffffffffffffffffff\r\n{}\r\n0\r\n\r\n'), { mhd: { status: 413, note: 'libmicrohttpd refuses a chunk size it cannot hold' } });
  add('chunked: body over 64 KiB in chunks', chunked(`10000\r\n${'{'.repeat(0x10000)}\r\n10\r\n${'a'.repeat(16)}\r\n0\r\n\r\n`), { status: 413 });
  add('chunked: invalid JSON across chunks', chunked('1\r\n{\r\n1\r\n"\r\n0\r\n\r\n'), { status: 400 });
  add('chunked: NUL in the body', chunked('4\r\n{"\0"\r\n0\r\n\r\n'), { status: 400 });

  // ---- bodies
  const body = (what, bytes, status = 400) => add(`body: ${what}`, post([`Content-Length: ${Buffer.byteLength(bytes, 'latin1')}`, 'Content-Type: application/json'], bytes), { status });
  body('invalid UTF-8', '{"description":"\xff\xfe"}');
  body('overlong UTF-8 slash', '{"description":"\xc0\xaf"}');
  body('UTF-8 surrogate bytes', '{"description":"\xed\xa0\x80"}');
  body('NUL byte inside a string', '{"description":"a\0b"}');
  body('NUL byte after the object', '{}\0');
  body('escaped NUL', '{"description":"a\\u0000b"}');
  body('lone surrogate escape', '{"description":"\\ud800"}');
  body('UTF-8 BOM before the object', '\xef\xbb\xbf{}');
  body('UTF-16LE body', Buffer.from('{}', 'utf16le').toString('latin1'));
  body('UTF-16 BOM body', '\xff\xfe{\0}\0');
  body('truncated object', '{"description":');
  body('trailing garbage', '{} x');
  body('two objects', '{}{}');
  body('an array', '[]');
  body('a string', '"x"');
  body('a number', '1');
  body('null', 'null');
  body('nested 17 deep', '{"a":' + '['.repeat(16) + ']'.repeat(16) + '}');
  body('nested 2000 deep', '{"a":' + '['.repeat(2000) + ']'.repeat(2000) + '}');
  body('duplicate keys', '{"description":"a","description":"b"}');
  body('unknown key', '{"descriptio":"a"}');
  body('control character in a description', '{"description":"\\u001b[31mred"}');
  body('raw newline inside a string', '{"description":"a\nb"}');
  body('huge number', '{"expires":1e400}');
  body('number beyond 64 bits', '{"expires":99999999999999999999999}');
  body('single quotes', "{'description':'a'}");
  body('comment', '{/* x */}');
  body('form-encoded on a JSON route', 'description=a');
  body('65 KiB body', `{"description":"${'x'.repeat(65 * 1024)}"}`, 413);

  return cases;
}
