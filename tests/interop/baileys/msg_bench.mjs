// Messaging benchmark driver: UNMODIFIED Baileys (@whiskeysockets/baileys, pinned in package.json)
// doing what a Node "Baileys service" does, driven by wa-sidecar/examples/bench_messaging.
// This is our own script that *uses* Baileys; it contains no Baileys code.
//
// Usage: node msg_bench.mjs <ws-url> <auth-dir> <webhook-url> <secret>
//
// Stdout, one line per event (read by the Rust bench):
//   qr-data: <qr>              pairing QR, as Baileys builds it
//   open <own jid>             connection open (again after every reconnect)
//   close <status code>
//   batch {"n","ok","failed","ms","error"}   after a `batch` command finished
//   fwd-error <text>           a received message could not be handed to the webhook
//   stopped                    stdin closed; auth state written; the process exits
//
// Stdin commands:
//   batch <jid> <n> <k> <tag>  send n texts `<tag>-<i>` to <jid> with k workers; each worker sends
//                              one message, waits for the server's <ack class="message"> of it,
//                              then sends the next (closed loop, at most k in flight). `ms` runs
//                              from the first sendMessage call to the server ack of the last one.
//
// Every text message received from someone else is POSTed to <webhook-url> with X-BAILEYS-SECRET
// and the sidecar contract body (remoteJid, messageId, timestamp, type, text, pushName,
// remoteJidAlt), one at a time in arrival order, retried until the gateway answers 2xx.
import { mkdirSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { performance } from 'node:perf_hooks'
import makeWASocket, { DisconnectReason, useMultiFileAuthState } from '@whiskeysockets/baileys'
import pino from 'pino'

const [wsUrl, authDir, webhookUrl, secret] = process.argv.slice(2)
if (!wsUrl || !authDir || !webhookUrl || !secret) {
	console.error('usage: node msg_bench.mjs <ws-url> <auth-dir> <webhook-url> <secret>')
	process.exit(2)
}
mkdirSync(authDir, { recursive: true })

const logger = pino({ level: process.env.BAILEYS_LOG_LEVEL || 'silent' }, pino.destination(2))
const say = line => process.stdout.write(line + '\n')
const ACK_WAIT_MS = 60_000

let stopping = false
let saving = Promise.resolve()
let current = null

// Server acks of our messages, matched by message id (the ack can come before sendMessage resolves).
const acksSeen = new Map()
const ackWaiters = new Map()
const onAck = node => {
	const { id, error } = node.attrs
	const waiter = ackWaiters.get(id)
	if (waiter) {
		ackWaiters.delete(id)
		waiter(error)
	} else {
		acksSeen.set(id, error)
	}
}
const acked = id =>
	new Promise((resolve, reject) => {
		const settle = error => (error ? reject(new Error(`server nack ${error}`)) : resolve())
		if (acksSeen.has(id)) {
			const error = acksSeen.get(id)
			acksSeen.delete(id)
			settle(error)
			return
		}
		const timer = setTimeout(() => {
			ackWaiters.delete(id)
			reject(new Error('no server ack in time'))
		}, ACK_WAIT_MS)
		ackWaiters.set(id, error => {
			clearTimeout(timer)
			settle(error)
		})
	})

const batch = async (jid, n, k, tag) => {
	let next = 0
	let ok = 0
	let failed = 0
	let error = null
	const worker = async () => {
		while (next < n) {
			const i = next++
			try {
				const msg = await current.sendMessage(jid, { text: `${tag}-${i}` })
				await acked(msg.key.id)
				ok++
			} catch (err) {
				failed++
				error = String(err?.message ?? err)
			}
		}
	}
	const started = performance.now()
	await Promise.all(Array.from({ length: k }, worker))
	const ms = performance.now() - started
	say(`batch ${JSON.stringify({ n, ok, failed, ms, error })}`)
}

// Webhook forwarding, in arrival order (one chain), as the Node service does it.
let forwarding = Promise.resolve()
const forward = async body => {
	for (let attempt = 0; ; attempt++) {
		try {
			const res = await fetch(webhookUrl, {
				method: 'POST',
				headers: { 'content-type': 'application/json', 'x-baileys-secret': secret },
				body: JSON.stringify(body)
			})
			await res.arrayBuffer()
			if (res.ok) return
			say(`fwd-error status ${res.status}`)
		} catch (err) {
			say(`fwd-error ${JSON.stringify(String(err?.message ?? err))}`)
		}
		if (stopping) return
		await new Promise(r => setTimeout(r, Math.min(1000 * 2 ** attempt, 30_000)))
	}
}

const input = createInterface({ input: process.stdin })
input.on('line', line => {
	const [cmd, jid, n, k, tag] = line.trim().split(' ')
	if (cmd === 'batch' && current && jid && tag) {
		batch(jid, Number(n), Number(k), tag).catch(err =>
			say(`batch ${JSON.stringify({ n: Number(n), ok: 0, failed: Number(n), ms: 0, error: String(err) })}`)
		)
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
		// The emulator sends no history sync (see harness.mjs).
		shouldSyncHistoryMessage: () => false,
		fireInitQueries: true
	})
	current = sock
	sock.ws.on('CB:ack,class:message', onAck)
	sock.ev.on('creds.update', () => {
		saving = saving.then(saveCreds).catch(err => console.error('saving creds failed', err))
	})
	sock.ev.on('messages.upsert', ({ messages }) => {
		for (const msg of messages) {
			const text = msg.message?.conversation ?? msg.message?.extendedTextMessage?.text
			if (text === undefined || msg.key.fromMe) continue
			const body = {
				remoteJid: msg.key.remoteJid,
				messageId: msg.key.id,
				timestamp: Number(msg.messageTimestamp ?? Math.floor(Date.now() / 1000)),
				type: 'text',
				text
			}
			if (msg.pushName) body.pushName = msg.pushName
			if (msg.key.remoteJidAlt) body.remoteJidAlt = msg.key.remoteJidAlt
			forwarding = forwarding.then(() => forward(body))
		}
	})
	sock.ev.on('connection.update', update => {
		const { connection, lastDisconnect, qr } = update
		if (qr) say(`qr-data: ${qr}`)
		if (connection === 'open') say(`open ${sock.user?.id ?? ''}`)
		if (connection === 'close') {
			const code = lastDisconnect?.error?.output?.statusCode ?? 0
			say(`close ${code}`)
			if (code === DisconnectReason.loggedOut) process.exit(3)
			if (!stopping) {
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
