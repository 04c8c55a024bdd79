// Regenerates the vectors in ../baileys_interop.rs with Baileys' own noise handler.
// Usage (outside the repo): npm i baileys@7.0.0-rc13 --ignore-scripts, then
//   node baileys_noise.mjs <ephemeral priv hex> <ephemeral pub hex> <client static priv hex> \
//        <client static pub hex> <ServerHello hex> [server frame body hex to decrypt]
// Prints FINISH (ClientFinish bytes), UPFRAME (first transport frame, "\0ping", with the WA
// header) and, if given a server frame, its plaintext as decrypted by Baileys' transport.
import { makeNoiseHandler } from 'baileys/lib/Utils/noise-handler.js';
import { proto } from 'baileys/WAProto/index.js';
import { NOISE_WA_HEADER } from 'baileys/lib/Defaults/index.js';

const [ephPriv, ephPub, csPriv, csPub, serverHello, down] = process.argv.slice(2);
const B = (h) => Buffer.from(h, 'hex');
const logger = { child: () => logger, trace() {}, debug() {}, info() {}, warn() {}, error() {}, level: 'silent' };
const noise = makeNoiseHandler({ keyPair: { private: B(ephPriv), public: B(ephPub) }, NOISE_HEADER: NOISE_WA_HEADER, logger });
const keyEnc = noise.processHandshake(proto.HandshakeMessage.decode(B(serverHello)), { private: B(csPriv), public: B(csPub) });
const payloadEnc = noise.encrypt(Buffer.from('\x08\x01client-payload-bytes', 'latin1'));
const finish = proto.HandshakeMessage.encode({ clientFinish: { static: keyEnc, payload: payloadEnc } }).finish();
await noise.finishInit();
console.log('FINISH=' + Buffer.from(finish).toString('hex'));
console.log('UPFRAME=' + Buffer.from(noise.encodeFrame(Buffer.from('\0ping', 'latin1'))).toString('hex'));
if (down) {
  console.log('DOWN_DECRYPTED=' + JSON.stringify(Buffer.from(noise.decrypt(B(down))).toString('latin1')));
}
