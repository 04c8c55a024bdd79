// Test-vector generator for phone-number pairing (link code). Our own script: it calls
// UNMODIFIED Baileys' exported crypto helpers (the same calls Baileys makes in
// `requestPairingCode`/`generatePairingKey` in src/Socket/socket.ts and in the
// `link_code_companion_reg` case of src/Socket/messages-recv.ts) on fixed inputs, and prints
// the results. The numbers are pasted into wa-sidecar/core/src/pair_code.rs (unit test
// `baileys_vector`), so our implementation is checked against Baileys'.
//
// Usage: node pair_code_vector.mjs
import {
	aesEncryptCTR,
	aesEncryptGCM,
	bytesToCrockford,
	Curve,
	derivePairingCodeKey,
	hkdf
} from '@whiskeysockets/baileys'
import { getPublicFromPrivateKey } from 'libsignal/src/curve.js'

const fill = (byte, n) => Buffer.alloc(n, byte)
// X25519 private keys, clamped as RFC 7748 does (so no implementation clamps differently).
const privKey = byte => {
	const k = fill(byte, 32)
	k[0] &= 248
	k[31] &= 127
	k[31] |= 64
	return k
}
// libsignal returns 33 bytes (0x05 prefix); Baileys keeps 32.
const pubKey = priv => Buffer.from(getPublicFromPrivateKey(priv)).subarray(1)

const code = bytesToCrockford(Buffer.from([0x01, 0x23, 0x45, 0x67, 0x89]))
const companionEph = { private: privKey(0x11) }
companionEph.public = pubKey(companionEph.private)
const companionIdentity = { private: privKey(0x22) }
companionIdentity.public = pubKey(companionIdentity.private)
const primaryEph = { private: privKey(0x33) }
primaryEph.public = pubKey(primaryEph.private)
const primaryIdentity = { private: privKey(0x44) }
primaryIdentity.public = pubKey(primaryIdentity.private)

// companion_hello: salt || iv || AES-256-CTR(PBKDF2(code, salt), iv, companion ephemeral pub)
const wrap = async (salt, iv, pub) =>
	Buffer.concat([salt, iv, aesEncryptCTR(pub, await derivePairingCodeKey(code, salt), iv)])
const wrappedCompanion = await wrap(fill(0x55, 32), fill(0x66, 16), companionEph.public)
// the primary's notification uses the same layout
const wrappedPrimary = await wrap(fill(0x77, 32), fill(0x88, 16), primaryEph.public)

// companion_finish, as messages-recv.ts computes it
const random = fill(0xbb, 32)
const bundleSalt = fill(0x99, 32)
const bundleIv = fill(0xaa, 12)
const companionSharedKey = Curve.sharedKey(companionEph.private, primaryEph.public)
const bundleKey = hkdf(companionSharedKey, 32, {
	salt: bundleSalt,
	info: 'link_code_pairing_key_bundle_encryption_key'
})
const payload = Buffer.concat([companionIdentity.public, primaryIdentity.public, random])
const wrappedBundle = Buffer.concat([
	bundleSalt,
	bundleIv,
	aesEncryptGCM(payload, bundleKey, bundleIv, Buffer.alloc(0))
])
const identitySharedKey = Curve.sharedKey(companionIdentity.private, primaryIdentity.public)
const advSecret = Buffer.from(
	hkdf(Buffer.concat([companionSharedKey, identitySharedKey, random]), 32, { info: 'adv_secret' })
)

const hex = b => Buffer.from(b).toString('hex')
console.log(
	JSON.stringify(
		{
			code,
			companion_ephemeral_pub: hex(companionEph.public),
			companion_identity_pub: hex(companionIdentity.public),
			primary_ephemeral_pub: hex(primaryEph.public),
			primary_identity_pub: hex(primaryIdentity.public),
			wrapped_companion_ephemeral: hex(wrappedCompanion),
			wrapped_primary_ephemeral: hex(wrappedPrimary),
			wrapped_key_bundle: hex(wrappedBundle),
			adv_secret: hex(advSecret)
		},
		null,
		1
	)
)
