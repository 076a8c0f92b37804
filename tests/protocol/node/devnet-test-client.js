#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0-or-later
//
// Independent NetBird client for tests/protocol/test-devnet.c: grpc-js with
// the service definitions that @grpc/proto-loader makes from OUR
// service/netbird/proto/*.proto, protobufjs (proto-loader's own dependency)
// for the sealed inner messages and tweetnacl for NaCl box. It shares no
// code with the C implementation under test.
//
//   node devnet-test-client.js TARGET [CA_PEM]
//
// TARGET is http://HOST:PORT (h2c) or https://HOST:PORT (TLS, trusting
// CA_PEM). Reads one JSON command per line on stdin and prints one flat JSON
// object per line on stdout: the answer to a command carries its "id";
// stream events carry "event". Exits when stdin closes.
//
// Commands ({"id":N,"op":...}):
//   peer {name}                       new key pair → {key}
//   serverKey                         GetServerKey → {key, expiresAt}
//   login {peer, setupKey?, hostname?, version?, noMeta?, dnsLabel?,
//          turnSecret?, relaySecret?} → LoginResponse, flattened
//   garbageLogin {peer}               Login with a body that is not sealed
//   syncStart {peer, version?}        Sync; events "sync" and "syncEnd"
//   syncStop {peer}                   cancel the Sync stream
//   syncMeta {peer, hostname?, version?}
//   logout {peer}
//   isHealthy
//   signalConnect {peer, as?, noMetadata?, tag?}
//                                     ConnectStream as peer (or key `as`);
//                                     events signalHeaders / signalMessage /
//                                     signalEnd tagged with `tag` (default
//                                     the peer name)
//   signalSend {peer, to, body, via: "stream"|"unary", tag?}
//                                     an EncryptedMessage key=peer,
//                                     remoteKey=to (peer name or key), body =
//                                     base64 bytes (opaque to the server)
//   signalSendRaw {tag, bytes}        raw bytes as one stream message
//   signalClose {tag}                 half-close the stream
//   rawUnary {path, bytes}            any path, raw request bytes
// Every answer has "ok"; failures have "code" and "details". A "sync"
// event with a map also flattens its DNSConfig (see flattenDns).
'use strict';

const path = require('path');
const fs = require('fs');
const crypto = require('crypto');
const readline = require('readline');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');
const nacl = require('tweetnacl');

const target = process.argv[2];
const caFile = process.argv[3];
const protoDir = path.join(__dirname, '..', '..', '..', 'service', 'netbird', 'proto');

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function log(...args) {
  process.stderr.write(`[devnet-client ${process.pid}] ${args.join(' ')}\n`);
}

// ---------------------------------------------------------------------------
// Schemas

const loaderOptions = { keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true };
const mgmtDef = protoLoader.loadSync(path.join(protoDir, 'management.proto'), loaderOptions);
const signalDef = protoLoader.loadSync(path.join(protoDir, 'signalexchange.proto'), loaderOptions);
const mgmtPkg = grpc.loadPackageDefinition(mgmtDef).management;
const signalPkg = grpc.loadPackageDefinition(signalDef).signalexchange;

const root = new protobuf.Root();
root.loadSync([path.join(protoDir, 'management.proto'), path.join(protoDir, 'signalexchange.proto')],
  { keepCase: true });
const T = (name) => root.lookupType(name);
const LoginRequest = T('management.LoginRequest');
const LoginResponse = T('management.LoginResponse');
const SyncRequest = T('management.SyncRequest');
const SyncResponse = T('management.SyncResponse');
const SyncMetaRequest = T('management.SyncMetaRequest');
const Empty = T('management.Empty');
const MgmtEncrypted = T('management.EncryptedMessage');
const SignalEncrypted = T('signalexchange.EncryptedMessage');

// ---------------------------------------------------------------------------
// Channel

const url = new URL(target);
const address = url.host;
const credentials = url.protocol === 'https:'
  ? grpc.credentials.createSsl(fs.readFileSync(caFile))
  : grpc.credentials.createInsecure();
const channelOptions = { 'grpc.enable_retries': 0 };
// Our certificates name localhost too; TLS SNI must not be an IP address.
if (url.protocol === 'https:') channelOptions['grpc.ssl_target_name_override'] = 'localhost';
const mgmt = new mgmtPkg.ManagementService(address, credentials, channelOptions);
const signal = new signalPkg.SignalExchange(address, credentials, channelOptions);
const raw = new grpc.Client(address, credentials, channelOptions);

function deadline() {
  return new Date(Date.now() + 10000);
}

// ---------------------------------------------------------------------------
// Keys and sealing (NetBird: nonce(24) || box)

const peers = new Map(); // name → {pub, sec, key}
let serverKey = null;    // Uint8Array

function b64(u8) {
  return Buffer.from(u8).toString('base64');
}

function peerByName(name) {
  const p = peers.get(name);
  if (!p) throw new Error(`unknown peer ${name}`);
  return p;
}

function keyOf(nameOrKey) {
  return peers.has(nameOrKey) ? peers.get(nameOrKey).key : nameOrKey;
}

function seal(plain, peer) {
  const nonce = nacl.randomBytes(24);
  const box = nacl.box(plain, nonce, serverKey, peer.sec);
  return Buffer.concat([Buffer.from(nonce), Buffer.from(box)]);
}

function open(sealed, peer, senderKeyB64) {
  const sender = new Uint8Array(Buffer.from(senderKeyB64, 'base64'));
  const buf = new Uint8Array(sealed);
  const plain = nacl.box.open(buf.subarray(24), buf.subarray(0, 24), sender, peer.sec);
  if (!plain) throw new Error('sealed body does not open');
  return plain;
}

async function ensureServerKey() {
  if (serverKey) return;
  const resp = await new Promise((resolve, reject) =>
    mgmt.GetServerKey({}, { deadline: deadline() }, (err, r) => (err ? reject(err) : resolve(r))));
  serverKey = new Uint8Array(Buffer.from(resp.key, 'base64'));
}

function meta(cmd) {
  return {
    hostname: cmd.hostname || cmd.peer,
    goOS: 'linux',
    kernel: 'Linux',
    platform: 'x86_64',
    OS: 'Debian GNU/Linux',
    OSVersion: '12',
    kernelVersion: '6.1.0',
    netbirdVersion: cmd.version || '0.60.0',
  };
}

function sealedRequest(peer, type, fields) {
  const plain = type.encode(type.create(fields)).finish();
  return { wgPubKey: peer.key, body: seal(plain, peer), version: 0 };
}

// ---------------------------------------------------------------------------
// Flattening responses for the C side

function hmacB64(algo, key, text) {
  return crypto.createHmac(algo, key).update(text).digest('base64');
}

function flattenConfig(cfg, cmd, o) {
  if (!cfg) {
    o.hasConfig = false;
    return;
  }
  o.hasConfig = true;
  o.stuns = (cfg.stuns || []).map((h) => h.uri).join(',');
  o.turns = (cfg.turns || []).map((t) => t.hostConfig.uri).join(',');
  o.hasTurns = (cfg.turns || []).length > 0;
  if (o.hasTurns) {
    const t = cfg.turns[0];
    o.turnUser = t.user;
    o.turnPassword = t.password;
    if (cmd.turnSecret) o.turnPasswordValid = hmacB64('sha1', cmd.turnSecret, t.user) === t.password;
  }
  if (cfg.signal) {
    o.signalUri = cfg.signal.uri;
    o.signalProtocol = cfg.signal.protocol;
  }
  o.hasRelay = !!cfg.relay;
  if (cfg.relay) {
    o.relayUrls = (cfg.relay.urls || []).join(',');
    o.relayPayload = cfg.relay.tokenPayload;
    o.relaySignature = cfg.relay.tokenSignature;
    if (cmd.relaySecret) {
      const key = crypto.createHash('sha256').update(cmd.relaySecret).digest();
      o.relayTokenValid = hmacB64('sha256', key, cfg.relay.tokenPayload) === cfg.relay.tokenSignature;
    }
  }
}

function flattenPeerConfig(pc, o) {
  if (!pc) return;
  o.address = pc.address;
  o.fqdn = pc.fqdn;
  o.mtu = pc.mtu;
}

function flattenRemote(list, prefix, o) {
  o[prefix + 'Keys'] = list.map((p) => p.wgPubKey).join(',');
  o[prefix + 'Ips'] = list.map((p) => p.allowedIps.join('+')).join(',');
  o[prefix + 'Fqdns'] = list.map((p) => p.fqdn).join(',');
  o[prefix + 'Versions'] = list.map((p) => p.agentVersion).join(',');
  o['n' + prefix[0].toUpperCase() + prefix.slice(1)] = list.length;
}

// DNSConfig: hasDns, dnsServiceEnable, nNameServerGroups, nZones, zones =
// "Domain|SearchDomainDisabled|NonAuthoritative|nRecords" and zoneRecords =
// "Domain>Name|Type|Class|TTL|RData" over every zone, comma-separated.
function flattenDns(dns, o) {
  o.hasDns = !!dns;
  if (!dns) return;
  const zones = dns.CustomZones || [];
  o.dnsServiceEnable = dns.ServiceEnable;
  o.nNameServerGroups = (dns.NameServerGroups || []).length;
  o.nZones = zones.length;
  o.zones = zones.map((z) =>
    [z.Domain, z.SearchDomainDisabled, z.NonAuthoritative, (z.Records || []).length].join('|')).join(',');
  o.zoneRecords = zones.flatMap((z) => (z.Records || []).map((r) =>
    z.Domain + '>' + [r.Name, r.Type, r.Class, r.TTL, r.RData].join('|'))).join(',');
}

function grpcError(err, o) {
  o.ok = false;
  o.code = err.code;
  o.details = err.details;
  return o;
}

// ---------------------------------------------------------------------------
// Commands

const syncStreams = new Map();   // peer name → call
const signalStreams = new Map(); // tag → {call, peer}

function unary(client, method, request) {
  return new Promise((resolve) => {
    client[method](request, { deadline: deadline() }, (err, resp) => resolve({ err, resp }));
  });
}

const handlers = {
  peer(cmd) {
    const kp = nacl.box.keyPair();
    const p = { pub: kp.publicKey, sec: kp.secretKey, key: b64(kp.publicKey) };
    peers.set(cmd.name, p);
    return { key: p.key };
  },

  async serverKey() {
    const { err, resp } = await unary(mgmt, 'GetServerKey', {});
    if (err) return grpcError(err, {});
    serverKey = new Uint8Array(Buffer.from(resp.key, 'base64'));
    return { key: resp.key, expiresAt: resp.expiresAt ? Number(resp.expiresAt.seconds) : 0 };
  },

  async isHealthy() {
    const { err } = await unary(mgmt, 'isHealthy', {});
    return err ? grpcError(err, {}) : {};
  },

  async login(cmd) {
    await ensureServerKey();
    const peer = peerByName(cmd.peer);
    const fields = { setupKey: cmd.setupKey || '', peerKeys: { wgPubKey: Buffer.from(peer.key) } };
    if (!cmd.noMeta) fields.meta = meta(cmd);
    if (cmd.dnsLabel) fields.dnsLabels = [cmd.dnsLabel];
    const { err, resp } = await unary(mgmt, 'Login', sealedRequest(peer, LoginRequest, fields));
    if (err) return grpcError(err, {});
    const o = { serverKeyMatches: resp.wgPubKey === b64(serverKey) };
    const lr = LoginResponse.toObject(LoginResponse.decode(open(resp.body, peer, resp.wgPubKey)),
      { longs: String, defaults: true });
    flattenConfig(lr.netbirdConfig, cmd, o);
    flattenPeerConfig(lr.peerConfig, o);
    o.sessionExpiresAt = lr.sessionExpiresAt ? Number(lr.sessionExpiresAt.seconds) : -1;
    return o;
  },

  async garbageLogin(cmd) {
    await ensureServerKey();
    const peer = peerByName(cmd.peer);
    const { err } = await unary(mgmt, 'Login',
      { wgPubKey: peer.key, body: Buffer.from(nacl.randomBytes(64)), version: 0 });
    return err ? grpcError(err, {}) : { ok: true, unexpected: 'answered' };
  },

  async syncStart(cmd) {
    await ensureServerKey();
    const peer = peerByName(cmd.peer);
    const req = sealedRequest(peer, SyncRequest, { meta: meta(cmd) });
    const call = mgmt.Sync(req);
    let n = 0;
    syncStreams.set(cmd.peer, call);
    call.on('data', (em) => {
      const o = { event: 'sync', peer: cmd.peer, n: n++ };
      try {
        const sr = SyncResponse.toObject(SyncResponse.decode(open(em.body, peer, em.wgPubKey)),
          { longs: String, defaults: true });
        flattenConfig(sr.netbirdConfig, cmd, o);
        o.hasMap = !!sr.NetworkMap;
        if (sr.NetworkMap) {
          o.serial = Number(sr.NetworkMap.Serial);
          o.remoteIsEmpty = sr.NetworkMap.remotePeersIsEmpty;
          flattenRemote(sr.NetworkMap.remotePeers || [], 'remote', o);
          flattenPeerConfig(sr.NetworkMap.peerConfig, o);
          // Routes: "Network|Peer|Metric|Masquerade|NetID|NetworkType|skipAutoApply",
          // comma-separated.
          o.routes = (sr.NetworkMap.Routes || []).map((r) =>
            [r.Network, r.Peer, r.Metric, r.Masquerade, r.NetID, r.NetworkType, r.skipAutoApply].join('|')).join(',');
          flattenDns(sr.NetworkMap.DNSConfig, o);
        }
        o.nDeprecated = (sr.remotePeers || []).length;
        o.topRemoteIsEmpty = sr.remotePeersIsEmpty;
      } catch (e) {
        o.error = String(e.message);
      }
      out(o);
    });
    call.on('status', (st) => {
      if (syncStreams.get(cmd.peer) === call) syncStreams.delete(cmd.peer);
      out({ event: 'syncEnd', peer: cmd.peer, code: st.code, details: st.details });
    });
    call.on('error', () => {});
    return {};
  },

  syncStop(cmd) {
    const call = syncStreams.get(cmd.peer);
    if (call) call.cancel();
    return {};
  },

  async syncMeta(cmd) {
    await ensureServerKey();
    const peer = peerByName(cmd.peer);
    const { err } = await unary(mgmt, 'SyncMeta', sealedRequest(peer, SyncMetaRequest, { meta: meta(cmd) }));
    return err ? grpcError(err, {}) : {};
  },

  async logout(cmd) {
    await ensureServerKey();
    const peer = peerByName(cmd.peer);
    const { err } = await unary(mgmt, 'Logout', sealedRequest(peer, Empty, {}));
    return err ? grpcError(err, {}) : {};
  },

  signalConnect(cmd) {
    const tag = cmd.tag || cmd.peer;
    const md = new grpc.Metadata();
    const key = cmd.as || (cmd.peer ? peerByName(cmd.peer).key : '');
    if (!cmd.noMetadata) md.set('x-wiretrustee-peer-id', key);
    // Raw bytes both ways: the test also writes non-protobuf messages.
    const call = raw.makeBidiStreamRequest('/signalexchange.SignalExchange/ConnectStream',
      (b) => b, (b) => b, md, {});
    signalStreams.set(tag, { call, key });
    call.on('metadata', (m) => {
      const v = m.get('x-wiretrustee-peer-registered');
      out({ event: 'signalHeaders', tag, registered: v.length ? String(v[0]) : '' });
    });
    call.on('data', (buf) => {
      const em = SignalEncrypted.toObject(SignalEncrypted.decode(buf), { defaults: true });
      out({ event: 'signalMessage', tag, from: em.key, to: em.remoteKey, body: b64(em.body), size: buf.length });
    });
    call.on('status', (st) => {
      out({ event: 'signalEnd', tag, code: st.code, details: st.details });
    });
    call.on('error', () => {});
    return {};
  },

  async signalSend(cmd) {
    const from = peerByName(cmd.peer);
    const msg = { key: from.key, remoteKey: keyOf(cmd.to), body: Buffer.from(cmd.body, 'base64') };
    if (cmd.via === 'unary') {
      const { err, resp } = await unary(signal, 'Send', msg);
      if (err) return grpcError(err, {});
      return { emptyAnswer: !resp.key && !resp.remoteKey && resp.body.length === 0 };
    }
    const s = signalStreams.get(cmd.tag || cmd.peer);
    s.call.write(Buffer.from(SignalEncrypted.encode(SignalEncrypted.create(msg)).finish()));
    return {};
  },

  signalSendRaw(cmd) {
    signalStreams.get(cmd.tag).call.write(Buffer.from(cmd.bytes, 'base64'));
    return {};
  },

  signalClose(cmd) {
    signalStreams.get(cmd.tag).call.end();
    return {};
  },

  async rawUnary(cmd) {
    const { err } = await new Promise((resolve) => {
      raw.makeUnaryRequest(cmd.path, (b) => b, (b) => b, Buffer.from(cmd.bytes || '', 'base64'),
        new grpc.Metadata(), { deadline: deadline() }, (e, r) => resolve({ err: e, resp: r }));
    });
    return err ? grpcError(err, {}) : {};
  },
};

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    out({ ok: false, error: `bad command: ${e.message}` });
    return;
  }
  try {
    const result = await handlers[cmd.op](cmd);
    out(Object.assign({ id: cmd.id, ok: true }, result));
  } catch (e) {
    log(`${cmd.op}: ${e.stack}`);
    out({ id: cmd.id, ok: false, error: String(e.message) });
  }
});
rl.on('close', () => process.exit(0));
out({ event: 'started', target });
