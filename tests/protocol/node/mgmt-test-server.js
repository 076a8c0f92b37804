#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0-or-later
//
// Independent NetBird-style management server for
// tests/protocol/test-mgmt-client.c.
//
//   node mgmt-test-server.js [PROTO_PATH]
//
// grpc-js serving management.ManagementService from OUR
// service/netbird/proto/management.proto (proto-loader), with its own
// WireGuard-style key pair (tweetnacl, an independent NaCl) and protobufjs
// for the sealed inner messages:
//   GetServerKey  the server's public key (not sealed)
//   Login         opens the client's sealed LoginRequest, checks its meta and
//                 PeerKeys.wgPubKey (the base64 text as bytes); an unknown
//                 peer without setup key gets PERMISSION_DENIED, a valid
//                 setup key registers it, a wrong one gets INVALID_ARGUMENT
//   Sync          PERMISSION_DENIED for unknown peers; otherwise sends the
//                 current state (if any) and later whatever is pushed
//   Logout        forgets the peer
//
// Listens on 127.0.0.1 (ephemeral port) and prints one line
// {"port":N,"setupKey":"...","serverKey":"..."}. Then reads one command per
// line on stdin and answers each with one line "ok <json>" or
// "error <text>". Exits when stdin closes.
//
// Commands:
//   push-map JSON          a SyncResponse (protobufjs JSON, proto field
//                          names); its netbirdConfig / NetworkMap become the
//                          current state; sealed to every open stream
//   push-config JSON       a NetbirdConfig, pushed as a config-only update
//   push-raw KIND          a broken Sync message to every stream: garbage
//                          (not an EncryptedMessage), garbage-body (random
//                          body), short-body, wrong-key (a valid update
//                          sealed with another server key), sealed-garbage
//                          (sealed, but not a SyncResponse)
//   close-stream CODE [MESSAGE...]
//                          end every Sync stream with that gRPC status
//   restart DOWN_MS [rotate]
//                          shut down (all connections cut), listen again on
//                          the same port after DOWN_MS, with a new key pair
//                          when "rotate"; answers after listening again
//   stats                  call counters
//   reset-stats
//   last-login             the last LoginRequest as JSON (setup key omitted)
//   unregister KEY         forget a peer
//   kill                   exit at once
'use strict';

const path = require('path');
const readline = require('readline');

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const nacl = require('tweetnacl');
// protobufjs is what @grpc/proto-loader is built on; resolve it from there.
const protobuf = require(require.resolve('protobufjs', {
  paths: [path.dirname(require.resolve('@grpc/proto-loader'))],
}));

const PROTO = process.argv[2] ||
  path.join(__dirname, '..', '..', '..', 'service', 'netbird', 'proto', 'management.proto');
const SETUP_KEY = 'A2C8E62B-38F5-4553-B31E-DD66C696CEBB';
const SOURCE_PREFIXES = 1;
const COMPONENT_NETWORK_MAP = 3;

function log(...args) {
  process.stderr.write(`[node mgmt ${process.pid}] ${args.join(' ')}\n`);
}

function out(line) {
  process.stdout.write(line + '\n');
}

// ---------------------------------------------------------------------------
// Schema and sealing

const root = new protobuf.Root();
root.loadSync(PROTO, { keepCase: true });
const T = (name) => root.lookupType('management.' + name);

function encode(typeName, obj) {
  const type = T(typeName);
  const err = type.verify(obj);
  if (err) throw new Error(`${typeName}: ${err}`);
  return Buffer.from(type.encode(type.fromObject(obj)).finish());
}

function decode(typeName, bytes) {
  const type = T(typeName);
  return type.toObject(type.decode(bytes), {
    longs: Number, enums: Number, bytes: Buffer, defaults: true, arrays: true,
  });
}

let serverKeys = nacl.box.keyPair();
const b64 = (u8) => Buffer.from(u8).toString('base64');

function parseKey(text) {
  if (typeof text !== 'string' || text.length !== 44) return null;
  const raw = Buffer.from(text, 'base64');
  if (raw.length !== 32 || raw.toString('base64') !== text) return null;
  return new Uint8Array(raw);
}

function seal(plain, peerPub, secret) {
  const nonce = nacl.randomBytes(24);
  return Buffer.concat([Buffer.from(nonce), Buffer.from(nacl.box(plain, nonce, peerPub, secret))]);
}

function open(sealed, peerPub) {
  if (!sealed || sealed.length < 40) return null;
  const plain = nacl.box.open(new Uint8Array(sealed.subarray(24)), new Uint8Array(sealed.subarray(0, 24)),
                              peerPub, serverKeys.secretKey);
  return plain ? Buffer.from(plain) : null;
}

function sealedReply(typeName, obj, peerPub, secret) {
  return { wgPubKey: b64(serverKeys.publicKey), body: seal(encode(typeName, obj), peerPub, secret || serverKeys.secretKey) };
}

// ---------------------------------------------------------------------------
// State

const stats = {};
function resetStats() {
  Object.assign(stats, {
    getServerKey: 0, login: 0, loginWithSetupKey: 0, loginOk: 0, registered: 0,
    sync: 0, syncOpen: 0, logout: 0, badRequests: 0,
  });
}
resetStats();

const peers = new Map();   // wgPubKey -> { n }
let nextPeer = 1;
let lastLogin = null;
let currentConfig = {
  stuns: [{ uri: 'stun:stun.netbird.test:3478', protocol: 0 }],
  turns: [{ hostConfig: { uri: 'turn:turn.netbird.test:3478', protocol: 0 }, user: 'login-user', password: 'login-pass' }],
  signal: { uri: 'signal.netbird.test:443', protocol: 3 },
  relay: { urls: ['rels://relay.netbird.test:443'], tokenPayload: 'login-token', tokenSignature: 'login-sig' },
};
let currentMap = null;
const streams = new Set();  // { call, key, pub }

function status(code, details) {
  const err = new Error(details);
  err.code = code;
  err.details = details;
  return err;
}

// Opens an EncryptedMessage request; throws a gRPC status error.
function openRequest(req, typeName) {
  const pub = parseKey(req.wgPubKey);
  if (!pub) throw status(grpc.status.INVALID_ARGUMENT, `provided wgPubKey ${req.wgPubKey} is invalid`);
  const plain = open(req.body, pub);
  if (!plain) throw status(grpc.status.INVALID_ARGUMENT, 'invalid request message');
  let msg;
  try {
    msg = decode(typeName, plain);
  } catch (e) {
    throw status(grpc.status.INVALID_ARGUMENT, 'invalid request message');
  }
  return { key: req.wgPubKey, pub, msg };
}

function checkMeta(meta, key) {
  if (!meta) return 'meta missing';
  if (meta.goOS !== 'linux') return `goOS ${meta.goOS}`;
  if (meta.kernel !== 'Linux') return `kernel ${meta.kernel}`;
  if (!meta.hostname) return 'hostname empty';
  if (!meta.platform) return 'platform empty';
  if (!meta.netbirdVersion) return 'netbirdVersion empty';
  if (!meta.OS) return 'OS empty';
  if (!meta.kernelVersion) return 'kernelVersion empty';
  if (!meta.flags) return 'flags missing';
  if (meta.capabilities.includes(COMPONENT_NETWORK_MAP)) return 'announces ComponentNetworkMap';
  if (!meta.capabilities.includes(SOURCE_PREFIXES)) return 'SourcePrefixes not announced';
  if (meta.syncMessageVersion !== 0) return `syncMessageVersion ${meta.syncMessageVersion}`;
  for (const a of meta.networkAddresses) {
    if (!/^[0-9a-fA-F:.]+\/\d{1,3}$/.test(a.netIP)) return `networkAddress ${a.netIP}`;
    if (!/^([0-9a-f]{2}:)+[0-9a-f]{2}$/.test(a.mac)) return `mac ${a.mac}`;
  }
  return null;
}

function peerConfig(key) {
  const p = peers.get(key);
  return { address: `100.64.0.${10 + p.n}/16`, fqdn: `peer${p.n}.netbird.test`, mtu: 1280 };
}

// ---------------------------------------------------------------------------
// Service

function syncUpdate(obj, stream) {
  return sealedReply('SyncResponse', obj, stream.pub);
}

function pushAll(fn) {
  let n = 0;
  for (const s of streams) {
    if (s.call.cancelled || s.call.destroyed) continue;
    s.call.write(fn(s));
    n++;
  }
  return n;
}

const impl = {
  GetServerKey(call, callback) {
    stats.getServerKey++;
    callback(null, {
      key: b64(serverKeys.publicKey),
      expiresAt: { seconds: Math.floor(Date.now() / 1000) + 86400, nanos: 0 },
      version: 0,
    });
  },

  isHealthy(call, callback) {
    callback(null, {});
  },

  Login(call, callback) {
    stats.login++;
    let r;
    try {
      r = openRequest(call.request, 'LoginRequest');
    } catch (e) {
      stats.badRequests++;
      return callback(e);
    }
    const req = r.msg;
    lastLogin = {
      wgPubKey: r.key,
      setupKeyPresent: req.setupKey !== '',
      peerKeysWgPubKey: req.peerKeys ? req.peerKeys.wgPubKey.toString('utf8') : null,
      meta: req.meta,
    };
    const bad = checkMeta(req.meta, r.key) ||
      (lastLogin.peerKeysWgPubKey !== r.key ? 'PeerKeys.wgPubKey is not the key text' : null);
    if (bad) {
      stats.badRequests++;
      log('bad login request:', bad);
      return callback(status(grpc.status.INVALID_ARGUMENT, `bad login request: ${bad}`));
    }
    if (req.setupKey !== '') {
      stats.loginWithSetupKey++;
      if (req.setupKey.toUpperCase() !== SETUP_KEY) {
        return callback(status(grpc.status.INVALID_ARGUMENT, 'invalid setup key'));
      }
      if (!peers.has(r.key)) {
        peers.set(r.key, { n: nextPeer++ });
        stats.registered++;
      }
    } else if (!peers.has(r.key)) {
      return callback(status(grpc.status.PERMISSION_DENIED, 'peer is not registered'));
    }
    stats.loginOk++;
    callback(null, sealedReply('LoginResponse', {
      netbirdConfig: currentConfig,
      peerConfig: peerConfig(r.key),
    }, r.pub));
  },

  Sync(call) {
    stats.sync++;
    call.on('error', () => {});
    let r;
    try {
      r = openRequest(call.request, 'SyncRequest');
    } catch (e) {
      stats.badRequests++;
      call.emit('error', e);
      return;
    }
    if (!peers.has(r.key)) {
      call.emit('error', status(grpc.status.PERMISSION_DENIED, 'peer is not registered'));
      return;
    }
    const bad = checkMeta(r.msg.meta, r.key);
    if (bad) {
      stats.badRequests++;
      call.emit('error', status(grpc.status.INVALID_ARGUMENT, `bad sync request: ${bad}`));
      return;
    }
    stats.syncOpen++;
    const stream = { call, key: r.key, pub: r.pub };
    streams.add(stream);
    const forget = () => streams.delete(stream);
    call.on('cancelled', forget);
    call.on('close', forget);
    call.on('finish', forget);
    if (currentConfig || currentMap) {
      const first = {};
      if (currentConfig) first.netbirdConfig = currentConfig;
      if (currentMap) first.NetworkMap = currentMap;
      call.write(syncUpdate(first, stream));
    }
  },

  Logout(call, callback) {
    stats.logout++;
    let r;
    try {
      r = openRequest(call.request, 'Empty');
    } catch (e) {
      stats.badRequests++;
      return callback(e);
    }
    peers.delete(r.key);
    callback(null, {});
  },
};

const packageDefinition = protoLoader.loadSync(PROTO, {
  keepCase: true, longs: Number, enums: Number, defaults: true,
});
const serviceDef = Object.assign({}, packageDefinition['management.ManagementService']);
// Raw Buffers pass through unchanged, so that push-raw can send bytes that are
// no EncryptedMessage at all.
const syncSerialize = serviceDef.Sync.responseSerialize;
serviceDef.Sync = Object.assign({}, serviceDef.Sync, {
  responseSerialize: (v) => (Buffer.isBuffer(v) ? v : syncSerialize(v)),
});

let server = null;
let port = 0;

function listen(wantPort, done) {
  server = new grpc.Server();
  server.addService(serviceDef, impl);
  server.bindAsync(`127.0.0.1:${wantPort}`, grpc.ServerCredentials.createInsecure(), (err, p) => {
    if (err) {
      log('bind failed:', err.message);
      process.exit(1);
    }
    port = p;
    done();
  });
}

// ---------------------------------------------------------------------------
// Commands

function pushRaw(kind) {
  switch (kind) {
    case 'garbage':
      return pushAll(() => Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    case 'garbage-body':
      return pushAll(() => ({ wgPubKey: b64(serverKeys.publicKey), body: Buffer.from(nacl.randomBytes(80)) }));
    case 'short-body':
      return pushAll(() => ({ wgPubKey: b64(serverKeys.publicKey), body: Buffer.from(nacl.randomBytes(10)) }));
    case 'wrong-key': {
      const other = nacl.box.keyPair();
      return pushAll((s) => sealedReply('SyncResponse', { NetworkMap: { Serial: 999999, remotePeersIsEmpty: true } },
                                        s.pub, other.secretKey));
    }
    case 'sealed-garbage':
      return pushAll((s) => ({
        wgPubKey: b64(serverKeys.publicKey),
        body: seal(Buffer.from([0xff, 0xff, 0xff, 0xff]), s.pub, serverKeys.secretKey),
      }));
    default:
      throw new Error('unknown kind ' + kind);
  }
}

function command(line, reply) {
  const sp = line.indexOf(' ');
  const cmd = sp < 0 ? line : line.slice(0, sp);
  const rest = sp < 0 ? '' : line.slice(sp + 1);
  switch (cmd) {
    case 'push-map': {
      const obj = JSON.parse(rest);
      if (obj.netbirdConfig) currentConfig = obj.netbirdConfig;
      if (obj.NetworkMap) currentMap = obj.NetworkMap;
      encode('SyncResponse', obj); // validate before sending anything
      return reply({ streams: pushAll((s) => syncUpdate(obj, s)) });
    }
    case 'push-config': {
      const cfg = JSON.parse(rest);
      encode('NetbirdConfig', cfg);
      currentConfig = cfg;
      return reply({ streams: pushAll((s) => syncUpdate({ netbirdConfig: cfg }, s)) });
    }
    case 'push-raw':
      return reply({ streams: pushRaw(rest.trim()) });
    case 'close-stream': {
      const m = /^(\d+)\s*(.*)$/.exec(rest);
      if (!m) throw new Error('usage: close-stream CODE [MESSAGE]');
      const code = Number(m[1]);
      let n = 0;
      for (const s of [...streams]) {
        streams.delete(s);
        if (code === 0) s.call.end();
        else s.call.emit('error', status(code, m[2] || 'closed by test'));
        n++;
      }
      return reply({ streams: n });
    }
    case 'restart': {
      const [down, rotate] = rest.split(/\s+/);
      const old = server;
      streams.clear();
      old.forceShutdown();
      if (rotate === 'rotate') serverKeys = nacl.box.keyPair();
      setTimeout(() => listen(port, () => reply({ port, serverKey: b64(serverKeys.publicKey) })),
                 Number(down) || 0);
      return undefined;
    }
    case 'stats':
      return reply(Object.assign({ streams: streams.size }, stats));
    case 'reset-stats':
      resetStats();
      return reply({});
    case 'last-login':
      return reply(lastLogin);
    case 'unregister':
      return reply({ removed: peers.delete(rest.trim()) });
    case 'kill':
      process.exit(0);
      return undefined;
    default:
      throw new Error('unknown command ' + cmd);
  }
}

process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));

// Commands run one at a time (restart answers asynchronously).
const queue = [];
let busy = false;
function pump() {
  if (busy || queue.length === 0) return;
  busy = true;
  const line = queue.shift();
  const reply = (obj) => {
    out('ok ' + JSON.stringify(obj === undefined ? null : obj));
    busy = false;
    setImmediate(pump);
  };
  try {
    command(line, reply);
  } catch (e) {
    out('error ' + String(e.message).replace(/\n/g, ' '));
    busy = false;
    setImmediate(pump);
  }
}

listen(0, () => {
  out(JSON.stringify({ port, setupKey: SETUP_KEY, serverKey: b64(serverKeys.publicKey) }));
  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() === '') return;
    queue.push(line);
    pump();
  });
});
