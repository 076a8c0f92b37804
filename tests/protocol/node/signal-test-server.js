#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0-or-later
//
// Independent NetBird-style signal server and peer for
// tests/protocol/test-signal-client.c.
//
//   node signal-test-server.js [PORT [MAX_CONNECTION_AGE_MS]]
//
// Server: grpc-js serving signalexchange.SignalExchange from OUR
// service/netbird/proto/signalexchange.proto (loaded by proto-loader). Like
// NetBird's server it never decrypts: ConnectStream requires the
// x-wiretrustee-peer-id metadata (FAILED_PRECONDITION without it), answers
// with the x-wiretrustee-peer-registered response header, and Send routes an
// EncryptedMessage by remoteKey to the registered stream (dropped silently
// when the peer is not connected). Messages written by clients on the stream
// are read and ignored, as NetBird's servers do since mid-2025. A newer
// registration of the same key replaces (and ends) the older stream.
//
// Peer: a grpc-js client with its own key that seals with tweetnacl (an
// independent NaCl) and encodes Body with protobufjs.
//
// Listens on 127.0.0.1 (PORT, or an ephemeral port) and prints
// {"port":N}. Then reads one command per line on stdin and answers each
// with one line "ok [...]" or "error <text>"; asynchronous events are lines
// starting with "event ". Exits when stdin closes.
//
// Commands:
//   pause | resume            stop / restart forwarding (Send still succeeds)
//   reject on|off             fail ConnectStream with FAILED_PRECONDITION
//   noheader on|off           register without sending the registration header
//   registered KEY            ok 0|1: whether KEY has a registered stream
//   peer-start [PRIV_B64]     start the peer (key generated unless given);
//                             ok PUB_B64 once its stream is registered
//   peer-offer TO TYPE [NONCE_HEX]
//                             seal an OFFER/ANSWER with fixed contents to TO
//                             and Send it; ok HEX(EncryptedMessage bytes)
//   peer-candidate TO LINE... seal a CANDIDATE with LINE as payload, Send it
//   forge TO KIND             a third key sends junk to TO (see forgeries)
//   events                    ok N: events printed so far
// Events:
//   event peer-msg from=K type=T payload=.. port=.. version=.. rpkey=HEX
//         rpaddr=.. relay=.. relayip=HEX session=HEX features=a,b
//   event peer-bad from=K reason=..
// (values percent-encoded; absent optional fields are "-")
'use strict';

const path = require('path');
const crypto = require('crypto');
const readline = require('readline');

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const nacl = require('tweetnacl');
// protobufjs is what @grpc/proto-loader is built on; resolve it from there.
const protobuf = require(require.resolve('protobufjs', {
  paths: [path.dirname(require.resolve('@grpc/proto-loader'))],
}));

const PROTO = path.join(__dirname, '..', '..', '..', 'service', 'netbird', 'proto',
                        'signalexchange.proto');
const HEADER_ID = 'x-wiretrustee-peer-id';
const HEADER_REGISTERED = 'x-wiretrustee-peer-registered';

function log(...args) {
  process.stderr.write(`[node signal ${process.pid}] ${args.join(' ')}\n`);
}

function out(line) {
  process.stdout.write(line + '\n');
}

let eventCount = 0;
function event(line) {
  eventCount++;
  out('event ' + line);
}

// ---------------------------------------------------------------------------
// Schema

const packageDef = protoLoader.loadSync(PROTO, {
  keepCase: true,
  longs: Number,
  enums: Number,
  defaults: false,
  oneofs: true,
});
const proto = grpc.loadPackageDefinition(packageDef).signalexchange;

const root = new protobuf.Root().loadSync(PROTO, { keepCase: true });
const Body = root.lookupType('signalexchange.Body');
const EncryptedMessage = root.lookupType('signalexchange.EncryptedMessage');
const TYPE = Body.lookupEnum('Type').values;
const TYPE_NAME = Object.fromEntries(Object.entries(TYPE).map(([k, v]) => [v, k]));

// ---------------------------------------------------------------------------
// Server

let paused = false;
let reject = false;
let noHeader = false;
const registry = new Map(); // key -> call

function serviceDefinition() {
  // Our own service definition so that the server can also write raw
  // (non-protobuf) bytes on a stream.
  const def = proto.SignalExchange.service;
  const stream = Object.assign({}, def.ConnectStream);
  const orig = stream.responseSerialize;
  stream.responseSerialize = (v) => (Buffer.isBuffer(v) ? v : orig(v));
  return Object.assign({}, def, { ConnectStream: stream });
}

function forward(msg) {
  if (paused) return;
  const dst = registry.get(msg.remoteKey);
  if (!dst) return;
  dst.write(msg);
}

// With a maximum connection age the server sends GOAWAY that long after each
// connection opened and lets its streams run on for a minute.
const maxAge = Number(process.argv[3] || 0);
const server = new grpc.Server(maxAge ? { 'grpc.max_connection_age_ms': maxAge,
                                          'grpc.max_connection_age_grace_ms': 60000 } : {});
server.addService(serviceDefinition(), {
  Send(call, callback) {
    forward(call.request);
    callback(null, {});
  },

  ConnectStream(call) {
    const ids = call.metadata.get(HEADER_ID);
    call.on('error', () => {});
    if (ids.length === 0 || reject) {
      call.emit('error', { code: grpc.status.FAILED_PRECONDITION,
                           details: `missing connection header: ${HEADER_ID}` });
      return;
    }
    const id = String(ids[0]);
    const old = registry.get(id);
    registry.set(id, call);
    if (old) old.emit('error', { code: grpc.status.UNKNOWN, details: 'peer registered again' });

    const md = new grpc.Metadata();
    if (!noHeader) md.set(HEADER_REGISTERED, '1');
    call.sendMetadata(md);

    const done = () => {
      if (registry.get(id) === call) registry.delete(id);
    };
    call.on('data', () => {}); // NetBird's server no longer reads the stream
    call.on('end', () => { done(); call.end(); });
    call.on('cancelled', done);
    call.on('close', done);
    call.on('finish', done);
  },
});

// ---------------------------------------------------------------------------
// Sealing (tweetnacl) and the peer

function keyPair(privB64) {
  const secret = privB64 ? Buffer.from(privB64, 'base64') : Buffer.from(nacl.randomBytes(32));
  const kp = nacl.box.keyPair.fromSecretKey(new Uint8Array(secret));
  return { secretKey: kp.secretKey, publicKey: kp.publicKey,
           key: Buffer.from(kp.publicKey).toString('base64') };
}

function seal(bodyBytes, toKey, from, nonce) {
  const n = nonce || nacl.randomBytes(24);
  const box = nacl.box(new Uint8Array(bodyBytes), n, new Uint8Array(Buffer.from(toKey, 'base64')),
                       from.secretKey);
  return Buffer.concat([Buffer.from(n), Buffer.from(box)]);
}

function open(msg, me) {
  const sealed = new Uint8Array(msg.body);
  if (sealed.length < 40) return null;
  const opened = nacl.box.open(sealed.subarray(24), sealed.subarray(0, 24),
                               new Uint8Array(Buffer.from(msg.key, 'base64')), me.secretKey);
  return opened ? Buffer.from(opened) : null;
}

function encodeBody(fields) {
  const err = Body.verify(fields);
  if (err) throw new Error(err);
  return Buffer.from(Body.encode(Body.fromObject(fields)).finish());
}

// A gRPC client with its own key.
class Party {
  constructor(addr, kp) {
    this.kp = kp;
    this.client = new proto.SignalExchange(addr, grpc.credentials.createInsecure());
  }

  connect(onRegistered) {
    const md = new grpc.Metadata();
    md.set(HEADER_ID, this.kp.key);
    this.stream = this.client.ConnectStream(md);
    this.stream.on('metadata', (m) => {
      if (m.get(HEADER_REGISTERED).length) onRegistered();
    });
    this.stream.on('data', (msg) => this.receive(msg));
    this.stream.on('error', (e) => log('peer stream:', e.message));
  }

  receive(msg) {
    const plain = open(msg, this.kp);
    if (!plain) {
      event(`peer-bad from=${msg.key} reason=open-failed`);
      return;
    }
    let b;
    try {
      b = Body.toObject(Body.decode(plain), { bytes: Buffer, longs: Number, defaults: true });
    } catch (e) {
      event(`peer-bad from=${msg.key} reason=${encodeURIComponent(e.message)}`);
      return;
    }
    const enc = (v) => (v === undefined || v === null ? '-' : encodeURIComponent(v));
    const hex = (v) => (v === undefined || v === null ? '-' : Buffer.from(v).toString('hex'));
    const rp = b.rosenpassConfig;
    event(['peer-msg', `from=${msg.key}`, `type=${TYPE_NAME[b.type] || b.type}`,
           `payload=${enc(b.payload)}`, `port=${b.wgListenPort}`, `version=${enc(b.netBirdVersion)}`,
           `rpkey=${rp ? hex(rp.rosenpassPubKey) : '-'}`,
           `rpaddr=${rp ? enc(rp.rosenpassServerAddr) : '-'}`,
           `relay=${enc(b.relayServerAddress)}`, `relayip=${hex(b.relayServerIP)}`,
           `session=${hex(b.sessionId)}`, `features=${(b.featuresSupported || []).join(',')}`,
           `remote=${msg.remoteKey}`].join(' '));
  }

  send(toKey, bodyBytes, nonce) {
    const msg = { key: this.kp.key, remoteKey: toKey, body: seal(bodyBytes, toKey, this.kp, nonce) };
    return this.sendRaw(msg).then(() => msg);
  }

  sendRaw(msg) {
    return new Promise((resolve, reject) => {
      this.client.Send(msg, (err) => (err ? reject(err) : resolve()));
    });
  }
}

// The OFFER/ANSWER the peer sends: only non-default fields are set, so the
// bytes equal what proto3 encoders that skip defaults (Go, protobuf-c) write.
function offerFields(type) {
  const f = {
    payload: 'nodeUfragABCDEFG:nodePwdABCDEFGHIJKLMNOPQRSTUVWXYZ',
    wgListenPort: 51821,
    netBirdVersion: 'node-peer-1.0',
    featuresSupported: [1],
    rosenpassConfig: { rosenpassPubKey: Buffer.from('0102030405060708', 'hex'),
                       rosenpassServerAddr: '127.0.0.1:9999' },
    relayServerAddress: 'rels://relay.node.test:443',
    sessionId: Buffer.from('aabbccddee', 'hex'),
    relayServerIP: Buffer.from('20010db8000000000000000000000001', 'hex'),
  };
  if (type !== TYPE.OFFER) f.type = type;
  return f;
}

let addr;
let peer = null;
const forger = { kp: keyPair() };

// Third-party junk for `forge TO KIND`. Returns a promise.
function forge(to, kind) {
  if (!forger.party) forger.party = new Party(addr, forger.kp);
  const third = forger.party;
  const claimed = peer ? peer.kp.key : keyPair().key;
  const inject = (buf) => {
    const dst = registry.get(to);
    if (dst) dst.write(buf);
  };
  switch (kind) {
    case 'wrong-sealer': // claims to be the peer, sealed by the third key
      return third.sendRaw({ key: claimed, remoteKey: to,
                             body: seal(encodeBody(offerFields(TYPE.OFFER)), to, third.kp) });
    case 'random-body':
      return third.sendRaw({ key: third.kp.key, remoteKey: to, body: crypto.randomBytes(100) });
    case 'short-body':
      return third.sendRaw({ key: third.kp.key, remoteKey: to, body: crypto.randomBytes(20) });
    case 'bad-key':
      return third.sendRaw({ key: 'not-a-wireguard-key', remoteKey: to,
                             body: seal(encodeBody({ type: TYPE.GO_IDLE }), to, third.kp) });
    case 'unknown-type':
      return third.send(to, Buffer.from([0x08, 0x03]));
    case 'bad-body':
      return third.send(to, Buffer.from([0x0a, 0x05, 0x01]));
    case 'bad-offer':
      return third.send(to, encodeBody({ payload: 'a:b:c' }));
    case 'tcp-candidate':
      return third.send(to, encodeBody({ type: TYPE.CANDIDATE,
                                         payload: '1 1 tcp 1 10.0.0.1 9 typ host tcptype active' }));
    case 'foreign-heartbeat':
      return third.send(to, encodeBody({ type: TYPE.HEARTBEAT }));
    case 'wrong-remote': { // sealed for someone else, delivered to TO anyway
      const other = keyPair();
      inject(EncryptedMessage.encode({ key: third.kp.key, remoteKey: other.key,
                                       body: seal(encodeBody({ type: TYPE.GO_IDLE }), other.key,
                                                  third.kp) }).finish());
      return Promise.resolve();
    }
    case 'garbage-pb':
      inject(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x12]));
      return Promise.resolve();
    default:
      return Promise.reject(new Error('unknown forgery ' + kind));
  }
}

// ---------------------------------------------------------------------------
// Commands

function reply(p) {
  Promise.resolve(p).then((r) => out(r === undefined ? 'ok' : `ok ${r}`),
                          (e) => out(`error ${e.message}`));
}

function command(line) {
  const words = line.trim().split(/\s+/);
  const cmd = words[0];
  switch (cmd) {
    case '':
      return;
    case 'pause': paused = true; return reply();
    case 'resume': paused = false; return reply();
    case 'reject': reject = words[1] === 'on'; return reply();
    case 'noheader': noHeader = words[1] === 'on'; return reply();
    case 'registered': return reply(registry.has(words[1]) ? '1' : '0');
    case 'events': return reply(String(eventCount));
    case 'peer-start':
      if (peer) return reply(Promise.reject(new Error('peer already started')));
      peer = new Party(addr, keyPair(words[1]));
      return reply(new Promise((resolve) => peer.connect(() => resolve(peer.kp.key))));
    case 'peer-offer': {
      const type = TYPE[words[2]];
      const nonce = words[3] ? new Uint8Array(Buffer.from(words[3], 'hex')) : undefined;
      return reply(peer.send(words[1], encodeBody(offerFields(type)), nonce)
        .then((msg) => Buffer.from(EncryptedMessage.encode(msg).finish()).toString('hex')));
    }
    case 'peer-candidate':
      return reply(peer.send(words[1], encodeBody({ type: TYPE.CANDIDATE,
                                                    payload: words.slice(2).join(' ') }))
        .then(() => undefined));
    case 'forge':
      return reply(forge(words[1], words[2]).then(() => undefined));
    default:
      return reply(Promise.reject(new Error('unknown command ' + cmd)));
  }
}

process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
// Commands are read once the server listens.
const pending = [];
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (!addr) {
    pending.push(line);
    return;
  }
  try {
    command(line);
  } catch (e) {
    out(`error ${e.message}`);
  }
});

const wantPort = Number(process.argv[2] || 0);
server.bindAsync(`127.0.0.1:${wantPort}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    log('bind failed:', err.message);
    process.exit(1);
  }
  addr = `127.0.0.1:${port}`;
  out(JSON.stringify({ port }));
  for (const line of pending.splice(0)) command(line);
});
