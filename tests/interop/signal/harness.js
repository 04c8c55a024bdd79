'use strict';
// Line-based JSON harness around npm libsignal@6.0.0 (the Signal implementation Baileys uses),
// driven by wa-sidecar/signal/tests/libsignal_interop.rs.
//
// One JSON object per line on stdin, one JSON reply per line on stdout. Binary values are hex.
//   {"op":"bundle"}                                   -> {ok, bundle:{registrationId, identityKey,
//                                                         signedPreKey:{keyId,publicKey,signature},
//                                                         preKey:{keyId,publicKey}}}
//   {"op":"process_bundle","addr":A,"bundle":{...}}   -> {ok}           (session to A, initiator)
//   {"op":"encrypt","addr":A,"plaintext":H}           -> {ok, type:"pkmsg"|"msg", body:H}
//   {"op":"decrypt","addr":A,"type":T,"body":H}       -> {ok, plaintext:H}
//   {"op":"verify","publicKey":H,"message":H,"signature":H} -> {ok, valid:bool}
// Group (sender keys) through Baileys' own code (`lib/Signal/Group`), stored the way Baileys
// stores them (JSON with Buffer revival). G = group id, S = sender name:
//   {"op":"group_create","group":G,"sender":S}             -> {ok, skdm:H}  (our own sender key)
//   {"op":"group_process","group":G,"sender":S,"skdm":H}   -> {ok}
//   {"op":"group_encrypt","group":G,"sender":S,"plaintext":H} -> {ok, body:H}
//   {"op":"group_decrypt","group":G,"sender":S,"body":H}   -> {ok, plaintext:H}
// Failures answer {ok:false, error:"..."}; the harness keeps running.

const readline = require('readline');
const libsignal = require('libsignal');

const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => Buffer.from(s, 'hex');

// Keys generated like Baileys' `initAuthCreds` / `generateOrGetPreKeys`.
const identity = libsignal.curve.generateKeyPair();
const registrationId = libsignal.keyhelper.generateRegistrationId();
const signedPreKey = libsignal.keyhelper.generateSignedPreKey(identity, 1);
const preKeys = new Map();
let nextPreKeyId = 1;
function newPreKey() {
    const pk = libsignal.keyhelper.generatePreKey(nextPreKeyId++);
    preKeys.set(pk.keyId, pk.keyPair);
    return pk;
}

// Sessions are stored serialized, as Baileys' auth state does.
const sessions = new Map();
const storage = {
    getOurIdentity: async () => identity,
    getOurRegistrationId: async () => registrationId,
    isTrustedIdentity: async () => true,
    loadPreKey: async (id) => preKeys.get(Number(id)),
    removePreKey: async (id) => { preKeys.delete(Number(id)); },
    loadSignedPreKey: async (id) => (Number(id) === signedPreKey.keyId ? signedPreKey.keyPair : undefined),
    loadSession: async (addr) => {
        const data = sessions.get(addr);
        return data ? libsignal.SessionRecord.deserialize(JSON.parse(data)) : undefined;
    },
    storeSession: async (addr, record) => { sessions.set(addr, JSON.stringify(record.serialize())); },
};

const address = (name) => new libsignal.ProtocolAddress(name, 0);

// Baileys is an ES module; loaded once before the first request is handled.
const groupReady = import('@whiskeysockets/baileys/lib/Signal/Group/index.js');
const senderKeys = new Map();
const senderKeyStore = {
    loadSenderKey: async (name) => {
        const { SenderKeyRecord } = await groupReady;
        const data = senderKeys.get(name.toString());
        return data ? SenderKeyRecord.deserialize(data) : new SenderKeyRecord();
    },
    storeSenderKey: async (name, record) => {
        senderKeys.set(name.toString(), Buffer.from(JSON.stringify(record.serialize()), 'utf-8'));
    },
};

async function groupOp(req) {
    const g = await groupReady;
    const name = new g.SenderKeyName(req.group, address(req.sender));
    switch (req.op) {
    case 'group_create': {
        const skdm = await new g.GroupSessionBuilder(senderKeyStore).create(name);
        return { skdm: hex(skdm.serialize()) };
    }
    case 'group_process': {
        const skdm = new g.SenderKeyDistributionMessage(null, null, null, null, unhex(req.skdm));
        await new g.GroupSessionBuilder(senderKeyStore).process(name, skdm);
        return {};
    }
    case 'group_encrypt':
        return { body: hex(await new g.GroupCipher(senderKeyStore, name).encrypt(unhex(req.plaintext))) };
    case 'group_decrypt':
        return { plaintext: hex(await new g.GroupCipher(senderKeyStore, name).decrypt(unhex(req.body))) };
    default:
        throw new Error(`unknown op ${req.op}`);
    }
}

async function handle(req) {
    switch (req.op) {
    case 'bundle': {
        const pk = newPreKey();
        return {
            bundle: {
                registrationId,
                identityKey: hex(identity.pubKey),
                signedPreKey: {
                    keyId: signedPreKey.keyId,
                    publicKey: hex(signedPreKey.keyPair.pubKey),
                    signature: hex(signedPreKey.signature),
                },
                preKey: { keyId: pk.keyId, publicKey: hex(pk.keyPair.pubKey) },
            },
        };
    }
    case 'process_bundle': {
        const b = req.bundle;
        const device = {
            registrationId: b.registrationId,
            identityKey: unhex(b.identityKey),
            signedPreKey: {
                keyId: b.signedPreKey.keyId,
                publicKey: unhex(b.signedPreKey.publicKey),
                signature: unhex(b.signedPreKey.signature),
            },
        };
        if (b.preKey) {
            device.preKey = { keyId: b.preKey.keyId, publicKey: unhex(b.preKey.publicKey) };
        }
        await new libsignal.SessionBuilder(storage, address(req.addr)).initOutgoing(device);
        return {};
    }
    case 'encrypt': {
        const cipher = new libsignal.SessionCipher(storage, address(req.addr));
        const out = await cipher.encrypt(unhex(req.plaintext));
        return { type: out.type === 3 ? 'pkmsg' : 'msg', body: hex(out.body) };
    }
    case 'decrypt': {
        const cipher = new libsignal.SessionCipher(storage, address(req.addr));
        const body = unhex(req.body);
        const plaintext = req.type === 'pkmsg'
            ? await cipher.decryptPreKeyWhisperMessage(body)
            : await cipher.decryptWhisperMessage(body);
        return { plaintext: hex(plaintext) };
    }
    case 'verify': {
        const valid = libsignal.curve.verifySignature(
            unhex(req.publicKey), unhex(req.message), unhex(req.signature), false);
        return { valid: Boolean(valid) };
    }
    default:
        if (String(req.op).startsWith('group_')) {
            return groupOp(req);
        }
        throw new Error(`unknown op ${req.op}`);
    }
}

// libsignal logs to the console; keep stdout for replies only.
console.log = console.info = console.warn = console.error;

const rl = readline.createInterface({ input: process.stdin, terminal: false });
let queue = Promise.resolve();
rl.on('line', (line) => {
    queue = queue.then(async () => {
        let reply;
        try {
            reply = Object.assign({ ok: true }, await handle(JSON.parse(line)));
        } catch (e) {
            reply = { ok: false, error: String(e && e.message ? e.message : e) };
        }
        process.stdout.write(JSON.stringify(reply) + '\n');
    });
});
