#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0-or-later
//
// Independent gRPC clients for tests/protocol/test-grpc-server.c, which runs
// NbGrpcServer (service/netbird/grpc-server.c) with the nbtest.Echo service.
//
//   node grpc-test-client.js grpc PORT LIMIT        grpc-js over h2c: the scripted sequence
//   node grpc-test-client.js tls PORT LIMIT CERT    the same over TLS, trusting CERT
//   node grpc-test-client.js raw PORT LIMIT         node:http2 sending malformed gRPC
//
// LIMIT is the server's max receive message size. Prints one line: a flat JSON
// object whose values are all strings (the C test reads it as GVariant a{ss}),
// then exits. Exits early when stdin closes, so it never outlives the test.
'use strict';

const path = require('path');
const http2 = require('http2');

const [mode, portArg, limitArg, certArg] = process.argv.slice(2);
const port = Number(portArg);
const limit = Number(limitArg || 4 * 1024 * 1024);
const results = {};

process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();

function log(...args) {
  process.stderr.write(`[node client ${mode} ${process.pid}] ${args.join(' ')}\n`);
}

function set(key, value) {
  results[key] = value === undefined || value === null ? '(none)' : String(value);
}

function done() {
  process.stdout.write(JSON.stringify(results) + '\n', () => process.exit(0));
}

// A step that must settle within ms; a hang is reported, not waited for.
function within(ms, promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((resolve) => {
      timer = setTimeout(() => {
        set(`${what}_timeout`, 'yes');
        resolve(null);
      }, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function first(md, key) {
  const v = md ? md.get(key) : [];
  return v.length ? String(v[0]) : '(none)';
}

// ---------------------------------------------------------------------------
// grpc-js

async function runGrpc(grpc, credentials, options) {
  const protoLoader = require('@grpc/proto-loader');
  const def = protoLoader.loadSync(path.join(__dirname, '..', 'nbtest.proto'), {
    keepCase: true,
    longs: Number,
    defaults: true,
  });
  const proto = grpc.loadPackageDefinition(def).nbtest;
  const target = `127.0.0.1:${port}`;
  const client = new proto.Echo(target, credentials, Object.assign({
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
    'grpc.max_send_message_length': 16 * 1024 * 1024,
  }, options));

  // Resolves on 'status' (after the callback), with headers and trailers.
  const unary = (method, req, md, opts) => new Promise((resolve) => {
    const r = {};
    const call = client[method](req, md || new grpc.Metadata(), opts || {}, (err, resp) => {
      r.err = err;
      r.resp = resp;
    });
    call.on('metadata', (m) => { r.headers = m; });
    call.on('status', (s) => { r.status = s; resolve(r); });
  });

  // 1. Unary echo with metadata echoed into response headers, a trailer.
  {
    const md = new grpc.Metadata();
    md.set('x-client', 'grpc-js');
    md.set('x-peer', 'abc');
    md.set('not-echoed', '1');
    const r = await within(5000, unary('Unary', { data: Buffer.from('hello from grpc-js') }, md), 'unary');
    if (r) {
      set('unary_code', r.status.code);
      set('unary_data', r.resp ? r.resp.data.toString() : '(none)');
      set('unary_x_client', first(r.headers, 'x-client'));
      set('unary_x_peer', first(r.headers, 'x-peer'));
      set('unary_not_echoed', first(r.headers, 'not-echoed'));
      set('unary_served_by', first(r.headers, 'x-served-by'));
      set('unary_trailer', first(r.status.metadata, 'x-trailer'));
    }
  }
  // 2. Empty request → empty message.
  {
    const r = await within(5000, unary('Unary', {}), 'empty');
    if (r) {
      set('empty_code', r.status.code);
      set('empty_len', r.resp ? r.resp.data.length : -1);
    }
  }
  // 3. A large response.
  {
    const r = await within(10000, unary('Unary', { response_size: 3 * 1024 * 1024 }), 'big');
    if (r) {
      set('big_code', r.status.code);
      set('big_len', r.resp ? r.resp.data.length : -1);
    }
  }
  // 4. Server stream of N.
  {
    const r = await within(10000, new Promise((resolve) => {
      const md = new grpc.Metadata();
      md.set('x-stream-tag', 'st');
      const msgs = [];
      let tag = '(none)';
      const call = client.ServerStream({ count: 1000 }, md);
      call.on('metadata', (m) => { tag = first(m, 'x-stream-tag'); });
      call.on('data', (m) => msgs.push(m.data.toString()));
      call.on('error', () => {});
      call.on('status', (s) => resolve({ s, msgs, tag }));
    }), 'stream');
    if (r) {
      set('stream_code', r.s.code);
      set('stream_count', r.msgs.length);
      set('stream_first', r.msgs[0]);
      set('stream_last', r.msgs[r.msgs.length - 1]);
      set('stream_tag', r.tag);
    }
  }
  // 5. Bidi ping-pong (NetBird's signal stream shape), then half-close.
  {
    const r = await within(10000, new Promise((resolve) => {
      const md = new grpc.Metadata();
      md.set('x-wiretrustee-peer-id', 'peer-A');
      const echoes = [];
      let registered = '(none)';
      let headersFirst = 'no';
      const call = client.Bidi(md);
      call.on('metadata', (m) => {
        registered = first(m, 'x-wiretrustee-peer-registered');
        if (echoes.length === 0) headersFirst = 'yes';
      });
      call.on('data', (m) => {
        echoes.push(m.data.toString());
        if (echoes.length < 10) call.write({ data: Buffer.from(`ping ${echoes.length}`) });
        else call.end();
      });
      call.on('error', () => {});
      call.on('status', (s) => resolve({ s, echoes, registered, headersFirst }));
      call.write({ data: Buffer.from('ping 0') });
    }), 'bidi');
    if (r) {
      set('bidi_code', r.s.code);
      set('bidi_registered', r.registered);
      set('bidi_headers_first', r.headersFirst);
      set('bidi_echoes', r.echoes.join(','));
    }
  }
  // 6. Status error with a non-ASCII message.
  {
    const text = 'kein Peer – ünïcødé ✓ 100% (50%25 literal)';
    const r = await within(5000, unary('Fail', { status: 9, message: text }), 'fail');
    if (r) {
      set('fail_code', r.status.code);
      set('fail_details', r.status.details);
      set('fail_details_ok', r.status.details === text ? 'yes' : 'no');
    }
  }
  // 7. Deadline exceeded on Slow.
  {
    const start = Date.now();
    const r = await within(5000, unary('Slow', { data: Buffer.from('zzz'), delay_ms: 20000 },
                                       new grpc.Metadata(), { deadline: Date.now() + 300 }),
                           'deadline');
    if (r) {
      set('deadline_code', r.status.code);
      set('deadline_ms', Date.now() - start);
    }
  }
  // 8. Unknown method and unknown service.
  for (const [key, method] of [['unimpl_method', '/nbtest.Echo/Nope'],
                               ['unimpl_service', '/nbtest.Nope/Unary']]) {
    const r = await within(5000, new Promise((resolve) => {
      client.makeUnaryRequest(method, (x) => x, (x) => x, Buffer.alloc(0), (err) => resolve(err));
    }), key);
    set(`${key}_code`, r ? r.code : 0);
  }
  // 9. A message over the server's limit.
  {
    const r = await within(10000, unary('Unary', { data: Buffer.alloc(limit + 1024, 0x62) }), 'oversize');
    if (r) {
      set('oversize_code', r.status.code);
      set('oversize_details', r.status.details);
    }
  }
  // 10. Concurrent calls on one connection.
  {
    const n = 50;
    const rs = await within(10000, Promise.all(Array.from({ length: n }, (_, i) =>
      unary('Unary', { data: Buffer.from(`par ${i}`) }).then((r) =>
        r.status.code === 0 && r.resp.data.toString() === `par ${i}`))), 'parallel');
    set('parallel_ok', rs ? rs.filter((x) => x).length : 0);
  }
  // 11. The same channel still works after all that.
  {
    const r = await within(5000, unary('Unary', { data: Buffer.from('still here') }), 'after');
    if (r) set('after_data', r.resp ? r.resp.data.toString() : `error ${r.status.code}`);
  }
  client.close();

  // 12. Keepalive: grpc-js PINGs every 100 ms during a call and drops the
  // connection if they are not acknowledged within 1 s.
  {
    const ka = new proto.Echo(target, credentials, Object.assign({
      'grpc.keepalive_time_ms': 100,
      'grpc.keepalive_timeout_ms': 1000,
      'grpc.keepalive_permit_without_calls': 1,
    }, options));
    const r = await within(10000, new Promise((resolve) => {
      const call = ka.Slow({ data: Buffer.from('slow ok'), delay_ms: 1500 }, new grpc.Metadata(), {},
                           (err, resp) => resolve({ err, resp }));
      call.on('error', () => {});
    }), 'keepalive');
    if (r) set('keepalive', r.err ? `error ${r.err.code} ${r.err.details}` : r.resp.data.toString());
    ka.close();
  }
}

// ---------------------------------------------------------------------------
// Raw HTTP/2 (node:http2): malformed gRPC requests

function frame(payload) {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

// Msg { data = 1 } and optional Msg { delay_ms = 6 } (values < 128).
function msg(text, delayMs) {
  const data = Buffer.from(text || '');
  const parts = [];
  if (data.length) parts.push(Buffer.from([0x0a, data.length]), data);
  if (delayMs) {
    const v = [];
    let d = delayMs;
    while (d >= 0x80) { v.push((d & 0x7f) | 0x80); d >>>= 7; }
    v.push(d);
    parts.push(Buffer.from([0x30]), Buffer.from(v));
  }
  return Buffer.concat(parts);
}

function grpcHeaders(method, extra) {
  return Object.assign({
    ':method': 'POST',
    ':path': `/nbtest.Echo/${method}`,
    'content-type': 'application/grpc',
    te: 'trailers',
  }, extra || {});
}

// Sends @headers and @body chunks (ending the stream unless keepOpen) and
// collects the outcome.
function exchange(session, headers, body, keepOpen) {
  return new Promise((resolve) => {
    const r = { data: [] };
    const start = Date.now();
    const stream = session.request(headers, { endStream: false });
    stream.on('response', (h) => { r.headers = h; });
    stream.on('trailers', (t) => { r.trailers = t; });
    stream.on('data', (d) => r.data.push(d));
    stream.on('error', () => {});
    stream.on('close', () => {
      const h = r.headers || {};
      const t = r.trailers || {};
      resolve({
        http: h[':status'],
        grpc: t['grpc-status'] !== undefined ? t['grpc-status'] : h['grpc-status'],
        message: t['grpc-message'] !== undefined ? t['grpc-message'] : h['grpc-message'],
        body: Buffer.concat(r.data),
        rst: stream.rstCode,
        ms: Date.now() - start,
      });
    });
    for (const b of body) stream.write(b);
    if (!keepOpen) stream.end();
  });
}

function connect() {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  return session;
}

async function runRaw() {
  const session = connect();
  const record = async (key, ms, promise) => {
    const r = await within(ms, promise, key);
    if (r) {
      set(`${key}_http`, r.http);
      set(`${key}_grpc`, r.grpc);
      set(`${key}_message`, r.message);
    }
    return r;
  };

  // A valid request first: the raw client itself is sane.
  {
    const r = await record('valid', 5000, exchange(session, grpcHeaders('Unary'), [frame(msg('raw ok'))]));
    if (r) set('valid_body', r.body.slice(7).toString()); // 5-byte prefix + 2-byte field header
  }
  // Bad gRPC framing.
  await record('bad_flag', 5000, exchange(session, grpcHeaders('Unary'),
                                          [Buffer.from([2, 0, 0, 0, 2, 0x0a, 0x00])]));
  await record('compressed', 5000, exchange(session, grpcHeaders('Unary'),
                                            [Buffer.from([1, 0, 0, 0, 2, 0x0a, 0x00])]));
  // The stream ends in the middle of a message.
  await record('truncated', 5000, exchange(session, grpcHeaders('Unary'),
                                           [Buffer.from([0, 0, 0, 0, 100]), Buffer.alloc(10)]));
  await record('truncated_prefix', 5000, exchange(session, grpcHeaders('Bidi'),
                                                  [Buffer.from([0, 0, 0])]));
  // A prefix announcing more than the limit: answered before any payload,
  // while the client still has the stream open.
  {
    const big = Buffer.alloc(5);
    big.writeUInt32BE(limit + 1, 1);
    await record('oversize', 5000, exchange(session, grpcHeaders('Unary'), [big], true));
  }
  await record('two_messages', 5000, exchange(session, grpcHeaders('Unary'),
                                              [frame(msg('a')), frame(msg('b'))]));
  await record('no_message', 5000, exchange(session, grpcHeaders('Unary'), []));
  await record('bad_timeout', 5000, exchange(session, grpcHeaders('Unary', { 'grpc-timeout': 'abc' }),
                                             [frame(msg('x'))]));
  await record('get', 5000, exchange(session, grpcHeaders('Unary', { ':method': 'PUT' }), [frame(msg('x'))]));
  await record('wrong_ct', 5000, exchange(session, grpcHeaders('Unary', { 'content-type': 'text/plain' }),
                                          [frame(msg('x'))]));
  await record('unimpl', 5000, exchange(session, grpcHeaders('Nope'), [frame(msg('x'))]));
  // grpc-timeout without any client-side enforcement: the server must end
  // the call with DEADLINE_EXCEEDED itself.
  {
    const r = await record('deadline', 5000, exchange(session, grpcHeaders('Slow', { 'grpc-timeout': '200m' }),
                                                      [frame(msg('zz', 10000))]));
    if (r) set('deadline_ms', r.ms);
  }
  // Client reset while the handler works on the call. (On a stream whose
  // writable side is open, node ends it before the reset, which races with
  // the reset; here the request is complete, so only RST_STREAM goes out.)
  {
    const r = await within(5000, new Promise((resolve) => {
      const stream = session.request(grpcHeaders('Slow'), { endStream: false });
      stream.on('error', () => {});
      stream.on('close', () => resolve({ rst: stream.rstCode }));
      stream.end(frame(msg('zz', 10000)), () => {
        setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), 100);
      });
    }), 'rst');
    if (r) set('rst', r.rst);
  }
  // The same session still works.
  {
    const r = await record('after', 5000, exchange(session, grpcHeaders('Unary'), [frame(msg('after'))]));
    if (r) set('after_body', r.body.slice(7).toString());
  }
  session.close();

  // A connection dropped in the middle of a message.
  {
    const s2 = connect();
    await within(5000, new Promise((resolve) => {
      const stream = s2.request(grpcHeaders('Bidi'), { endStream: false });
      stream.on('error', () => {});
      stream.on('response', () => {
        stream.write(Buffer.from([0, 0, 0, 0, 50, 0x0a, 0x30, 0x61]), () => {
          setTimeout(() => { s2.destroy(); resolve(true); }, 50);
        });
      });
      stream.write(frame(msg('x')));
    }), 'drop');
    set('drop', 'done');
  }
  // GOAWAY with an error code from the client.
  {
    const s3 = connect();
    await within(5000, new Promise((resolve) => {
      const stream = s3.request(grpcHeaders('Bidi'), { endStream: false });
      stream.on('error', () => {});
      stream.on('close', () => resolve(true));
      stream.on('data', () => {
        s3.goaway(http2.constants.NGHTTP2_PROTOCOL_ERROR);
      });
      stream.write(frame(msg('before goaway')));
    }), 'goaway');
    set('goaway', 'done');
    s3.destroy();
  }
}

// ---------------------------------------------------------------------------

setTimeout(() => {
  set('global_timeout', 'yes');
  done();
}, 45000).unref();

(async () => {
  try {
    if (mode === 'raw') {
      await runRaw();
    } else {
      const grpc = require('@grpc/grpc-js');
      if (mode === 'grpc') {
        await runGrpc(grpc, grpc.credentials.createInsecure(), {});
      } else if (mode === 'tls') {
        const fs = require('fs');
        await runGrpc(grpc, grpc.credentials.createSsl(fs.readFileSync(certArg)),
                      { 'grpc.ssl_target_name_override': 'localhost' });
      } else {
        log('unknown mode', mode);
        process.exit(2);
      }
    }
  } catch (e) {
    log('failed:', e && e.stack ? e.stack : e);
    set('exception', e && e.message ? e.message : e);
  }
  done();
})();
