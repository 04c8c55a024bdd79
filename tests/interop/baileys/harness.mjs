// Test harness: drives UNMODIFIED Baileys (@whiskeysockets/baileys, pinned in package.json)
// against the wa-emulator. This is our own script that *uses* Baileys; it contains no Baileys code.
//
// Usage: node harness.mjs <ws-url> <auth-dir> [--pair-phone <digits>]
//
// With --pair-phone, an unpaired Baileys links by phone number instead of QR: on its first QR
// event it calls `sock.requestPairingCode(<digits>)` (as Baileys' README shows) and prints the
// code instead of QR data.
//
// Prints one line per event on stdout (the Rust test reads them):
//   qr-data: <qr string exactly as Baileys builds it>   (QR mode)
//   pairing-code: <code exactly as requestPairingCode returns it>   (--pair-phone mode)
//   open <own jid>
//   close <status code>        (every close, before reconnecting)
//   reconnecting
//   logged-out                 (then the process exits with code 3)
//   stopped                    (stdin closed; auth state written; the process exits)
//   sent <id>                  (after a `send <jid> <text>` line on stdin)
//   message {"id","from","alt","text"}   (a text message received from someone else)
//
// Reconnects after every close except a logout, as Baileys applications do (515 after pairing is
// the normal "restart required" step). Stops cleanly when stdin closes (so a dead parent never
// leaves it running).
import { mkdirSync } from 'node:fs'
import { createInterface } from 'node:readline'
import makeWASocket, { DisconnectReason, useMultiFileAuthState } from '@whiskeysockets/baileys'
import pino from 'pino'

const [wsUrl, authDir, ...options] = process.argv.slice(2)
const pairPhone = options[0] === '--pair-phone' ? options[1] : undefined
if (!wsUrl || !authDir || (options.length && !pairPhone)) {
	console.error('usage: node harness.mjs <ws-url> <auth-dir> [--pair-phone <digits>]')
	process.exit(2)
}
// A code is requested once per process (Baileys' own QR rotation keeps firing `qr`).
let codeRequested = false
mkdirSync(authDir, { recursive: true })

const logger = pino({ level: process.env.BAILEYS_LOG_LEVEL || 'silent' }, pino.destination(2))
const say = line => process.stdout.write(line + '\n')

let stopping = false
// Credential writes in flight, chained so that they land in order and can be awaited.
let saving = Promise.resolve()
let current = null
// Stdin closing is the graceful stop: finish writing the auth state, then exit. (A kill in the
// middle of a write would leave a truncated creds.json and the next run would pair again.)
const input = createInterface({ input: process.stdin })
input.on('line', line => {
	// `send <jid> <text...>`: send a text message from the open socket.
	const [cmd, jid, ...words] = line.trim().split(' ')
	if (cmd === 'send' && current && jid) {
		current
			.sendMessage(jid, { text: words.join(' ') })
			.then(msg => say(`sent ${msg?.key?.id ?? ''}`))
			.catch(err => say(`send-failed ${JSON.stringify(String(err?.message ?? err))}`))
	}
})
input.on('close', async () => {
	stopping = true
	current?.end(undefined)
	await saving
	say('stopped')
	process.exit(0)
})

const start = async () => {
	const { state, saveCreds } = await useMultiFileAuthState(authDir)
	const sock = makeWASocket({
		auth: state,
		waWebSocketUrl: wsUrl,
		logger,
		markOnlineOnConnect: false,
		// The emulator sends no history sync; without this a fresh account buffers every event
		// for 20 s waiting for one (Baileys `src/Socket/chats.ts`, AwaitingInitialSync).
		shouldSyncHistoryMessage: () => false,
		fireInitQueries: true
	})
	current = sock
	sock.ev.on('creds.update', () => {
		saving = saving.then(saveCreds).catch(err => console.error('saving creds failed', err))
	})
	sock.ev.on('messages.upsert', ({ messages }) => {
		for (const msg of messages) {
			const text = msg.message?.conversation ?? msg.message?.extendedTextMessage?.text
			if (text === undefined || msg.key.fromMe) continue
			const { remoteJid, remoteJidAlt, id } = msg.key
			say(`message ${JSON.stringify({ id, from: remoteJid, alt: remoteJidAlt ?? null, text })}`)
		}
	})
	sock.ev.on('connection.update', update => {
		const { connection, lastDisconnect, qr } = update
		if (qr && pairPhone) {
			if (!codeRequested) {
				codeRequested = true
				sock
					.requestPairingCode(pairPhone)
					.then(code => say(`pairing-code: ${code}`))
					.catch(err => say(`pairing-code-failed ${JSON.stringify(String(err?.message ?? err))}`))
			}
		} else if (qr) {
			say(`qr-data: ${qr}`)
		}
		if (connection === 'open') {
			say(`open ${sock.user?.id ?? ''}`)
		}
		if (connection === 'close') {
			const code = lastDisconnect?.error?.output?.statusCode ?? 0
			say(`close ${code}`)
			if (code === DisconnectReason.loggedOut) {
				say('logged-out')
				process.exit(3)
			}
			if (!stopping) {
				say('reconnecting')
				// A fresh socket with the same auth state, after the current one finished closing.
				setTimeout(() => {
					start().catch(err => {
						console.error('restart failed', err)
						process.exit(1)
					})
				}, 250)
			}
		}
	})
}

start().catch(err => {
	console.error('start failed', err)
	process.exit(1)
})
