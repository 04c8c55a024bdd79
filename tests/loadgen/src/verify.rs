//! Reads every timeline back through the gateway's API and checks each acknowledged webhook is
//! stored exactly once.

use crate::gateway_proc::{API_TOKEN, Gateway};
use crate::load::Acked;
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::collections::HashMap;

/// Missing and duplicated acknowledged messages.
pub(crate) struct Stored {
    pub(crate) missing: u64,
    pub(crate) duplicated: u64,
}

fn items(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Object(o) => o
            .values()
            .find_map(|x| x.as_array().cloned())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

async fn get(gw: &Gateway, path: &str) -> Result<Value> {
    let r = gw
        .client
        .get(format!("{}{path}", gw.base))
        .bearer_auth(API_TOKEN)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("GET {path}: HTTP {}", r.status());
    }
    Ok(r.json().await?)
}

/// Counts, for every acknowledged message, how many timeline entries carry its provider id.
pub(crate) async fn count_stored(gw: &Gateway, acked: &[Acked]) -> Result<Stored> {
    // provider ids seen per contact phone
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    let mut after: Option<i64> = None;
    loop {
        let q = match after {
            Some(a) => format!("/api/contacts?limit=200&after={a}"),
            None => "/api/contacts?limit=200".to_owned(),
        };
        let contacts = items(&get(gw, &q).await?);
        if contacts.is_empty() {
            break;
        }
        for c in &contacts {
            let id = c["id"].as_i64().context("contact without id")?;
            after = Some(id);
            let phones: Vec<String> = c["identities"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|i| i["kind"] == "e164")
                .filter_map(|i| i["value"].as_str().map(str::to_owned))
                .collect();
            let mut ids = Vec::new();
            let mut before: Option<i64> = None;
            loop {
                let q = match before {
                    Some(b) => format!("/api/contacts/{id}/messages?limit=500&before={b}"),
                    None => format!("/api/contacts/{id}/messages?limit=500"),
                };
                let msgs = items(&get(gw, &q).await?);
                if msgs.is_empty() {
                    break;
                }
                for m in &msgs {
                    before = m["id"].as_i64();
                    if let Some(p) = m["provider_message_id"].as_str() {
                        ids.push(p.to_owned());
                    }
                }
            }
            for p in phones {
                seen.entry(p).or_default().extend(ids.iter().cloned());
            }
        }
    }
    let (mut missing, mut duplicated) = (0, 0);
    for a in acked {
        let n = seen
            .get(&a.contact_phone)
            .map(|ids| {
                ids.iter()
                    .filter(|p| p.ends_with(&a.provider_message_id))
                    .count()
            })
            .unwrap_or(0);
        match n {
            0 => missing += 1,
            1 => {}
            _ => duplicated += 1,
        }
    }
    Ok(Stored {
        missing,
        duplicated,
    })
}
