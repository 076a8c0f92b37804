#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0-or-later
//
// Independent gRPC peer for tests/protocol/test-grpc-conformance.c.
//
//   node grpc-test-server.js grpc                   grpc-js, h2c
//   node grpc-test-server.js tls CERT KEY           grpc-js, TLS (ALPN h2)
//   node grpc-test-server.js age AGE_MS GRACE_MS    grpc-js, h2c, GOAWAY after AGE_MS
//   node grpc-test-server.js raw                    node:http2 server sending malformed
//                                                   gRPC, plus a garbage and a silent
//                                                   TCP server
//
// Listens on 127.0.0.1 with ephemeral ports and prints one JSON line with
// them on stdout, e.g. {"port":40123}. Exits when stdin closes, so it never
// outlives the test.
'use strict';

const path = require('path');
const net = require('net');
const http2 = require('http2');

const mode = process.argv[2] || 'grpc';

process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();

function log(...args) {
  process.stderr.write(`[node ${mode} ${process.pid}] ${args.join(' ')}\n`);
}

function announce(ports) {
  process.stdout.write(JSON.stringify(ports) + '\n');
}

// ---------------------------------------------------------------------------
// grpc-js service

function echoMetadata(grpc, call) {
  const md = new grpc.Metadata();
  const map = call.metadata.getMap();
  for (const key of Object.keys(map)) {
    if (key.startsWith('x-')) md.set(key, String(map[key]));
  }
  return md;
}

function startGrpc(grpc, credentials, options) {
  const protoLoader = require('@grpc/proto-loader');
  const def = protoLoader.loadSync(path.join(__dirname, '..', 'nbtest.proto'), {
    keepCase: true,
    longs: Number,
    defaults: true,
  });
  const proto = grpc.loadPackageDefinition(def).nbtest;
  const server = new grpc.Server(Object.assign({
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
    'grpc.max_send_message_length': 16 * 1024 * 1024,
  }, options));

  server.addService(proto.Echo.service, {
    Unary(call, callback) {
      const md = echoMetadata(grpc, call);
      md.set('x-served-by', 'grpc-js');
      call.sendMetadata(md);
      const trailer = new grpc.Metadata();
      trailer.set('x-trailer', 'done');
      const req = call.request;
      const data = req.response_size > 0 ? Buffer.alloc(req.response_size, 0x61) : req.data;
      // An empty request gets an empty (zero-length) message back.
      callback(null, data.length ? { data } : {}, trailer);
    },

    ServerStream(call) {
      call.sendMetadata(echoMetadata(grpc, call));
      const n = call.request.count;
      for (let i = 0; i < n; i++) call.write({ data: Buffer.from(`msg-${i}`) });
      call.end();
    },

    Bidi(call) {
      const md = echoMetadata(grpc, call);
      md.set('x-bidi-ready', '1');
      call.sendMetadata(md);
      call.on('data', (msg) => {
        if (msg.data.toString() === 'close') {
          call.end(); // server finishes while the client still sends
          return;
        }
        call.write({ data: msg.data });
      });
      call.on('end', () => call.end());
      call.on('error', () => {});
    },

    Fail(call, callback) {
      callback({ code: call.request.status, details: call.request.message });
    },

    Slow(call, callback) {
      const timer = setTimeout(() => callback(null, { data: call.request.data }),
                               call.request.delay_ms);
      call.on('cancelled', () => clearTimeout(timer));
    },
  });

  server.bindAsync('127.0.0.1:0', credentials, (err, port) => {
    if (err) {
      log('bind failed:', err.message);
      process.exit(1);
    }
    announce({ port });
  });
}

// ---------------------------------------------------------------------------
// raw node:http2 server for malformed responses

function frame(payload) {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

// Msg { data = 1: bytes }, for short strings only.
function msgWithData(text) {
  const data = Buffer.from(text);
  return Buffer.concat([Buffer.from([0x0a, data.length]), data]);
}

const GRPC_HEADERS = { ':status': 200, 'content-type': 'application/grpc' };

function startRaw() {
  let lastRst = null;
  const rstWaiters = [];

  const server = http2.createServer();
  server.on('sessionError', () => {});
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const method = headers[':path'].replace(/^\/raw\.Bad\//, '');

    // Reply with trailers after the body.
    const withTrailers = (trailers, body) => {
      stream.respond(GRPC_HEADERS, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers(trailers));
      stream.end(body);
    };

    switch (method) {
      case 'Compressed':
        withTrailers({ 'grpc-status': '0' }, Buffer.from([1, 0, 0, 0, 1, 0x78]));
        break;
      case 'NoStatus':
        stream.respond(GRPC_HEADERS);
        stream.end(frame(msgWithData('x')));
        break;
      case 'Http404':
        stream.respond({ ':status': 404, 'content-type': 'text/plain' });
        stream.end('not found');
        break;
      case 'Http503TrailersOnly':
        stream.respond({ ':status': 503 }, { endStream: true });
        break;
      case 'HtmlContentType':
        stream.respond({ ':status': 200, 'content-type': 'text/html' });
        stream.end('<html></html>');
        break;
      case 'Truncated':
        withTrailers({ 'grpc-status': '0' },
                     Buffer.concat([Buffer.from([0, 0, 0, 0, 100]), Buffer.alloc(10)]));
        break;
      case 'BadStatus':
        withTrailers({ 'grpc-status': 'abc' }, frame(msgWithData('x')));
        break;
      case 'TwoMessages':
        withTrailers({ 'grpc-status': '0' },
                     Buffer.concat([frame(msgWithData('a')), frame(msgWithData('b'))]));
        break;
      case 'TrailersOnlyStatus':
        stream.respond({
          ':status': 200,
          'content-type': 'application/grpc',
          'grpc-status': '7',
          'grpc-message': 'nope %E2%9C%93 100%25 %zz',
        }, { endStream: true });
        break;
      case 'RstRefused':
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        break;
      case 'RstInternal':
        // (After respond(), node would end the stream before resetting it.)
        stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        break;
      case 'GoawayRefuse':
        // Tell the client this stream was never processed.
        stream.session.goaway(http2.constants.NGHTTP2_NO_ERROR, Math.max(0, stream.id - 2));
        break;
      case 'Hang':
        stream.on('close', () => {
          lastRst = stream.rstCode;
          while (rstWaiters.length) rstWaiters.shift()();
        });
        break;
      case 'LastRst': {
        const reply = () => withTrailers({ 'grpc-status': '0' },
                                         frame(msgWithData(String(lastRst))));
        if (lastRst !== null) reply(); else rstWaiters.push(reply);
        break;
      }
      default:
        stream.respond({ ':status': 200, 'content-type': 'application/grpc',
                         'grpc-status': '12' }, { endStream: true });
    }
  });

  const garbage = net.createServer((sock) => {
    sock.on('error', () => {});
    sock.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
  });
  const silent = net.createServer((sock) => {
    sock.on('error', () => {});
  });

  let pending = 3;
  const ports = {};
  const done = (name, srv) => () => {
    ports[name] = srv.address().port;
    if (--pending === 0) announce(ports);
  };
  server.listen(0, '127.0.0.1', done('port', server));
  garbage.listen(0, '127.0.0.1', done('garbage', garbage));
  silent.listen(0, '127.0.0.1', done('silent', silent));
}

// ---------------------------------------------------------------------------

if (mode === 'raw') {
  startRaw();
} else {
  const grpc = require('@grpc/grpc-js');
  if (mode === 'grpc') {
    startGrpc(grpc, grpc.ServerCredentials.createInsecure(), {});
  } else if (mode === 'tls') {
    const fs = require('fs');
    const cert = fs.readFileSync(process.argv[3]);
    const key = fs.readFileSync(process.argv[4]);
    startGrpc(grpc, grpc.ServerCredentials.createSsl(null, [{ cert_chain: cert, private_key: key }], false), {});
  } else if (mode === 'age') {
    startGrpc(grpc, grpc.ServerCredentials.createInsecure(), {
      'grpc.max_connection_age_ms': Number(process.argv[3]),
      'grpc.max_connection_age_grace_ms': Number(process.argv[4]),
    });
  } else {
    log('unknown mode', mode);
    process.exit(2);
  }
}
