// Measures UNMODIFIED Baileys' binary node encoder/decoder on the node set that
// `cargo run -p wa-binary --example codec_vs_baileys` hands over (JSON file path as argv[2]),
// and checks Baileys produces the same bytes as our encoder. Prints one JSON line per node.
import { readFileSync } from 'node:fs'
import * as B from '@whiskeysockets/baileys'
// The token tables Baileys' own decodeBinaryNode passes to the synchronous decoder.
import * as constants from '@whiskeysockets/baileys/lib/WABinary/constants.js'

function toBaileys(n) {
  let content
  if (n.content === null) content = undefined
  else if (Array.isArray(n.content)) content = n.content.map(toBaileys)
  else if (typeof n.content === 'string') content = n.content
  else content = Buffer.from(n.content.hex, 'hex')
  return { tag: n.tag, attrs: Object.fromEntries(n.attrs), content }
}

function timeIt(fn, minMs) {
  // warm up, then run in batches until minMs elapsed
  for (let i = 0; i < 2000; i++) fn()
  let iters = 0
  const start = process.hrtime.bigint()
  let elapsed = 0n
  while (elapsed < BigInt(minMs) * 1_000_000n) {
    for (let i = 0; i < 1000; i++) fn()
    iters += 1000
    elapsed = process.hrtime.bigint() - start
  }
  return iters / (Number(elapsed) / 1e9)
}

const nodes = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const minMs = Number(process.argv[3] ?? 1000)
for (const { name, node, hex } of nodes) {
  const bn = toBaileys(node)
  // encodeBinaryNode prepends the frame flags byte 0; our `hex` is the bare node.
  const framed = B.encodeBinaryNode(bn)
  const bare = Buffer.from(framed).subarray(1)
  const same = bare.toString('hex') === hex
  const ours = Buffer.from(hex, 'hex')
  const encPerSec = timeIt(() => B.encodeBinaryNode(bn), minMs)
  // the synchronous decoder (decodeBinaryNode is async only to inflate compressed frames)
  const decPerSec = timeIt(() => B.decodeDecompressedBinaryNode(ours, constants), minMs)
  console.log(JSON.stringify({ name, same_bytes: same, encode_per_sec: encPerSec, decode_per_sec: decPerSec }))
}
