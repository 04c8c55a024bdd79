//! Prints the bench node set as JSON (`cargo run -p wa-binary --example dump_bench_nodes`):
//! `[{"name", "node": {tag, attrs, content}, "hex"}]`. `attrs` is an array of `[key, value]`
//! pairs in wire order (feed it to `Object.fromEntries` for Baileys), JIDs as text; byte
//! content is `{"hex": "..."}`, so another encoder can be fed the same nodes.

use serde_json::{Value, json};
use wa_binary::{Content, Node, encode, samples::sample_nodes};

fn to_json(node: &Node) -> Value {
    let attrs: Vec<Value> = node
        .attrs
        .iter()
        .map(|(k, v)| json!([k, v.to_string()]))
        .collect();
    let content = match &node.content {
        Content::None => Value::Null,
        Content::Nodes(children) => Value::Array(children.iter().map(to_json).collect()),
        Content::Bytes(b) => json!({ "hex": hex::encode(b) }),
        Content::Str(s) => Value::String(s.clone()),
    };
    json!({ "tag": node.tag, "attrs": attrs, "content": content })
}

fn main() -> Result<(), serde_json::Error> {
    let out: Vec<Value> = sample_nodes()
        .iter()
        .map(|(name, node)| json!({ "name": name, "node": to_json(node), "hex": hex::encode(encode(node)) }))
        .collect();
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
